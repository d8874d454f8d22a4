//! `/v1/appointments`: booking.

use axum::Json;
use axum::extract::State;
use http::{HeaderMap, StatusCode};
use marketplace::booking::{Booked, BookingInput};
use marketplace::services::Services;

use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

pub async fn book(
    State(services): State<Services>,
    Client(caller): Client,
    headers: HeaderMap,
    JsonBody(input): JsonBody<BookingInput>,
) -> Result<(StatusCode, Json<Booked>), ApiError> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let booked = services.bookings.book(&caller, key, input).await?;
    Ok((StatusCode::CREATED, Json(booked)))
}
