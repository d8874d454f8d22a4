//! The calendar-sync function: each SQS record is one sync job. A job that cannot be read, a
//! storage failure, or a calendar server that is down or throttling (the connection is marked
//! `degraded` first) is reported in the partial batch response: SQS brings it back after the
//! visibility timeout, and to the dead-letter queue after the redrive limit. A refused password
//! (`needs_reauth`), a deleted connection or a sync another job already did are done.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use marketplace::calendar::service::{CalendarService, SyncJob};
use marketplace::calendar::sync::SyncOutcome;

pub async fn handle(calendars: &CalendarService, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let job = record
            .body
            .as_deref()
            .ok_or_else(|| "empty record".to_owned())
            .and_then(|body| {
                serde_json::from_str::<SyncJob>(body).map_err(|e| format!("unreadable job: {e}"))
            });
        let outcome = match job {
            Ok(job) => match calendars.run_sync(&job).await {
                Ok(SyncOutcome::Degraded(why)) => Err(why),
                Ok(outcome) => {
                    tracing::info!(connection_id = %job.connection_id, ?outcome, "calendar synced");
                    Ok(())
                }
                Err(error) => Err(error.to_string()),
            },
            Err(why) => Err(why),
        };
        if let Err(reason) = outcome {
            tracing::warn!(
                message_id = id,
                reason,
                "sync job failed; it will be retried"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
