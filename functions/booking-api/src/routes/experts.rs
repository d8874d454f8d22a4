//! `/v1/experts`: profiles and availability settings.

use axum::Json;
use axum::extract::State;
use marketplace::availability::{
    AvailabilityInput, AvailabilitySettings, SlotList, SlotQueryInput,
};
use marketplace::booking::{EarningsInput, EarningsLine, PageInput, ReviewPage};
use marketplace::experts::{ExpertProfile, ProfileInput, PublicExpert, SearchInput, SearchResults};
use marketplace::payments::Onboarding;
use marketplace::services::Services;

use crate::error::ApiError;
use crate::extract::{Expert, JsonBody, PathSegment, QueryParams};

pub async fn put_profile(
    State(services): State<Services>,
    Expert(caller): Expert,
    JsonBody(input): JsonBody<ProfileInput>,
) -> Result<Json<ExpertProfile>, ApiError> {
    Ok(Json(services.experts.save_profile(&caller, input).await?))
}

pub async fn get_own(
    State(services): State<Services>,
    Expert(caller): Expert,
) -> Result<Json<PublicExpert>, ApiError> {
    Ok(Json(services.experts.own_profile(&caller).await?))
}

pub async fn put_availability(
    State(services): State<Services>,
    Expert(caller): Expert,
    JsonBody(input): JsonBody<AvailabilityInput>,
) -> Result<Json<AvailabilitySettings>, ApiError> {
    Ok(Json(
        services.availability.save_settings(&caller, input).await?,
    ))
}

pub async fn get_public(
    State(services): State<Services>,
    PathSegment(id): PathSegment,
) -> Result<Json<PublicExpert>, ApiError> {
    Ok(Json(services.experts.public_profile(&id).await?))
}

pub async fn get_slots(
    State(services): State<Services>,
    PathSegment(id): PathSegment,
    QueryParams(query): QueryParams<SlotQueryInput>,
) -> Result<Json<SlotList>, ApiError> {
    Ok(Json(services.availability.slots(&id, query).await?))
}

pub async fn search(
    State(services): State<Services>,
    QueryParams(input): QueryParams<SearchInput>,
) -> Result<Json<SearchResults>, ApiError> {
    Ok(Json(services.search.search(input).await?))
}

pub async fn start_payouts(
    State(services): State<Services>,
    Expert(caller): Expert,
) -> Result<Json<Onboarding>, ApiError> {
    Ok(Json(services.payments.start_onboarding(&caller).await?))
}

pub async fn reviews(
    State(services): State<Services>,
    PathSegment(id): PathSegment,
    QueryParams(page): QueryParams<PageInput>,
) -> Result<Json<ReviewPage>, ApiError> {
    Ok(Json(services.experts.reviews(&id, page).await?))
}

#[derive(serde::Serialize)]
pub struct Earnings {
    totals: Vec<EarningsLine>,
}

pub async fn earnings(
    State(services): State<Services>,
    Expert(caller): Expert,
    QueryParams(input): QueryParams<EarningsInput>,
) -> Result<Json<Earnings>, ApiError> {
    let totals = services.bookings.earnings(&caller, input).await?;
    Ok(Json(Earnings { totals }))
}
