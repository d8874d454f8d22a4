//! The calendar-sync function: each SQS record is a sync job (a connection to read) or a
//! booking event from the bus (confirmed, rescheduled, cancelled: the booking's event in the
//! expert's calendar follows). A record that cannot be read, a storage failure, or a calendar
//! server that is down or throttling (the connection is marked `degraded` first) is reported in
//! the partial batch response: SQS brings it back, and to the dead-letter queue after the
//! redrive limit. A degraded sync comes back after a backoff that doubles with each receive and
//! honours the server's Retry-After (the record's visibility is changed to it). A refused
//! password (`needs_reauth`), a deleted connection or a sync another job already did are done.

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use marketplace::calendar::service::{CalendarService, SyncJob};
use marketplace::calendar::sync::{SyncOutcome, retry_delay};
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

/// Why a record goes back to the queue, and when it should come back.
enum Retry {
    /// After the queue's visibility timeout.
    Later(String),
    /// The calendar failed to read: after a backoff, not before the server's Retry-After.
    Backoff {
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl From<String> for Retry {
    fn from(reason: String) -> Self {
        Retry::Later(reason)
    }
}

async fn perform(calendars: &CalendarService, work: Work) -> Result<(), Retry> {
    match work {
        Work::Sync(job) => match calendars.run_sync(&job).await {
            Ok(SyncOutcome::Degraded {
                reason,
                retry_after,
            }) => Err(Retry::Backoff {
                reason,
                retry_after,
            }),
            Ok(outcome) => {
                tracing::info!(connection_id = %job.connection_id, ?outcome, "calendar synced");
                Ok(())
            }
            Err(error) => Err(error.to_string().into()),
        },
        Work::Booking { detail } => match (detail.kind, detail.appointment_id) {
            (
                EventKind::BookingConfirmed
                | EventKind::BookingRescheduled
                | EventKind::BookingCancelled,
                Some(appointment_id),
            ) => {
                let pushed = calendars
                    .push_booking(appointment_id)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(%appointment_id, ?pushed, "booking event written");
                Ok(())
            }
            _ => Ok(()),
        },
    }
}

/// Sets the record's next try after its backoff; answers the delay, or `None` when the queue's
/// own visibility timeout applies.
async fn delay(
    calendars: &CalendarService,
    record: &SqsMessage,
    retry: &Retry,
) -> Option<Duration> {
    let Retry::Backoff { retry_after, .. } = retry else {
        return None;
    };
    let handle = record.receipt_handle.as_deref()?;
    let receives = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let wait = retry_delay(receives, *retry_after);
    match calendars.retry_later(handle, wait).await {
        Ok(()) => Some(wait),
        Err(error) => {
            tracing::warn!(error = %error, "could not delay the job; the visibility timeout applies");
            None
        }
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
            Err(why) => Err(why.into()),
        };
        if let Err(retry) = outcome {
            let retry_in = delay(calendars, &record, &retry).await;
            let (Retry::Later(reason) | Retry::Backoff { reason, .. }) = retry;
            tracing::warn!(
                message_id = id,
                reason,
                retry_in_seconds = retry_in.map(|d| d.as_secs()),
                "sync job failed; it will be retried"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}
