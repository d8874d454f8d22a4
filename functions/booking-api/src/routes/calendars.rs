//! `/v1/experts/me/calendars`: the expert's external calendar connections; the OAuth callback
//! and the providers' push notifications (no JWT: their own checks).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use marketplace::calendar::connect::{Authorization, CallbackInput, GoogleNotice, PushReceipt};
use marketplace::calendar::connection::{CalendarConnection, ConnectInput, UpdateInput};
use marketplace::calendar::service::{CalendarService, SyncJob};
use marketplace::error::ServiceError;
use marketplace::services::Services;

use crate::error::ApiError;
use crate::extract::{Expert, JsonBody, PathSegment, QueryParams, RawBody};

#[derive(serde::Serialize)]
pub struct Connections {
    connections: Vec<CalendarConnection>,
}

fn calendars(services: &Services) -> Result<&CalendarService, ApiError> {
    services
        .calendars
        .as_ref()
        .ok_or(ApiError::Service(ServiceError::Unavailable(
            "calendar connections",
        )))
}

pub async fn connect(
    State(services): State<Services>,
    Expert(caller): Expert,
    JsonBody(input): JsonBody<ConnectInput>,
) -> Result<(StatusCode, Json<CalendarConnection>), ApiError> {
    let connection = calendars(&services)?.connect(&caller, input).await?;
    Ok((StatusCode::CREATED, Json(connection)))
}

pub async fn list(
    State(services): State<Services>,
    Expert(caller): Expert,
) -> Result<Json<Connections>, ApiError> {
    let connections = calendars(&services)?.list(&caller).await?;
    Ok(Json(Connections { connections }))
}

pub async fn update(
    State(services): State<Services>,
    Expert(caller): Expert,
    PathSegment(id): PathSegment,
    JsonBody(input): JsonBody<UpdateInput>,
) -> Result<Json<CalendarConnection>, ApiError> {
    Ok(Json(
        calendars(&services)?.update(&caller, &id, input).await?,
    ))
}

pub async fn disconnect(
    State(services): State<Services>,
    Expert(caller): Expert,
    PathSegment(id): PathSegment,
) -> Result<StatusCode, ApiError> {
    calendars(&services)?.disconnect(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn sync_now(
    State(services): State<Services>,
    Expert(caller): Expert,
    PathSegment(id): PathSegment,
) -> Result<(StatusCode, Json<SyncJob>), ApiError> {
    let job = calendars(&services)?.sync_now(&caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// `POST /v1/experts/me/calendars/{provider}/authorize`: where to send the expert to consent.
pub async fn authorize(
    State(services): State<Services>,
    Expert(caller): Expert,
    PathSegment(provider): PathSegment,
) -> Result<Json<Authorization>, ApiError> {
    Ok(Json(
        calendars(&services)?.authorize(&caller, &provider).await?,
    ))
}

/// `GET /v1/oauth/{provider}/callback`: the provider's redirect back; always a redirect to the
/// frontend, with the outcome.
pub async fn callback(
    State(services): State<Services>,
    PathSegment(provider): PathSegment,
    QueryParams(input): QueryParams<CallbackInput>,
) -> Result<Response, ApiError> {
    let location = calendars(&services)?.callback(&provider, input).await;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

/// `POST /v1/webhooks/google`: a channel's notification; only its headers count.
pub async fn google_push(
    State(services): State<Services>,
    headers: HeaderMap,
) -> Result<Json<PushReceipt>, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let notice = GoogleNotice {
        channel_id: header("x-goog-channel-id"),
        token: header("x-goog-channel-token"),
        resource_state: header("x-goog-resource-state"),
    };
    Ok(Json(
        calendars(&services)?.google_notification(notice).await?,
    ))
}

#[derive(serde::Deserialize)]
pub struct Validation {
    #[serde(rename = "validationToken")]
    validation_token: Option<String>,
}

/// `POST /v1/webhooks/microsoft`: Graph's validation handshake (the token echoed as
/// text/plain), or a batch of change or lifecycle notifications (202).
pub async fn microsoft_push(
    State(services): State<Services>,
    QueryParams(validation): QueryParams<Validation>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    if let Some(token) = validation.validation_token {
        // Graph's documented answer is the token as text/plain; `nosniff` keeps a browser
        // from reading an echoed token as anything else.
        return Ok((
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            token,
        )
            .into_response());
    }
    let receipt = calendars(&services)?.microsoft_notification(&body).await?;
    Ok((StatusCode::ACCEPTED, Json(receipt)).into_response())
}
