//! `/v1/admin`: platform reports for the admins group.

use axum::Json;
use axum::extract::State;
use marketplace::booking::{EarningsInput, EarningsLine};
use marketplace::services::Services;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::{QueryParams, SignedIn};

#[derive(Serialize)]
pub struct PlatformReport {
    totals: Vec<EarningsLine>,
}

pub async fn earnings(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    QueryParams(input): QueryParams<EarningsInput>,
) -> Result<Json<PlatformReport>, ApiError> {
    let totals = services.bookings.platform_report(&caller, input).await?;
    Ok(Json(PlatformReport { totals }))
}
