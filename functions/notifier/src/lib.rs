//! The notifier: SQS records carrying EventBridge envelopes of domain events, parsed record by
//! record; a record that fails (unreadable, or an email that could not go out) is reported in
//! the partial batch response, so only it comes back (and reaches the dead-letter queue after
//! the redrive limit), while the others are done.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use marketplace::events::DomainEvent;
use marketplace::services::Services;
use serde::Deserialize;

/// The part of the EventBridge envelope we read.
#[derive(Deserialize)]
struct Envelope {
    detail: DomainEvent,
}

pub async fn handle(services: &Services, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let outcome = match record.body.as_deref().map(serde_json::from_str::<Envelope>) {
            Some(Ok(envelope)) => services
                .notifications
                .handle(&envelope.detail)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Some(Err(error)) => Err(format!("unreadable event: {error}")),
            None => Err("empty record".to_owned()),
        };
        if let Err(reason) = outcome {
            tracing::warn!(
                message_id = id,
                reason,
                "notification failed; it will be retried"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}
