//! The outbox: domain events written in the transactions that change state, read and removed
//! by the relay once EventBridge has them. One partition, ordered by time; the relay drains it
//! every minute, so it stays small.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::{DynamoStore, keys, string};
use crate::events::DomainEvent;
use crate::store::StoreError;

type Item = HashMap<String, AttributeValue>;

impl DynamoStore {
    /// The outbox entry for `event`, to add to a state change's transaction.
    pub(super) fn outbox_entry(
        &self,
        event: &DomainEvent,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item: Item =
            serde_dynamo::to_item(event).map_err(|e| StoreError::corrupt(&event.id, e))?;
        item.insert(keys::PK.into(), string(keys::OUTBOX));
        item.insert(keys::SK.into(), string(keys::outbox_entry(event)));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The oldest events not yet relayed.
    pub async fn pending_events(&self, limit: i32) -> Result<Vec<DomainEvent>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :outbox")
            .expression_attribute_values(":outbox", string(keys::OUTBOX))
            .consistent_read(true)
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt(keys::OUTBOX, e))
            })
            .collect()
    }

    /// Removes a relayed event from the outbox.
    pub async fn remove_event(&self, event: &DomainEvent) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::OUTBOX))
            .key(keys::SK, string(keys::outbox_entry(event)))
            .send()
            .await
            .map_err(|e| StoreError::request("DeleteItem", e))?;
        Ok(())
    }
}
