//! RFC 9457 problem documents, `application/problem+json`, with a stable `type` of
//! `/problems/<slug>`: the one shape every HTTP function answers errors in.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use marketplace::validation::FieldError;
use serde::Serialize;

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

/// A problem response; `errors` lists field problems (empty for none).
pub fn problem(
    status: StatusCode,
    slug: &str,
    title: &str,
    detail: &str,
    errors: &[FieldError],
) -> Response {
    let document = Document {
        kind: format!("/problems/{slug}"),
        title,
        status: status.as_u16(),
        detail,
        errors,
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Json(document),
    )
        .into_response()
}

/// `error: cause: cause ...`, for one log line per failure.
pub use marketplace::error::chain as error_chain;
