//! Processed Stripe events, kept 30 days (Stripe retries for 3) so redeliveries are skipped.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use super::{DynamoStore, keys, string};
use crate::store::StoreError;

const KEEP_DAYS: i64 = 30;

impl DynamoStore {
    pub async fn event_processed(&self, event: &str) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::stripe_event(event)))
            .key(keys::SK, string(keys::STRIPE_EVENT))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        Ok(output.item.is_some())
    }

    pub async fn record_event(&self, event: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, string(keys::stripe_event(event)))
            .item(keys::SK, string(keys::STRIPE_EVENT))
            .item("processed_at", string(now.to_rfc3339()))
            .item(
                "expires_at",
                AttributeValue::N((now + Duration::days(KEEP_DAYS)).timestamp().to_string()),
            )
            .send()
            .await
            .map_err(|e| StoreError::request("PutItem", e))?;
        Ok(())
    }
}
