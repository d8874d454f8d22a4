//! The relay: moves events from the outbox to the EventBridge bus, at least once. An event
//! leaves the outbox only after EventBridge accepted that very entry (PutEvents reports failures
//! per entry), so a crash or a partial failure means it is sent again on the next run.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::Serialize;

use super::{DomainEvent, SOURCE};
use crate::error::ServiceError;
use crate::store::StoreError;
use crate::store::dynamo::DynamoStore;

/// PutEvents takes at most 10 entries.
const BATCH: usize = 10;
/// Events looked at per run; the schedule runs again soon.
const PER_RUN: i32 = 100;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RelayReport {
    pub published: usize,
    pub failed: usize,
}

#[derive(Clone)]
pub struct EventRelay {
    store: DynamoStore,
    client: Client,
    bus: String,
}

impl EventRelay {
    pub fn new(store: DynamoStore, client: Client, bus: impl Into<String>) -> Self {
        Self {
            store,
            client,
            bus: bus.into(),
        }
    }

    pub async fn run(&self) -> Result<RelayReport, ServiceError> {
        let mut report = RelayReport::default();
        let pending = self.store.pending_events(PER_RUN).await?;
        for batch in pending.chunks(BATCH) {
            let entries = batch
                .iter()
                .map(|event| self.entry(event))
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| StoreError::request("PutEvents", e))?;
            // Results come back in request order, one per entry.
            for (event, result) in batch.iter().zip(output.entries()) {
                if result.error_code().is_none() && result.event_id().is_some() {
                    self.store.remove_event(event).await?;
                    report.published += 1;
                } else {
                    tracing::warn!(
                        event_id = event.id,
                        code = result.error_code().unwrap_or_default(),
                        "EventBridge refused an event; it stays in the outbox"
                    );
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    fn entry(&self, event: &DomainEvent) -> Result<PutEventsRequestEntry, ServiceError> {
        let detail = serde_json::to_string(event).map_err(|e| StoreError::corrupt(&event.id, e))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.kind.name())
            .detail(detail)
            .build())
    }
}
