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

use super::accounts::timestamp;
use super::{DynamoStore, keys, string};
use crate::availability::Interval;
use crate::calendar::connection::{
    CalendarConnection, ConnectedCalendar, ConnectionStatus, Provider,
};
use crate::calendar::freshness::CalendarReadState;
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    own_addresses: Vec<String>,
    server_url: String,
    status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_synced_at: Option<DateTime<Utc>>,
    next_sync_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    degraded_since: Option<DateTime<Utc>>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    full_read_at: Option<DateTime<Utc>>,
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
            own_addresses: connection.own_addresses.clone(),
            server_url: connection.server_url.clone(),
            status: connection.status,
            last_synced_at: connection.last_synced_at,
            next_sync_at: connection.next_sync_at,
            last_error: connection.last_error.clone(),
            degraded_since: connection.degraded_since,
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
                own_addresses: self.own_addresses,
                server_url: self.server_url,
                status: self.status,
                last_synced_at: self.last_synced_at,
                next_sync_at: self.next_sync_at,
                last_error: self.last_error,
                degraded_since: self.degraded_since,
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
            full_read_at: calendar.full_read_at,
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
            full_read_at: self.full_read_at,
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

/// One calendar event's busy time, as stored in the expert partition.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedEvent {
    pub calendar_id: String,
    pub href: String,
    pub etag: String,
    pub intervals: Vec<Interval>,
}

/// What a sync writes, all under the connection's version: busy items put and deleted, and the
/// connection's new state (tokens, status).
#[derive(Debug, Default)]
pub struct SyncWrite {
    pub put: Vec<ImportedEvent>,
    /// (calendar id, href) of events gone.
    pub deleted: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct ImportedRecord {
    pk: String,
    sk: String,
    entity: String,
    calendar_id: String,
    href: String,
    etag: String,
    intervals: Vec<Interval>,
}

/// A connection's read state, in the expert partition (see `calendar::freshness`).
#[derive(Serialize, Deserialize)]
struct ReadStateRecord {
    pk: String,
    sk: String,
    entity: String,
    connection_id: ConnectionId,
    readable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    read_at: Option<DateTime<Utc>>,
}

pub(super) fn parse_read_state(pk: &str, item: Item) -> Result<CalendarReadState, StoreError> {
    let record: ReadStateRecord =
        serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt(pk, e))?;
    Ok(CalendarReadState {
        connection_id: record.connection_id,
        readable: record.readable,
        read_at: record.read_at,
    })
}

/// Transactions take at most 100 items; the last carries the connection and its read state.
const PER_TRANSACTION: usize = 98;

impl DynamoStore {
    /// Stores a new connection, its read state (readable, never read) and its count on the
    /// expert's profile, all or nothing.
    pub async fn create_connection(
        &self,
        connection: &CalendarConnection,
        secret: SealedSecret,
    ) -> Result<(), StoreError> {
        let put = self.put_new(
            &ConnectionRecord::new(connection, secret),
            keys::connection(&connection.id),
        )?;
        let state = ReadStateRecord {
            pk: keys::expert(&connection.expert_id),
            sk: keys::read_state(&connection.id),
            entity: "calendar_read_state".into(),
            connection_id: connection.id,
            readable: true,
            read_at: None,
        };
        let state = self.put_new(&state, state.sk.clone())?;
        let count = self.count_connections(connection.expert_id, 1)?;
        self.client
            .transact_write_items()
            .transact_items(put)
            .transact_items(state)
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
        let mut connections = self
            .partition_items(&pk, None, None)
            .await?
            .into_iter()
            .map(|item| parse(&pk, item).map(|(connection, _)| connection))
            .collect::<Result<Vec<_>, _>>()?;
        connections.sort_by_key(|c| c.created_at);
        Ok(connections)
    }

    /// Every item of partition `pk` (whose sort key starts with `prefix`), all pages, read
    /// consistently; only the `projection` attributes when given.
    async fn partition_items(
        &self,
        pk: &str,
        prefix: Option<&str>,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", string(pk))
            .set_projection_expression(projection.map(str::to_owned))
            .consistent_read(true);
        request = match prefix {
            Some(prefix) => request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", string(prefix)),
            None => request.key_condition_expression("pk = :pk"),
        };
        let mut pages = request.into_paginator().items().send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            items.push(item.map_err(|e| StoreError::request("Query", e))?);
        }
        Ok(items)
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

    /// Removes a connection (with its read state and its count on the profile), then the busy
    /// time it imported.
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
        let state = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::expert(&expert)))
            .key(keys::SK, string(keys::read_state(&id)))
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        let existed = match self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(TransactWriteItem::builder().delete(state).build())
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
        let doomed = self
            .partition_items(
                &keys::expert(&expert),
                Some(&keys::imported_busy_of(&id)),
                Some("pk, sk"),
            )
            .await?;
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

    /// The events a connection imported from one calendar: href -> ETag.
    pub async fn imported_events(
        &self,
        expert: ExpertId,
        id: ConnectionId,
        calendar_id: &str,
    ) -> Result<HashMap<String, String>, StoreError> {
        let prefix = format!("{}{calendar_id}#", keys::imported_busy_of(&id));
        let mut events = HashMap::new();
        for item in self
            .partition_items(&keys::expert(&expert), Some(&prefix), Some("href, etag"))
            .await?
        {
            let text = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            events.insert(text("href"), text("etag"));
        }
        Ok(events)
    }

    /// Applies a sync's changes and the connection's new state (`connection`, read at
    /// `connection.version`) in transactions of at most 100 items, each conditional on the
    /// version the previous one left: a second sync of the same connection running at the same
    /// time fails its first condition and writes nothing. `Ok(false)`: another sync won.
    pub async fn apply_sync(
        &self,
        connection: &CalendarConnection,
        write: SyncWrite,
    ) -> Result<bool, StoreError> {
        let expert = connection.expert_id;
        let mut items: Vec<TransactWriteItem> = Vec::new();
        for event in write.put {
            let record = ImportedRecord {
                pk: keys::expert(&expert),
                sk: keys::imported_event(&connection.id, &event.calendar_id, &event.href),
                entity: "imported_busy".into(),
                calendar_id: event.calendar_id,
                href: event.href,
                etag: event.etag,
                intervals: event.intervals,
            };
            let item =
                serde_dynamo::to_item(&record).map_err(|e| StoreError::corrupt(&record.sk, e))?;
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::request("TransactWriteItems", e))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        for (calendar_id, href) in write.deleted {
            let delete = Delete::builder()
                .table_name(&self.table)
                .key(keys::PK, string(keys::expert(&expert)))
                .key(
                    keys::SK,
                    string(keys::imported_event(&connection.id, &calendar_id, &href)),
                )
                .build()
                .map_err(|e| StoreError::request("TransactWriteItems", e))?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        let mut version = connection.version;
        let mut chunks: Vec<Vec<TransactWriteItem>> = Vec::new();
        while !items.is_empty() {
            let rest = items.split_off(items.len().min(PER_TRANSACTION));
            chunks.push(std::mem::replace(&mut items, rest));
        }
        if chunks.is_empty() {
            chunks.push(Vec::new());
        }
        let last = chunks.len() - 1;
        for (i, mut chunk) in chunks.into_iter().enumerate() {
            // The last transaction carries the connection's new state (and its read state,
            // which the slot search reads); the ones before only move its version on.
            let state = (i == last).then_some(connection);
            chunk.push(self.connection_step(connection, version, state)?);
            if state.is_some() {
                chunk.push(self.read_state_update(connection)?);
            }
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(chunk))
                .send()
                .await
            {
                Ok(_) => version += 1,
                Err(error) if super::appointments::failed_conditions(&error).is_some() => {
                    return Ok(false);
                }
                Err(error) => return Err(StoreError::request("TransactWriteItems", error)),
            }
        }
        Ok(true)
    }

    /// The connection's read state after a sync: readable or not, and when read (if it was).
    fn read_state_update(
        &self,
        connection: &CalendarConnection,
    ) -> Result<TransactWriteItem, StoreError> {
        let readable = connection.status == ConnectionStatus::Ok;
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::expert(&connection.expert_id)))
            .key(keys::SK, string(keys::read_state(&connection.id)))
            .expression_attribute_values(":readable", AttributeValue::Bool(readable));
        update = match connection.last_synced_at.filter(|_| readable) {
            Some(at) => update
                .update_expression("SET readable = :readable, read_at = :at")
                .expression_attribute_values(":at", string(timestamp(at))),
            None => update.update_expression("SET readable = :readable"),
        };
        let update = update
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Records that a read confirmed the connection's busy time at `at` (the heartbeat of a
    /// sync that found nothing changed). Never moves the time back, and leaves an unreadable
    /// or removed connection alone.
    pub async fn confirm_read(
        &self,
        expert: ExpertId,
        id: ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::expert(&expert)))
            .key(keys::SK, string(keys::read_state(&id)))
            .update_expression("SET read_at = :at")
            .condition_expression(
                "readable = :yes AND (attribute_not_exists(read_at) OR read_at < :at)",
            )
            .expression_attribute_values(":at", string(timestamp(at)))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        super::conditional(result)
    }

    /// Moves the connection from `version` to the next, writing its state when given.
    fn connection_step(
        &self,
        connection: &CalendarConnection,
        version: u64,
        state: Option<&CalendarConnection>,
    ) -> Result<TransactWriteItem, StoreError> {
        let key = keys::connection(&connection.id);
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::calendars(&connection.expert_id)))
            .key(keys::SK, string(&key))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((version + 1).to_string()));
        let mut expression = "SET version = :next".to_owned();
        if let Some(state) = state {
            let calendars: Vec<CalendarRecord> =
                state.calendars.iter().map(CalendarRecord::new).collect();
            let (_, due) = due_keys(state);
            expression.push_str(
                ", calendars = :calendars, #status = :status, last_synced_at = :synced, \
                 next_sync_at = :next_sync, gsi4sk = :due",
            );
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(
                    ":calendars",
                    serde_dynamo::to_attribute_value(calendars)
                        .map_err(|e| StoreError::corrupt(&key, e))?,
                )
                .expression_attribute_values(
                    ":status",
                    serde_dynamo::to_attribute_value(state.status)
                        .map_err(|e| StoreError::corrupt(&key, e))?,
                )
                .expression_attribute_values(
                    ":synced",
                    serde_dynamo::to_attribute_value(state.last_synced_at)
                        .map_err(|e| StoreError::corrupt(&key, e))?,
                )
                .expression_attribute_values(
                    ":next_sync",
                    serde_dynamo::to_attribute_value(state.next_sync_at)
                        .map_err(|e| StoreError::corrupt(&key, e))?,
                )
                .expression_attribute_values(":due", string(due));
            let mut removed = Vec::new();
            match &state.last_error {
                Some(error) => {
                    expression.push_str(", last_error = :error");
                    update = update.expression_attribute_values(":error", string(error));
                }
                None => removed.push("last_error"),
            }
            match state.degraded_since {
                Some(since) => {
                    expression.push_str(", degraded_since = :since");
                    update = update.expression_attribute_values(
                        ":since",
                        serde_dynamo::to_attribute_value(since)
                            .map_err(|e| StoreError::corrupt(&key, e))?,
                    );
                }
                None => removed.push("degraded_since"),
            }
            if !removed.is_empty() {
                expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
            }
        }
        let update = update
            .update_expression(expression)
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Connections whose sync is due by `now`, each claimed for this run by moving its due time
    /// to `next` under a condition on the due time it was listed with: two schedulers running
    /// at once enqueue each connection once.
    pub async fn claim_due_connections(
        &self,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> Result<Vec<(ExpertId, ConnectionId)>, StoreError> {
        let mut claimed = Vec::new();
        loop {
            let page = self.due_items(keys::CALENDAR_SYNC, now, 100).await?;
            let listed = page.len();
            let mut won = 0;
            for item in page {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                let (pk, sk, due) = (text(keys::PK), text(keys::SK), text(keys::GSI_DUE_SK));
                // `<due>#<expert>#<connection>`
                let mut parts = due.splitn(3, '#').skip(1);
                let (Some(expert), Some(connection)) = (
                    parts.next().and_then(|e| e.parse().ok()),
                    parts.next().and_then(|c| c.parse().ok()),
                ) else {
                    return Err(StoreError::corrupt(pk, format!("due key {due}")));
                };
                let moved = format!(
                    "{}#{expert}#{connection}",
                    next.format("%Y-%m-%dT%H:%M:%SZ")
                );
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key(keys::PK, string(&pk))
                    .key(keys::SK, string(&sk))
                    .update_expression("SET gsi4sk = :moved, next_sync_at = :next")
                    .condition_expression("gsi4sk = :due")
                    .expression_attribute_values(":moved", string(moved))
                    .expression_attribute_values(
                        ":next",
                        serde_dynamo::to_attribute_value(next)
                            .map_err(|e| StoreError::corrupt(&pk, e))?,
                    )
                    .expression_attribute_values(":due", string(&due))
                    .send()
                    .await;
                if super::conditional(result)? {
                    claimed.push((expert, connection));
                    won += 1;
                }
            }
            // The index lags its table: a page of nothing new means the rest is claimed.
            if listed < 100 || won == 0 {
                return Ok(claimed);
            }
        }
    }
}
