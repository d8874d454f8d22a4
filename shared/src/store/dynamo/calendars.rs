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
    CalendarConnection, ConnectedCalendar, ConnectionPreferences, ConnectionStatus, Provider,
    PushChannel,
};
use crate::calendar::freshness::CalendarReadState;
use crate::calendar::secrets::SealedSecret;
use crate::ids::{AppointmentId, ConnectionId, ExpertId};
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_url: Option<String>,
    status: ConnectionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_synced_at: Option<DateTime<Utc>>,
    next_sync_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    degraded_since: Option<DateTime<Utc>>,
    calendars: Vec<CalendarRecord>,
    #[serde(default)]
    preferences: ConnectionPreferences,
    /// Written by its own updates (`save_push`), never by a sync's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    push: Vec<PushChannel>,
    created_at: DateTime<Utc>,
    version: u64,
    secret: SealedSecret,
    #[serde(default = "first_version")]
    secret_version: u64,
    gsi4pk: String,
    gsi4sk: String,
}

fn first_version() -> u64 {
    1
}

#[derive(Serialize, Deserialize)]
struct CalendarRecord {
    id: String,
    name: String,
    #[serde(alias = "url")]
    remote_id: String,
    writable: bool,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    conferencing: bool,
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
            preferences: connection.preferences,
            push: connection.push.clone(),
            created_at: connection.created_at,
            version: connection.version,
            secret,
            secret_version: connection.secret_version,
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
                preferences: self.preferences,
                push: self.push,
                created_at: self.created_at,
                version: self.version,
                secret_version: self.secret_version,
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
            remote_id: calendar.remote_id.clone(),
            writable: calendar.writable,
            primary: calendar.primary,
            conferencing: calendar.conferencing,
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
            remote_id: self.remote_id,
            writable: self.writable,
            primary: self.primary,
            conferencing: self.conferencing,
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

/// A push channel or subscription: whose it is, and a digest of its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushLookup {
    pub channel_id: String,
    pub provider: Provider,
    pub expert_id: ExpertId,
    pub connection_id: ConnectionId,
    pub secret_digest: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct PushLookupRecord {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    lookup: PushLookup,
}

/// A started OAuth connect flow: whose, with which provider, the PKCE verifier; single use.
#[derive(Clone, Serialize, Deserialize)]
pub struct OAuthState {
    pub expert_id: ExpertId,
    pub provider: Provider,
    /// The PKCE verifier: worth nothing without the code only the provider hands out.
    pub verifier: String,
    /// The sign-in email of the expert who started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthState")
            .field("expert_id", &self.expert_id)
            .field("provider", &self.provider)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct OAuthStateRecord {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    state: OAuthState,
}

/// Transactions take at most 100 items; the last carries the connection and its read state.
const PER_TRANSACTION: usize = 98;

impl DynamoStore {
    /// Stores a new connection, its read state (readable, never read) and its count on the
    /// expert's profile, all or nothing; one that takes the booking target takes it on the
    /// guard too, only if no connection holds it. `Ok(false)`: another connection took the
    /// booking target meanwhile (nothing was stored).
    pub async fn create_connection(
        &self,
        connection: &CalendarConnection,
        secret: SealedSecret,
    ) -> Result<bool, StoreError> {
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
        let mut items = vec![put, state, self.count_connections(connection.expert_id, 1)?];
        if connection.booking_target().is_some() {
            items.push(self.booking_target_guard(
                connection.expert_id,
                None,
                Some(connection.id),
            )?);
        }
        self.transact_conditional(items).await
    }

    /// The guard of the expert's one booking target moving from `from` to `to` (either
    /// `None`: no connection), refused unless it is still at `from`.
    fn booking_target_guard(
        &self,
        expert: ExpertId,
        from: Option<ConnectionId>,
        to: Option<ConnectionId>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::calendars(&expert)))
            .key(keys::SK, string(keys::BOOKING_TARGET));
        update = match from {
            None => update.condition_expression("attribute_not_exists(holder)"),
            // A target set before guards were kept has none to name.
            Some(from) => update
                .condition_expression("attribute_not_exists(holder) OR holder = :from")
                .expression_attribute_values(":from", string(from.to_string())),
        };
        update = match to {
            Some(to) => update
                .update_expression("SET holder = :to")
                .expression_attribute_values(":to", string(to.to_string())),
            None => update.update_expression("REMOVE holder"),
        };
        let update = update
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
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
            .partition_items(&pk, Some(keys::CONNECTION_PREFIX), None)
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
    /// the version it was read at, and, when the booking target moves (`target`: from, to),
    /// the guard under a condition on where it was. `Ok(false)`: one changed meanwhile.
    pub async fn save_calendar_choices(
        &self,
        connections: &[CalendarConnection],
        target: Option<(Option<ConnectionId>, Option<ConnectionId>)>,
    ) -> Result<bool, StoreError> {
        let mut items = Vec::new();
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
                .update_expression(
                    "SET calendars = :calendars, preferences = :preferences, version = :next",
                )
                .condition_expression("version = :version")
                .expression_attribute_values(
                    ":calendars",
                    serde_dynamo::to_attribute_value(calendars)
                        .map_err(|e| StoreError::corrupt(keys::connection(&connection.id), e))?,
                )
                .expression_attribute_values(
                    ":preferences",
                    serde_dynamo::to_attribute_value(connection.preferences)
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
            items.push(TransactWriteItem::builder().update(update).build());
        }
        if let (Some((from, to)), Some(first)) = (target, connections.first()) {
            items.push(self.booking_target_guard(first.expert_id, from, to)?);
        }
        self.transact_conditional(items).await
    }

    /// An UpdateItem of the connection's item, to be given its expression.
    fn update_connection(
        &self,
        connection: &CalendarConnection,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::calendars(&connection.expert_id)))
            .key(keys::SK, string(keys::connection(&connection.id)))
    }

    /// Replaces the sealed secret (a rotated refresh token) if it is still the version read;
    /// `Ok(false)` when another refresh stored a newer one first.
    pub async fn replace_secret(
        &self,
        connection: &CalendarConnection,
        read_version: u64,
        secret: SealedSecret,
    ) -> Result<bool, StoreError> {
        let key = keys::connection(&connection.id);
        let result = self
            .update_connection(connection)
            .update_expression("SET secret = :secret, secret_version = :next")
            .condition_expression(
                "attribute_exists(pk) AND (secret_version = :read OR (attribute_not_exists(secret_version) AND :read = :first))",
            )
            .expression_attribute_values(
                ":secret",
                serde_dynamo::to_attribute_value(secret).map_err(|e| StoreError::corrupt(&key, e))?,
            )
            .expression_attribute_values(":read", AttributeValue::N(read_version.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((read_version + 1).to_string()))
            .expression_attribute_values(":first", AttributeValue::N("1".into()))
            .send()
            .await;
        super::conditional(result)
    }

    /// Records the connection's push channels (after creating new ones, before stopping the
    /// old), apart from its sync state so that neither write undoes the other.
    pub async fn save_push(
        &self,
        connection: &CalendarConnection,
        push: &[PushChannel],
    ) -> Result<bool, StoreError> {
        let key = keys::connection(&connection.id);
        let result = self
            .update_connection(connection)
            .update_expression("SET push = :push")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(
                ":push",
                serde_dynamo::to_attribute_value(push).map_err(|e| StoreError::corrupt(&key, e))?,
            )
            .send()
            .await;
        super::conditional(result)
    }

    /// Removes a connection (with its read state and its count on the profile), then the busy
    /// time it imported.
    /// Answers whether there was one; the busy time is purged either way, so a retry after a
    /// failure half-way finishes the job.
    /// Removes the connection, its read state and its count (and, when it held the booking
    /// target, frees the guard), then the busy time it imported. `Ok(false)`: there was none.
    pub async fn delete_connection(
        &self,
        expert: ExpertId,
        id: ConnectionId,
        held_target: bool,
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
        let mut items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().delete(state).build(),
            self.count_connections(expert, -1)?,
        ];
        if held_target {
            // Freed only if it names this connection (a guard from before guards were kept
            // names none).
            let free = Update::builder()
                .table_name(&self.table)
                .key(keys::PK, string(keys::calendars(&expert)))
                .key(keys::SK, string(keys::BOOKING_TARGET))
                .update_expression("REMOVE holder")
                .condition_expression("attribute_not_exists(holder) OR holder = :id")
                .expression_attribute_values(":id", string(id.to_string()))
                .build()
                .map_err(|e| StoreError::request("TransactWriteItems", e))?;
            items.push(TransactWriteItem::builder().update(free).build());
        }
        let existed = self.transact_conditional(items).await?;
        self.purge_imported_busy(expert, id).await?;
        Ok(existed)
    }

    /// The busy time a connection imported, and its record of our events.
    async fn purge_imported_busy(
        &self,
        expert: ExpertId,
        id: ConnectionId,
    ) -> Result<(), StoreError> {
        let mut doomed = self
            .partition_items(
                &keys::expert(&expert),
                Some(&keys::imported_busy_of(&id)),
                Some("pk, sk"),
            )
            .await?;
        doomed.extend(
            self.partition_items(
                &keys::calendars(&expert),
                Some(&format!("OWNEVENT#{id}#")),
                Some("pk, sk"),
            )
            .await?,
        );
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

    pub async fn put_push_lookup(&self, lookup: &PushLookup) -> Result<(), StoreError> {
        let record = PushLookupRecord {
            pk: keys::push_channel(&lookup.channel_id),
            sk: keys::PUSH_CHANNEL.into(),
            entity: "push_channel".into(),
            lookup: lookup.clone(),
        };
        let item =
            serde_dynamo::to_item(&record).map_err(|e| StoreError::corrupt(&record.pk, e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::request("PutItem", e))?;
        Ok(())
    }

    /// A renewed subscription lives longer (its TTL follows).
    pub async fn extend_push_lookup(
        &self,
        channel_id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::push_channel(channel_id)))
            .key(keys::SK, string(keys::PUSH_CHANNEL))
            .update_expression("SET expires_at = :at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(
                ":at",
                AttributeValue::N(expires_at.timestamp().to_string()),
            )
            .send()
            .await;
        super::conditional(result)
    }

    pub async fn delete_push_lookup(&self, channel_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::push_channel(channel_id)))
            .key(keys::SK, string(keys::PUSH_CHANNEL))
            .send()
            .await
            .map_err(|e| StoreError::request("DeleteItem", e))?;
        Ok(())
    }

    pub async fn push_lookup(&self, channel_id: &str) -> Result<Option<PushLookup>, StoreError> {
        let key = keys::push_channel(channel_id);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, string(&key))
            .key(keys::SK, string(keys::PUSH_CHANNEL))
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item::<_, PushLookupRecord>(item)
                    .map(|r| r.lookup)
                    .map_err(|e| StoreError::corrupt(&key, e))
            })
            .transpose()
    }

    /// Stores a started connect flow under its state (with its expiry as TTL).
    pub async fn put_oauth_state(&self, state: &str, value: &OAuthState) -> Result<(), StoreError> {
        let record = OAuthStateRecord {
            pk: keys::oauth_state(state),
            sk: keys::OAUTH_STATE.into(),
            entity: "oauth_state".into(),
            state: value.clone(),
        };
        let item =
            serde_dynamo::to_item(&record).map_err(|e| StoreError::corrupt("oauth state", e))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::request("PutItem", e))?;
        Ok(())
    }

    /// Takes a connect flow's state out of the table: the first taker gets it, any later one
    /// (a replay) gets `None`. Expiry is the caller's to check (TTL lags).
    pub async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::oauth_state(state)))
            .key(keys::SK, string(keys::OAUTH_STATE))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::request("DeleteItem", e))?;
        output
            .attributes
            .filter(|item| !item.is_empty())
            .map(|item| {
                serde_dynamo::from_item::<_, OAuthStateRecord>(item)
                    .map(|r| r.state)
                    .map_err(|e| StoreError::corrupt("oauth state", e))
            })
            .transpose()
    }

    /// Notes that our event `key` in a calendar of the connection is the appointment's.
    pub async fn record_own_event(
        &self,
        (expert, id): (ExpertId, ConnectionId),
        calendar_id: &str,
        key: &str,
        appointment: AppointmentId,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, string(keys::calendars(&expert)))
            .item(keys::SK, string(keys::own_event(&id, calendar_id, key)))
            .item("entity", string("own_calendar_event"))
            .item("event_key", string(key))
            .item("appointment_id", string(appointment.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::request("PutItem", e))?;
        Ok(())
    }

    pub async fn forget_own_event(
        &self,
        (expert, id): (ExpertId, ConnectionId),
        calendar_id: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::calendars(&expert)))
            .key(keys::SK, string(keys::own_event(&id, calendar_id, key)))
            .send()
            .await
            .map_err(|e| StoreError::request("DeleteItem", e))?;
        Ok(())
    }

    /// The appointment whose event `key` is, when it is ours.
    pub async fn own_event(
        &self,
        expert: ExpertId,
        id: ConnectionId,
        calendar_id: &str,
        key: &str,
    ) -> Result<Option<AppointmentId>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::calendars(&expert)))
            .key(keys::SK, string(keys::own_event(&id, calendar_id, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| item.get("appointment_id"))
            .and_then(|v| v.as_s().ok())
            .and_then(|v| v.parse().ok()))
    }

    /// Our events in one calendar of the connection: event key -> appointment.
    pub async fn own_events(
        &self,
        expert: ExpertId,
        id: ConnectionId,
        calendar_id: &str,
    ) -> Result<Vec<(String, AppointmentId)>, StoreError> {
        let items = self
            .partition_items(
                &keys::calendars(&expert),
                Some(&keys::own_events_of(&id, calendar_id)),
                Some("event_key, appointment_id"),
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                Some((text("event_key")?, text("appointment_id")?.parse().ok()?))
            })
            .collect())
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
