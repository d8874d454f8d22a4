//! Persistence. One DynamoDB table (see `dynamo::keys` for every key the code writes).

pub mod dynamo;

use thiserror::Error;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed")]
    Request {
        operation: &'static str,
        #[source]
        source: BoxError,
    },
    /// A versioned write lost to concurrent writers on every attempt.
    #[error("too many concurrent writes to {0}")]
    Contention(String),
    /// An item that does not parse back into its domain type: a bug or a manual edit, never
    /// the caller's fault.
    #[error("stored item {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
}

impl StoreError {
    /// Another writer kept winning: the caller may simply try again.
    pub fn is_contention(&self) -> bool {
        matches!(self, StoreError::Contention(_))
    }

    pub(crate) fn request(operation: &'static str, source: impl Into<BoxError>) -> Self {
        StoreError::Request {
            operation,
            source: source.into(),
        }
    }

    pub(crate) fn corrupt(key: impl Into<String>, reason: impl ToString) -> Self {
        StoreError::Corrupt {
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}
