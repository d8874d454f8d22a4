//! Done-markers: Stripe events applied (or ignored as not ours), kept 30 days (Stripe retries
//! for 3) so redeliveries are skipped; and notifications sent.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use super::{DynamoStore, keys, string};
use crate::store::StoreError;

const KEEP_DAYS: i64 = 30;

impl DynamoStore {
    pub async fn event_processed(&self, event: &str) -> Result<bool, StoreError> {
        self.marker_exists(keys::stripe_event(event), keys::STRIPE_EVENT)
            .await
    }

    /// Marks a Stripe event done, with what came of it (`applied`, or `ignored` for an event
    /// about something that is not ours).
    pub async fn record_event(
        &self,
        event: &str,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.put_marker(
            keys::stripe_event(event),
            keys::STRIPE_EVENT,
            Some(outcome),
            now,
        )
        .await
    }

    /// Whether this notification (`<event id>:<recipient>`) went out already.
    pub async fn notified(&self, notification: &str) -> Result<bool, StoreError> {
        self.marker_exists(keys::notification(notification), keys::NOTIFICATION)
            .await
    }

    pub async fn mark_notified(
        &self,
        notification: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.put_marker(
            keys::notification(notification),
            keys::NOTIFICATION,
            None,
            now,
        )
        .await
    }

    /// Markers say "this was done" (a Stripe event applied, a notification sent) and expire
    /// after [`KEEP_DAYS`], longer than any redelivery.
    async fn marker_exists(&self, pk: String, sk: &str) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, string(pk))
            .key(keys::SK, string(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        Ok(output.item.is_some())
    }

    async fn put_marker(
        &self,
        pk: String,
        sk: &str,
        outcome: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, string(pk))
            .item(keys::SK, string(sk))
            .item("done_at", string(now.to_rfc3339()))
            .item(
                "expires_at",
                AttributeValue::N((now + Duration::days(KEEP_DAYS)).timestamp().to_string()),
            );
        if let Some(outcome) = outcome {
            put = put.item("outcome", string(outcome));
        }
        put.send()
            .await
            .map_err(|e| StoreError::request("PutItem", e))?;
        Ok(())
    }
}
