//! Calendar connections, in a partition of their own per expert (`CALENDARS#<exp_id>`), so
//! the slot search's Query over the expert partition never reads them; listed on gsi4 under
//! `CALENDAR_SYNC` by the time their next sync is due. Their imported busy time lives in the
//! expert partition (`BUSY#~cal#<cal_id>#...`), where the slot search reads it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{DynamoStore, keys, string};
use crate::calendar::connection::{
    CalendarConnection, ConnectedCalendar, ConnectionStatus, Provider,
};
use crate::calendar::secrets::SealedSecret;
use crate::ids::{ConnectionId, ExpertId};
use crate::store::StoreError;

type Item = HashMap<String, AttributeValue>;

/// BatchWriteItem takes at most 25 requests.
const BATCH: usize = 25;

#[derive(Serialize, Deserialize)]
struct ConnectionRecord {
    pk: String,
    sk: String,
    entity: String,
    connection_id: ConnectionId,
    expert_id: ExpertId,
    provider: Provider,
    account: String,
    server_url: String,
    status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_synced_at: Option<DateTime<Utc>>,
    next_sync_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    calendars: Vec<CalendarRecord>,
    created_at: DateTime<Utc>,
    version: u64,
    secret: SealedSecret,
    gsi4pk: String,
    gsi4sk: String,
}

#[derive(Serialize, Deserialize)]
struct CalendarRecord {
    id: String,
    name: String,
    url: String,
    writable: bool,
    busy_source: bool,
    booking_target: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sync_token: Option<String>,
}

impl ConnectionRecord {
    fn new(connection: &CalendarConnection, secret: SealedSecret) -> Self {
        let (gsi4pk, gsi4sk) = due_keys(connection);
        ConnectionRecord {
            pk: keys::calendars(&connection.expert_id),
            sk: keys::connection(&connection.id),
            entity: "calendar_connection".into(),
            connection_id: connection.id,
            expert_id: connection.expert_id,
            provider: connection.provider,
            account: connection.account.clone(),
            server_url: connection.server_url.clone(),
            status: connection.status,
            last_synced_at: connection.last_synced_at,
            next_sync_at: connection.next_sync_at,
            last_error: connection.last_error.clone(),
            calendars: connection
                .calendars
                .iter()
                .map(CalendarRecord::new)
                .collect(),
            created_at: connection.created_at,
            version: connection.version,
            secret,
            gsi4pk,
            gsi4sk,
        }
    }

    fn into_parts(self) -> (CalendarConnection, SealedSecret) {
        (
            CalendarConnection {
                id: self.connection_id,
                expert_id: self.expert_id,
                provider: self.provider,
                account: self.account,
                server_url: self.server_url,
                status: self.status,
                last_synced_at: self.last_synced_at,
                next_sync_at: self.next_sync_at,
                last_error: self.last_error,
                calendars: self
                    .calendars
                    .into_iter()
                    .map(CalendarRecord::into_calendar)
                    .collect(),
                created_at: self.created_at,
                version: self.version,
            },
            self.secret,
        )
    }
}

impl CalendarRecord {
    fn new(calendar: &ConnectedCalendar) -> Self {
        CalendarRecord {
            id: calendar.id.clone(),
            name: calendar.name.clone(),
            url: calendar.url.clone(),
            writable: calendar.writable,
            busy_source: calendar.busy_source,
            booking_target: calendar.booking_target,
            sync_token: calendar.sync_token.clone(),
        }
    }

    fn into_calendar(self) -> ConnectedCalendar {
        ConnectedCalendar {
            id: self.id,
            name: self.name,
            url: self.url,
            writable: self.writable,
            busy_source: self.busy_source,
            booking_target: self.booking_target,
            sync_token: self.sync_token,
        }
    }
}

fn due_keys(connection: &CalendarConnection) -> (String, String) {
    (
        keys::CALENDAR_SYNC.to_owned(),
        format!(
            "{}#{}#{}",
            connection.next_sync_at.format("%Y-%m-%dT%H:%M:%SZ"),
            connection.expert_id,
            connection.id
        ),
    )
}

fn parse(key: &str, item: Item) -> Result<(CalendarConnection, SealedSecret), StoreError> {
    serde_dynamo::from_item::<_, ConnectionRecord>(item)
        .map(ConnectionRecord::into_parts)
        .map_err(|e| StoreError::corrupt(key, e))
}

impl DynamoStore {
    /// Stores a new connection and counts it on the expert's profile, all or nothing.
    pub async fn create_connection(
        &self,
        connection: &CalendarConnection,
        secret: SealedSecret,
    ) -> Result<(), StoreError> {
        let record = ConnectionRecord::new(connection, secret);
        let item = serde_dynamo::to_item(record)
            .map_err(|e| StoreError::corrupt(keys::connection(&connection.id), e))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        let count = self.count_connections(connection.expert_id, 1)?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(count)
            .send()
            .await
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(())
    }

    /// `calendar_connections` on the profile, which the public profile shows as a yes or no.
    fn count_connections(
        &self,
        expert: ExpertId,
        by: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::expert(&expert)))
            .key(keys::SK, string(keys::PROFILE))
            .update_expression("ADD calendar_connections :by")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":by", AttributeValue::N(by.to_string()))
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn connections_of(
        &self,
        expert: ExpertId,
    ) -> Result<Vec<CalendarConnection>, StoreError> {
        let pk = keys::calendars(&expert);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", string(&pk))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut connections = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::request("Query", e))?;
            connections.push(parse(&pk, item)?.0);
        }
        connections.sort_by_key(|c| c.created_at);
        Ok(connections)
    }

    /// A connection with its sealed secret.
    pub async fn connection(
        &self,
        expert: ExpertId,
        id: ConnectionId,
    ) -> Result<Option<(CalendarConnection, SealedSecret)>, StoreError> {
        let key = keys::connection(&id);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::calendars(&expert)))
            .key(keys::SK, string(&key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        output.item.map(|item| parse(&key, item)).transpose()
    }

    /// Writes the calendar choices of several connections at once, each under a condition on
    /// the version it was read at. `Ok(false)`: one changed meanwhile.
    pub async fn save_calendar_choices(
        &self,
        connections: &[CalendarConnection],
    ) -> Result<bool, StoreError> {
        let mut request = self.client.transact_write_items();
        for connection in connections {
            let calendars: Vec<CalendarRecord> = connection
                .calendars
                .iter()
                .map(CalendarRecord::new)
                .collect();
            let update = Update::builder()
                .table_name(&self.table)
                .key(keys::PK, string(keys::calendars(&connection.expert_id)))
                .key(keys::SK, string(keys::connection(&connection.id)))
                .update_expression("SET calendars = :calendars, version = :next")
                .condition_expression("version = :version")
                .expression_attribute_values(
                    ":calendars",
                    serde_dynamo::to_attribute_value(calendars)
                        .map_err(|e| StoreError::corrupt(keys::connection(&connection.id), e))?,
                )
                .expression_attribute_values(
                    ":version",
                    AttributeValue::N(connection.version.to_string()),
                )
                .expression_attribute_values(
                    ":next",
                    AttributeValue::N((connection.version + 1).to_string()),
                )
                .build()
                .map_err(|e| StoreError::request("TransactWriteItems", e))?;
            request = request.transact_items(TransactWriteItem::builder().update(update).build());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if super::appointments::failed_conditions(&error).is_some() => Ok(false),
            Err(error) => Err(StoreError::request("TransactWriteItems", error)),
        }
    }

    /// Removes a connection (and its count on the profile), then the busy time it imported.
    /// Answers whether there was one; the busy time is purged either way, so a retry after a
    /// failure half-way finishes the job.
    pub async fn delete_connection(
        &self,
        expert: ExpertId,
        id: ConnectionId,
    ) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::calendars(&expert)))
            .key(keys::SK, string(keys::connection(&id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        let existed = match self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(self.count_connections(expert, -1)?)
            .send()
            .await
        {
            Ok(_) => true,
            Err(error) if super::appointments::failed_conditions(&error).is_some() => false,
            Err(error) => return Err(StoreError::request("TransactWriteItems", error)),
        };
        self.purge_imported_busy(expert, id).await?;
        Ok(existed)
    }

    async fn purge_imported_busy(
        &self,
        expert: ExpertId,
        id: ConnectionId,
    ) -> Result<(), StoreError> {
        let pk = keys::expert(&expert);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", string(&pk))
            .expression_attribute_values(":prefix", string(keys::imported_busy_of(&id)))
            .projection_expression("pk, sk")
            .into_paginator()
            .items()
            .send();
        let mut doomed = Vec::new();
        while let Some(item) = pages.next().await {
            doomed.push(item.map_err(|e| StoreError::request("Query", e))?);
        }
        for chunk in doomed.chunks(BATCH) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(|e| StoreError::request("BatchWriteItem", e))
                })
                .collect::<Result<_, _>>()?;
            // Unprocessed requests are sent again until none are left.
            while !requests.is_empty() {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| StoreError::request("BatchWriteItem", e))?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }
}
