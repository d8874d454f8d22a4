//! `/v1/appointments`: booking.

use axum::Json;
use axum::extract::State;
use http::{HeaderMap, StatusCode};
use marketplace::booking::{
    AppointmentPage, AppointmentView, Booked, BookingInput, CancelInput, CompleteInput,
    DashboardInput, Message, MessageInput, MessagePage, PageInput, ProblemInput, RescheduleInput,
    Review, ReviewInput, ViewInput,
};
use marketplace::services::Services;

use crate::error::ApiError;
use crate::extract::{Client, JsonBody, PathSegment, QueryParams, SignedIn};

pub async fn book(
    State(services): State<Services>,
    Client(caller): Client,
    headers: HeaderMap,
    JsonBody(input): JsonBody<BookingInput>,
) -> Result<(StatusCode, Json<Booked>), ApiError> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let booked = services.book(&caller, key, input).await?;
    Ok((StatusCode::CREATED, Json(booked)))
}

pub async fn list(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    QueryParams(input): QueryParams<DashboardInput>,
) -> Result<Json<AppointmentPage>, ApiError> {
    Ok(Json(services.bookings.dashboard(&caller, input).await?))
}

pub async fn get_one(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    PathSegment(id): PathSegment,
    QueryParams(input): QueryParams<ViewInput>,
) -> Result<Json<AppointmentView>, ApiError> {
    let zone = input.parse()?;
    Ok(Json(
        services
            .bookings
            .appointment_for(&caller, &id, zone)
            .await?,
    ))
}

pub async fn cancel(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    PathSegment(id): PathSegment,
    JsonBody(input): JsonBody<CancelInput>,
) -> Result<Json<AppointmentView>, ApiError> {
    Ok(Json(services.bookings.cancel(&caller, &id, input).await?))
}

pub async fn complete(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    PathSegment(id): PathSegment,
    JsonBody(input): JsonBody<CompleteInput>,
) -> Result<Json<AppointmentView>, ApiError> {
    Ok(Json(services.bookings.complete(&caller, &id, input).await?))
}

pub async fn reschedule(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    PathSegment(id): PathSegment,
    JsonBody(input): JsonBody<RescheduleInput>,
) -> Result<Json<AppointmentView>, ApiError> {
    Ok(Json(
        services.bookings.reschedule(&caller, &id, input).await?,
    ))
}

pub async fn post_message(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    PathSegment(id): PathSegment,
    JsonBody(input): JsonBody<MessageInput>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let message = services.bookings.post_message(&caller, &id, input).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

pub async fn messages(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    PathSegment(id): PathSegment,
    QueryParams(page): QueryParams<PageInput>,
) -> Result<Json<MessagePage>, ApiError> {
    Ok(Json(services.bookings.messages(&caller, &id, page).await?))
}

pub async fn review(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    PathSegment(id): PathSegment,
    JsonBody(input): JsonBody<ReviewInput>,
) -> Result<(StatusCode, Json<Review>), ApiError> {
    let review = services.bookings.review(&caller, &id, input).await?;
    Ok((StatusCode::CREATED, Json(review)))
}

pub async fn report_problem(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    PathSegment(id): PathSegment,
    JsonBody(input): JsonBody<ProblemInput>,
) -> Result<Json<AppointmentView>, ApiError> {
    Ok(Json(
        services
            .bookings
            .report_problem(&caller, &id, input)
            .await?,
    ))
}

pub async fn invite(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    PathSegment(id): PathSegment,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let calendar = services.bookings.invite(&caller, &id).await?;
    Ok((
        [(http::header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        calendar,
    ))
}
