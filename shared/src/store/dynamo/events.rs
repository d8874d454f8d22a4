//! Processed Stripe events, kept 30 days (Stripe retries for 3) so redeliveries are skipped;
//! and the payment record of each appointment, as the latest event describes it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, Duration, Utc};

use super::{DynamoStore, conditional, keys, string};
use crate::booking::PaymentRecord;
use crate::ids::AppointmentId;
use crate::payments::PaymentIntentSummary;
use crate::store::StoreError;

const KEEP_DAYS: i64 = 30;

impl DynamoStore {
    pub async fn event_processed(&self, event: &str) -> Result<bool, StoreError> {
        self.marker_exists(keys::stripe_event(event), keys::STRIPE_EVENT)
            .await
    }

    pub async fn record_event(&self, event: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.put_marker(keys::stripe_event(event), keys::STRIPE_EVENT, now)
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
        self.put_marker(keys::notification(notification), keys::NOTIFICATION, now)
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

    async fn put_marker(&self, pk: String, sk: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, string(pk))
            .item(keys::SK, string(sk))
            .item("done_at", string(now.to_rfc3339()))
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

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl DynamoStore {
    /// The appointment's payment as a PaymentIntent event describes it; an event older than
    /// the one recorded changes nothing.
    pub async fn record_payment(
        &self,
        appointment: AppointmentId,
        intent: &PaymentIntentSummary,
        event_created: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::appointment(&appointment)))
            .key(keys::SK, string(keys::PAYMENT))
            .update_expression(
                "SET payment_intent = :intent, #state = :state, amount = :amount, \
                 application_fee_amount = :fee, amount_capturable = :capturable, \
                 amount_received = :received, event_created = :created, updated_at = :now",
            )
            .condition_expression(
                "attribute_not_exists(event_created) OR event_created <= :created",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":intent", string(&intent.id))
            .expression_attribute_values(
                ":state",
                string(format!("{:?}", intent.state).to_lowercase()),
            )
            .expression_attribute_values(":amount", number(intent.amount))
            .expression_attribute_values(
                ":fee",
                intent
                    .application_fee_amount
                    .map_or(AttributeValue::Null(true), number),
            )
            .expression_attribute_values(":capturable", number(intent.amount_capturable))
            .expression_attribute_values(":received", number(intent.amount_received))
            .expression_attribute_values(":created", number(event_created))
            .expression_attribute_values(":now", string(now.to_rfc3339()))
            .send()
            .await;
        // Refused because the stored record is already newer: no error.
        conditional(result).map(drop)
    }

    /// Refunds only grow, so the largest amount reported wins whatever the order.
    pub async fn record_refund(
        &self,
        appointment: AppointmentId,
        amount_refunded: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::appointment(&appointment)))
            .key(keys::SK, string(keys::PAYMENT))
            .update_expression("SET amount_refunded = :refunded, updated_at = :now")
            .condition_expression(
                "attribute_not_exists(amount_refunded) OR amount_refunded < :refunded",
            )
            .expression_attribute_values(":refunded", number(amount_refunded))
            .expression_attribute_values(":now", string(now.to_rfc3339()))
            .send()
            .await;
        // Refused because the stored record is already newer: no error.
        conditional(result).map(drop)
    }

    /// The payment record of one appointment.
    pub async fn payment_record(
        &self,
        appointment: AppointmentId,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        let key = keys::appointment(&appointment);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, string(&key))
            .key(keys::SK, string(keys::PAYMENT))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        output
            .item
            .map(|item| serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt(&key, e)))
            .transpose()
    }

    /// The payment records of many appointments, 100 per BatchGetItem, retrying what DynamoDB
    /// leaves unprocessed.
    pub async fn payment_records(
        &self,
        appointments: &[AppointmentId],
    ) -> Result<HashMap<AppointmentId, PaymentRecord>, StoreError> {
        let mut found = HashMap::new();
        for chunk in appointments.chunks(100) {
            let mut keys_left: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| {
                    HashMap::from([
                        (keys::PK.to_owned(), string(keys::appointment(id))),
                        (keys::SK.to_owned(), string(keys::PAYMENT)),
                    ])
                })
                .collect();
            for _ in 0..5 {
                if keys_left.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys_left)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::request("BatchGetItem", e))?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| StoreError::request("BatchGetItem", e))?;
                for item in output
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    let id = item
                        .get(keys::PK)
                        .and_then(|v| v.as_s().ok())
                        .and_then(|pk| pk.strip_prefix(keys::APPOINTMENT_PREFIX))
                        .and_then(|id| id.parse().ok());
                    if let Some(id) = id {
                        let record = serde_dynamo::from_item(item)
                            .map_err(|e| StoreError::corrupt(id_key(&id), e))?;
                        found.insert(id, record);
                    }
                }
                keys_left = output
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys_left.is_empty() {
                return Err(StoreError::Contention(
                    "BatchGetItem unprocessed keys".into(),
                ));
            }
        }
        Ok(found)
    }
}

fn id_key(id: &AppointmentId) -> String {
    keys::appointment(id)
}
