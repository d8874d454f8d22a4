//! `/v1/me`: the signed-in user's own account settings.

use axum::Json;
use axum::extract::State;
use marketplace::accounts::{Account, AccountInput};
use marketplace::services::Services;

use crate::error::ApiError;
use crate::extract::{JsonBody, SignedIn};

pub async fn get_me(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(services.accounts.account(&caller).await?))
}

pub async fn put_me(
    State(services): State<Services>,
    SignedIn(caller): SignedIn,
    JsonBody(input): JsonBody<AccountInput>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(services.accounts.save_account(&caller, input).await?))
}
