//! The service layer's error: what a caller did wrong, or that storage failed. The HTTP layer
//! maps each variant to one problem type, once.

use thiserror::Error;

use crate::store::StoreError;
use crate::validation::ValidationErrors;

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("the input is invalid: {0}")]
    Invalid(ValidationErrors),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The action needs an expert profile, and the caller has none yet.
    #[error("create your expert profile first (PUT /v1/experts/me)")]
    ProfileRequired,
    /// The expert cannot take bookings: no weekly hours or payouts not enabled.
    #[error("this expert is not taking bookings")]
    NotBookable,
    /// The appointment no longer holds its time (cancelled, expired, completed).
    #[error("this appointment can no longer be cancelled")]
    NotCancellable,
    /// A problem report that cannot be taken (not started, not confirmed, reported already).
    #[error("{0}")]
    ProblemNotAccepted(&'static str),
    /// Not completed yet, or reviewed already.
    #[error("{0}")]
    NotReviewable(&'static str),
    /// The appointment cannot move now.
    #[error("{0}")]
    NotReschedulable(&'static str),
    /// A session that is not confirmed, or not started yet.
    #[error("{0}")]
    NotCompletable(&'static str),
    /// The expert's calendar could not be read at its last sync: their time is unknown.
    #[error(
        "this expert's calendar cannot be read right now, so their free time is unknown; try again later"
    )]
    CalendarUnreadable,
    /// The expert's imported busy time was not confirmed recently: the calendars named must be
    /// read before a booking goes ahead (handled inside the service layer).
    #[error(
        "this expert's calendar cannot be read right now, so their free time is unknown; try again later"
    )]
    CalendarsStale {
        expert: crate::ids::ExpertId,
        connections: Vec<crate::ids::ConnectionId>,
    },
    /// The slot is not (or no longer) free.
    #[error("this slot is not available")]
    SlotUnavailable,
    /// An Idempotency-Key sent again with a different request.
    #[error("this Idempotency-Key was used for a different booking")]
    IdempotencyKeyReused,
    #[error("storage failed")]
    Store(#[from] StoreError),
    #[error("the payment provider failed")]
    Payment(#[from] crate::payments::PaymentError),
    /// A calendar account that could not be connected.
    #[error(transparent)]
    Connect(#[from] crate::calendar::service::ConnectError),
    /// A capability this function was not configured for.
    #[error("{0} are not available here")]
    Unavailable(&'static str),
    #[error("queueing failed: {0}")]
    Queue(String),
    #[error("sealing or opening a secret failed: {0}")]
    Secret(String),
}

impl From<ValidationErrors> for ServiceError {
    fn from(errors: ValidationErrors) -> Self {
        ServiceError::Invalid(errors)
    }
}

/// `error: cause: cause ...`, for one log line per failure with every cause kept.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
