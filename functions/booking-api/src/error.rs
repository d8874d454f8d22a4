//! The API's one error type and its one mapping to `application/problem+json` (RFC 9457).
//! Each kind has a stable `type`; anything unexpected is logged with its cause chain and
//! answered as an opaque 500.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http_problem::error_chain;
use marketplace::error::ServiceError;
use marketplace::payments::PaymentError;
use marketplace::validation::{FieldError, ValidationErrors};

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
            ApiError::Service(error @ ServiceError::NotBookable) => (
                StatusCode::CONFLICT,
                "expert-not-bookable",
                "Not taking bookings",
                error.to_string(),
                &[],
            ),
            ApiError::Service(error @ ServiceError::NotCancellable) => (
                StatusCode::CONFLICT,
                "not-cancellable",
                "Not cancellable",
                error.to_string(),
                &[],
            ),
            ApiError::Service(ServiceError::ProblemNotAccepted(why)) => (
                StatusCode::CONFLICT,
                "problem-not-accepted",
                "Problem report not accepted",
                (*why).to_owned(),
                &[],
            ),
            ApiError::Service(ServiceError::NotReviewable(why)) => (
                StatusCode::CONFLICT,
                "not-reviewable",
                "Cannot review",
                (*why).to_owned(),
                &[],
            ),
            ApiError::Service(ServiceError::NotReschedulable(why)) => (
                StatusCode::CONFLICT,
                "not-reschedulable",
                "Cannot move this appointment",
                (*why).to_owned(),
                &[],
            ),
            ApiError::Service(ServiceError::NotCompletable(why)) => (
                StatusCode::CONFLICT,
                "not-completable",
                "Not completable",
                (*why).to_owned(),
                &[],
            ),
            ApiError::Service(error @ ServiceError::SlotUnavailable) => (
                StatusCode::CONFLICT,
                "slot-unavailable",
                "Slot unavailable",
                format!(
                    "{error}: it is taken, outside the expert's hours, or too soon; pick another from GET /v1/experts/{{id}}/slots."
                ),
                &[],
            ),
            ApiError::Service(
                error @ (ServiceError::CalendarUnreadable | ServiceError::CalendarsStale { .. }),
            ) => (
                StatusCode::CONFLICT,
                "calendar-unreadable",
                "Calendar unavailable",
                error.to_string(),
                &[],
            ),
            ApiError::Service(error @ ServiceError::IdempotencyKeyReused) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
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
            ApiError::Service(ServiceError::Payment(PaymentError::CapturedOtherAmount { .. })) => (
                StatusCode::CONFLICT,
                "conflict",
                "Changed concurrently",
                "The payment was settled by another request at the same moment (a cancellation and a completion); read the appointment again."
                    .into(),
                &[],
            ),
            ApiError::Service(error @ ServiceError::Payment(_)) => {
                tracing::error!(error = %error_chain(error), "payment provider failed");
                (
                    StatusCode::BAD_GATEWAY,
                    "payment-provider-error",
                    "The payment provider failed",
                    "Stripe did not complete the request; nothing was charged. Try again shortly."
                        .into(),
                    &[],
                )
            }
            ApiError::Service(error @ ServiceError::Unavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Not available",
                error.to_string(),
                &[],
            ),
            ApiError::Service(ServiceError::Connect(error)) => {
                use marketplace::calendar::service::ConnectError;
                let (slug, title) = match error {
                    ConnectError::CredentialsRefused => {
                        ("calendar-credentials-refused", "Credentials refused")
                    }
                    ConnectError::NotCalDav(_) => ("not-caldav", "Not a CalDAV server"),
                    ConnectError::Unreachable(_) => {
                        ("calendar-unreachable", "Calendar server unreachable")
                    }
                    ConnectError::AddressRefused(_) => {
                        ("calendar-address-refused", "Calendar address not allowed")
                    }
                    ConnectError::NoCalendars => ("no-calendars", "No event calendars"),
                };
                (StatusCode::BAD_REQUEST, slug, title, error.to_string(), &[])
            }
            ApiError::Service(
                error @ (ServiceError::Store(_) | ServiceError::Queue(_) | ServiceError::Secret(_)),
            ) => {
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
        http_problem::problem(status, slug, title, &detail, errors)
    }
}

pub async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
