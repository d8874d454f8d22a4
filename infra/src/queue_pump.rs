//! The dev server's stand-in for Lambda's SQS event source: receives a batch, hands it to the
//! function as an `SqsEvent`, deletes what the function did not report as failed.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use marketplace::calendar::service::CalendarService;
use marketplace::services::Services;

use crate::bootstrap::BoxError;

/// One batch of the notifications queue through the notifier; returns (handled, failed).
pub async fn notifications(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    services: &Services,
) -> Result<(usize, usize), BoxError> {
    pump(sqs, queue_url, |event| notifier::handle(services, event)).await
}

/// One batch of the calendar-sync queue through the calendar-sync function.
pub async fn calendar_syncs(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    calendars: &CalendarService,
) -> Result<(usize, usize), BoxError> {
    pump(sqs, queue_url, |event| {
        calendar_sync::handle(calendars, event)
    })
    .await
}

/// One batch of `queue_url` through `function`; returns (handled, failed).
async fn pump<F: Future<Output = SqsBatchResponse>>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    function: impl FnOnce(SqsEvent) -> F,
) -> Result<(usize, usize), BoxError> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok((0, 0));
    }
    let response = function(sqs_event(&messages)).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for message in &messages {
        if !failed.contains(&message.message_id.as_deref().unwrap_or_default())
            && let Some(handle) = &message.receipt_handle
        {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await?;
        }
    }
    Ok((messages.len() - failed.len(), failed.len()))
}

/// Received messages as the event Lambda's SQS trigger would hand the function.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for message in messages {
        let mut record = SqsMessage::default();
        record.message_id = message.message_id.clone();
        record.receipt_handle = message.receipt_handle.clone();
        record.body = message.body.clone();
        record.attributes = message
            .attributes
            .iter()
            .flatten()
            .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
            .collect();
        event.records.push(record);
    }
    event
}
