//! The calendar-sync function: each SQS record is a sync job (a connection to read) or a
//! booking event from the bus (confirmed, rescheduled, cancelled: the booking's event in the
//! expert's calendar follows). A record that cannot be read, a
//! storage failure, or a calendar server that is down or throttling (the connection is marked
//! `degraded` first) is reported in the partial batch response: SQS brings it back after the
//! visibility timeout, and to the dead-letter queue after the redrive limit. A refused password
//! (`needs_reauth`), a deleted connection or a sync another job already did are done.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use marketplace::calendar::service::{CalendarService, SyncJob};
use marketplace::calendar::sync::SyncOutcome;
use marketplace::events::{DomainEvent, EventKind};
use serde::Deserialize;

/// What a record carries.
#[derive(Deserialize)]
#[serde(untagged)]
enum Work {
    Sync(SyncJob),
    /// An EventBridge envelope, as the bus's rule delivers it.
    Booking {
        detail: DomainEvent,
    },
}

async fn perform(calendars: &CalendarService, work: Work) -> Result<(), String> {
    match work {
        Work::Sync(job) => match calendars.run_sync(&job).await {
            Ok(SyncOutcome::Degraded(why)) => Err(why),
            Ok(outcome) => {
                tracing::info!(connection_id = %job.connection_id, ?outcome, "calendar synced");
                Ok(())
            }
            Err(error) => Err(error.to_string()),
        },
        Work::Booking { detail } => match detail.kind {
            EventKind::BookingConfirmed
            | EventKind::BookingRescheduled
            | EventKind::BookingCancelled => {
                let pushed = calendars
                    .push_booking(detail.appointment_id)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(appointment_id = %detail.appointment_id, ?pushed, "booking event written");
                Ok(())
            }
            _ => Ok(()),
        },
    }
}

pub async fn handle(calendars: &CalendarService, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let work = record
            .body
            .as_deref()
            .ok_or_else(|| "empty record".to_owned())
            .and_then(|body| {
                serde_json::from_str::<Work>(body).map_err(|e| format!("unreadable job: {e}"))
            });
        let outcome = match work {
            Ok(work) => perform(calendars, work).await,
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
