//! The API's one error type and its one mapping to `application/problem+json` (RFC 9457).
//! Each kind has a stable `type`; anything unexpected is logged with its cause chain and
//! answered as an opaque 500.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use marketplace::error::ServiceError;
use marketplace::validation::{FieldError, ValidationErrors};
use serde::Serialize;

#[derive(Debug)]
pub enum ApiError {
    Unauthenticated,
    UnsupportedMediaType,
    MalformedJson(String),
    PayloadTooLarge,
    RouteNotFound,
    MethodNotAllowed,
    Service(ServiceError),
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        ApiError::Service(error)
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Service(ServiceError::Invalid(errors))
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title, detail, errors): (_, _, _, String, &[FieldError]) = match &self {
            ApiError::Service(ServiceError::Invalid(errors)) => (
                StatusCode::BAD_REQUEST,
                "validation-error",
                "The request is not valid",
                "One or more fields are invalid; see `errors`.".into(),
                errors.errors(),
            ),
            ApiError::MalformedJson(detail) => (
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "The body is not valid JSON",
                detail.clone(),
                &[],
            ),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Sign-in required",
                "This route needs a valid bearer token.".into(),
                &[],
            ),
            ApiError::Service(ServiceError::Forbidden(detail)) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed",
                detail.clone(),
                &[],
            ),
            ApiError::Service(ServiceError::NotFound(what)) => (
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("No such {what}."),
                &[],
            ),
            ApiError::RouteNotFound => (
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "No route matches this path.".into(),
                &[],
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "This route does not accept this method.".into(),
                &[],
            ),
            ApiError::Service(error @ ServiceError::ProfileRequired) => (
                StatusCode::CONFLICT,
                "profile-required",
                "Expert profile required",
                error.to_string(),
                &[],
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "The body is too large",
                format!("Bodies are limited to {} bytes.", crate::MAX_BODY_BYTES),
                &[],
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "Send the body as application/json.".into(),
                &[],
            ),
            ApiError::Service(ServiceError::Store(store)) if store.is_contention() => (
                StatusCode::CONFLICT,
                "conflict",
                "Changed concurrently",
                "Another request changed this resource at the same moment; send yours again."
                    .into(),
                &[],
            ),
            ApiError::Service(error @ ServiceError::Store(_)) => {
                tracing::error!(error = %error_chain(error), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "Something went wrong on our side; it has been logged.".into(),
                    &[],
                )
            }
        };
        let problem = Problem {
            kind: format!("/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail,
            errors,
        };
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            Json(problem),
        )
            .into_response()
    }
}

/// `error: cause: cause ...`, for one log line per failure.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
