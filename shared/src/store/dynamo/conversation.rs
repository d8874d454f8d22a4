//! Messages (in the appointment's partition) and reviews (a partition per expert, newest
//! first), with the expert's rating kept as two atomic counters on the profile.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::{DynamoStore, keys, string};
use crate::booking::{Message, Review};
use crate::events::DomainEvent;
use crate::ids::{AppointmentId, ExpertId};
use crate::store::StoreError;

type Item = HashMap<String, AttributeValue>;

impl DynamoStore {
    /// Stores the message and its `message.posted` event together.
    pub async fn add_message(
        &self,
        message: &Message,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        let mut item: Item =
            serde_dynamo::to_item(message).map_err(|e| StoreError::corrupt(&message.id, e))?;
        item.insert(
            keys::PK.into(),
            string(keys::appointment(&message.appointment_id)),
        );
        item.insert(keys::SK.into(), string(keys::message(&message.id)));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(self.outbox_entry(event)?)
            .send()
            .await
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(())
    }

    /// Messages in the order they were written, after message `after`.
    pub async fn messages(
        &self,
        appointment: AppointmentId,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Message>, bool), StoreError> {
        let pk = keys::appointment(&appointment);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", string(&pk))
            .expression_attribute_values(":prefix", string(keys::MESSAGE_PREFIX))
            .limit(limit);
        if let Some(after) = after {
            request = request
                .exclusive_start_key(keys::PK, string(&pk))
                .exclusive_start_key(keys::SK, string(keys::message(after)));
        }
        let output = request
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        let more = output.last_evaluated_key.is_some();
        let messages = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt(&pk, e)))
            .collect::<Result<Vec<Message>, _>>()?;
        Ok((messages, more))
    }

    /// Writes the review once per appointment and adds it to the expert's counters, all or
    /// nothing. `Ok(false)`: the appointment was reviewed already.
    pub async fn add_review(
        &self,
        review: &Review,
        event: &DomainEvent,
    ) -> Result<bool, StoreError> {
        let build = |e| StoreError::request("TransactWriteItems", e);
        let mut item: Item = serde_dynamo::to_item(review)
            .map_err(|e| StoreError::corrupt(review.appointment_id.to_string(), e))?;
        item.insert(keys::PK.into(), string(keys::reviews(&review.expert_id)));
        item.insert(
            keys::SK.into(),
            string(keys::review(review.created_at, &review.appointment_id)),
        );
        let once = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, string(keys::appointment(&review.appointment_id)))
            .item(keys::SK, string(keys::REVIEW_MARKER))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(build)?;
        let counters = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::expert(&review.expert_id)))
            .key(keys::SK, string(keys::PROFILE))
            .update_expression("ADD rating_count :one, rating_sum :rating")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":rating", AttributeValue::N(review.rating.to_string()))
            .build()
            .map_err(build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(once).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(counters).build())
            .transact_items(self.outbox_entry(event)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let reviewed = matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(c))
                        if c.cancellation_reasons().first().is_some_and(|r| r.code() == Some("ConditionalCheckFailed"))
                );
                if reviewed {
                    Ok(false)
                } else {
                    Err(StoreError::request("TransactWriteItems", e))
                }
            }
        }
    }

    /// An expert's reviews, newest first, after the review with sort key `after`.
    pub async fn reviews(
        &self,
        expert: ExpertId,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<(String, Review)>, bool), StoreError> {
        let pk = keys::reviews(&expert);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", string(&pk))
            .scan_index_forward(false)
            .limit(limit);
        if let Some(after) = after {
            request = request
                .exclusive_start_key(keys::PK, string(&pk))
                .exclusive_start_key(keys::SK, string(after));
        }
        let output = request
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        let more = output.last_evaluated_key.is_some();
        let reviews = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let sk = item
                    .get(keys::SK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                serde_dynamo::from_item(item)
                    .map(|review| (sk, review))
                    .map_err(|e| StoreError::corrupt(&pk, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((reviews, more))
    }
}
