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
    /// An item that does not parse back into its domain type: a bug or a manual edit, never
    /// the caller's fault.
    #[error("stored item {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
}

impl StoreError {
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
