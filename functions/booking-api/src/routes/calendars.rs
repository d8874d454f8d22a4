//! `/v1/experts/me/calendars`: the expert's external calendar connections.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use marketplace::calendar::connection::{CalendarConnection, ConnectInput, UpdateInput};
use marketplace::calendar::service::{CalendarService, SyncJob};
use marketplace::error::ServiceError;
use marketplace::services::Services;

use crate::error::ApiError;
use crate::extract::{Expert, JsonBody};

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
    Path(id): Path<String>,
    JsonBody(input): JsonBody<UpdateInput>,
) -> Result<Json<CalendarConnection>, ApiError> {
    Ok(Json(
        calendars(&services)?.update(&caller, &id, input).await?,
    ))
}

pub async fn disconnect(
    State(services): State<Services>,
    Expert(caller): Expert,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    calendars(&services)?.disconnect(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn sync_now(
    State(services): State<Services>,
    Expert(caller): Expert,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SyncJob>), ApiError> {
    let job = calendars(&services)?.sync_now(&caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}
