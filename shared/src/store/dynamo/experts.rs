//! Expert items: the profile and availability settings in the expert's partition, and the
//! search entries (a partition of their own, indexed by gsi3) derived from both.
//!
//! The profile carries a `version`. Every later write to the expert, of the profile or of the
//! settings, reads both, then bumps the version under a condition on the one it read, in the
//! same transaction that rewrites the search entries: the index always matches the latest
//! profile and settings, and concurrent writers retry instead of losing an update.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::accounts::timestamp;
use super::appointments::parse_claim_day;
use super::{DynamoStore, keys, number, string};
use crate::availability::{AvailabilityInput, AvailabilitySettings, Interval};
use crate::booking::ClaimDay;
use crate::calendar::freshness::{self, CalendarReadState, CalendarVerdict};
use crate::events::{DomainEvent, EventKind};
use crate::experts::{
    ExpertProfile, ExpertSummary, PayoutState, ProfileDraft, Rating, SearchCursor, SearchQuery,
};
use crate::ids::{ExpertId, UserId};
use crate::money::{Currency, Money};
use crate::store::StoreError;

#[derive(Deserialize, Serialize)]
struct ProfileRecord {
    pk: String,
    sk: String,
    entity: String,
    expert_id: ExpertId,
    owner: UserId,
    display_name: String,
    bio: String,
    specializations: Vec<String>,
    rate_amount: i64,
    currency: Currency,
    time_zone: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    // Absent, not NULL, until linked: the link's condition is `attribute_not_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stripe_account: Option<String>,
    #[serde(default)]
    rating_count: u64,
    #[serde(default)]
    rating_sum: u64,
    #[serde(default)]
    charges_enabled: bool,
    #[serde(default)]
    payouts_enabled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    past_due: Vec<String>,
    #[serde(default)]
    version: u64,
    /// Counted by the calendar connections' own writes.
    #[serde(default)]
    calendar_connections: i64,
    /// How many search entries (`ENTRY#00`...) the last write left.
    #[serde(default)]
    search_entries: u32,
}

impl ProfileRecord {
    fn new(id: ExpertId, owner: &UserId, draft: &ProfileDraft, now: DateTime<Utc>) -> Self {
        ProfileRecord {
            pk: keys::expert(&id),
            sk: keys::PROFILE.to_owned(),
            entity: "expert_profile".to_owned(),
            expert_id: id,
            owner: owner.clone(),
            display_name: draft.display_name.clone(),
            bio: draft.bio.clone(),
            specializations: draft.specializations.clone(),
            rate_amount: draft.hourly_rate.amount,
            currency: draft.hourly_rate.currency,
            time_zone: draft.time_zone.name().to_owned(),
            created_at: now,
            updated_at: now,
            stripe_account: None,
            rating_count: 0,
            rating_sum: 0,
            charges_enabled: false,
            payouts_enabled: false,
            past_due: Vec::new(),
            version: 1,
            calendar_connections: 0,
            search_entries: 0,
        }
    }

    fn into_profile(self) -> Result<ExpertProfile, StoreError> {
        self.to_profile()
    }

    fn to_profile(&self) -> Result<ExpertProfile, StoreError> {
        let time_zone = self
            .time_zone
            .parse()
            .map_err(|e| StoreError::corrupt(&self.pk, format!("time_zone: {e}")))?;
        Ok(ExpertProfile {
            id: self.expert_id,
            owner: self.owner.clone(),
            display_name: self.display_name.clone(),
            bio: self.bio.clone(),
            specializations: self.specializations.clone(),
            hourly_rate: Money::new(self.rate_amount, self.currency),
            time_zone,
            stripe_account: self.stripe_account.clone(),
            payouts: PayoutState {
                charges_enabled: self.charges_enabled,
                payouts_enabled: self.payouts_enabled,
                past_due: self.past_due.clone(),
            },
            rating: Rating::from_totals(self.rating_count, self.rating_sum),
            calendar_connected: self.calendar_connections > 0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Deserialize, Serialize)]
struct SettingsRecord {
    pk: String,
    sk: String,
    entity: String,
    expert_id: ExpertId,
    settings: AvailabilityInput,
    updated_at: DateTime<Utc>,
}

/// One line of the search index (gsi3): what a result shows, without reading the profile.
#[derive(Deserialize, Serialize)]
struct SearchEntryRecord {
    pk: String,
    sk: String,
    gsi3pk: String,
    gsi3sk: String,
    entity: String,
    expert_id: ExpertId,
    display_name: String,
    specializations: Vec<String>,
    rate_amount: i64,
    currency: Currency,
    time_zone: String,
}

type Item = HashMap<String, AttributeValue>;

/// Reads and retries of one versioned write before giving up.
const WRITE_ATTEMPTS: usize = 8;

fn sort_key(item: &Item) -> String {
    item.get(keys::SK)
        .and_then(|sk| sk.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

impl DynamoStore {
    /// Creates the profile and links it to the user's account in one transaction. `Ok(None)`
    /// when the account already links a profile (a concurrent first save won): the caller
    /// should update that one instead.
    pub async fn create_profile(
        &self,
        owner: &UserId,
        draft: &ProfileDraft,
        now: DateTime<Utc>,
    ) -> Result<Option<ExpertProfile>, StoreError> {
        let id = ExpertId::new();
        let record = ProfileRecord::new(id, owner, draft, now);
        let profile_item: Item =
            serde_dynamo::to_item(&record).map_err(|e| StoreError::corrupt(&record.pk, e))?;
        let link = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::user(owner)))
            .key(keys::SK, string(keys::ACCOUNT))
            .update_expression(
                "SET expert_id = :id, entity = :entity, user_id = :user, \
                 created_at = if_not_exists(created_at, :now), updated_at = :now",
            )
            .condition_expression("attribute_not_exists(expert_id)")
            .expression_attribute_values(":id", string(id.to_string()))
            .expression_attribute_values(":entity", string("account"))
            .expression_attribute_values(":user", string(owner.as_str()))
            .expression_attribute_values(":now", string(timestamp(now)))
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(profile_item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(link).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        match result {
            Ok(_) => record.into_profile().map(Some),
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(StoreError::request("TransactWriteItems", e)),
        }
    }

    /// Replaces the profile's own fields and its search entries.
    pub async fn update_profile(
        &self,
        id: ExpertId,
        owner: &UserId,
        draft: &ProfileDraft,
        now: DateTime<Utc>,
    ) -> Result<ExpertProfile, StoreError> {
        self.modify_profile(id, now, |record| {
            // Defence in depth: the id came from the owner's own account item.
            if &record.owner != owner {
                return Err(StoreError::corrupt(
                    &record.pk,
                    "profile owned by another user",
                ));
            }
            record.display_name = draft.display_name.clone();
            record.bio = draft.bio.clone();
            record.specializations = draft.specializations.clone();
            record.rate_amount = draft.hourly_rate.amount;
            record.currency = draft.hourly_rate.currency;
            record.time_zone = draft.time_zone.name().to_owned();
            Ok(None)
        })
        .await
    }

    /// Records what Stripe says of the expert's account; bookability and the search entries
    /// follow it.
    pub async fn update_payouts(
        &self,
        id: ExpertId,
        payouts: PayoutState,
        now: DateTime<Utc>,
    ) -> Result<ExpertProfile, StoreError> {
        self.modify_profile(id, now, |record| {
            let took_charges = record.to_profile()?.payouts.takes_charges();
            record.charges_enabled = payouts.charges_enabled;
            record.payouts_enabled = payouts.payouts_enabled;
            record.past_due = payouts.past_due.clone();
            // Told once, in the write that stops the bookings.
            Ok((took_charges && !payouts.takes_charges())
                .then(|| DomainEvent::about_expert(EventKind::PayoutsRestricted, id, now)))
        })
        .await
    }

    /// Read, change, versioned write, retried while other writers win.
    async fn modify_profile(
        &self,
        id: ExpertId,
        now: DateTime<Utc>,
        change: impl Fn(&mut ProfileRecord) -> Result<Option<DomainEvent>, StoreError>,
    ) -> Result<ExpertProfile, StoreError> {
        for attempt in 0..WRITE_ATTEMPTS {
            back_off_after_first(attempt).await;
            let (mut record, settings) = self.expert_for_write(id).await?;
            let event = change(&mut record)?;
            record.updated_at = now;
            if self
                .write_expert(&mut record, settings.as_ref(), None, event.as_ref())
                .await?
            {
                return record.into_profile();
            }
        }
        Err(StoreError::Contention(keys::expert(&id)))
    }

    /// Links the expert to their Stripe account, and the account back to the expert (for
    /// `account.updated`). Linking the same account again is a no-op.
    pub async fn link_stripe_account(&self, id: ExpertId, account: &str) -> Result<(), StoreError> {
        let build_error = |e| StoreError::request("TransactWriteItems", e);
        let link = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, string(keys::expert(&id)))
            .key(keys::SK, string(keys::PROFILE))
            .update_expression("SET stripe_account = :account")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(stripe_account) OR stripe_account = :account)",
            )
            .expression_attribute_values(":account", string(account))
            .build()
            .map_err(build_error)?;
        let back = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, string(keys::stripe_account(account)))
            .item(keys::SK, string(keys::STRIPE_ACCOUNT))
            .item("expert_id", string(id.to_string()))
            .build()
            .map_err(build_error)?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(link).build())
            .transact_items(TransactWriteItem::builder().put(back).build())
            .send()
            .await
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(())
    }

    pub async fn expert_of_account(&self, account: &str) -> Result<Option<ExpertId>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::stripe_account(account)))
            .key(keys::SK, string(keys::STRIPE_ACCOUNT))
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        Ok(output
            .item
            .and_then(|item| item.get("expert_id").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|id| id.parse().ok()))
    }

    /// The expert's profile alone (one consistent Query on the partition).
    pub async fn profile(&self, id: ExpertId) -> Result<Option<ExpertProfile>, StoreError> {
        Ok(self.expert(id).await?.map(|(profile, _)| profile))
    }

    /// Replaces the availability settings and the search entries that depend on them.
    pub async fn save_availability(
        &self,
        id: ExpertId,
        settings: &AvailabilitySettings,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = SettingsRecord {
            pk: keys::expert(&id),
            sk: keys::SETTINGS.to_owned(),
            entity: "availability".to_owned(),
            expert_id: id,
            settings: settings.clone().into(),
            updated_at: now,
        };
        for attempt in 0..WRITE_ATTEMPTS {
            back_off_after_first(attempt).await;
            let (mut profile, _) = self.expert_for_write(id).await?;
            if self
                .write_expert(&mut profile, Some(settings), Some(&record), None)
                .await?
            {
                return Ok(());
            }
        }
        Err(StoreError::Contention(keys::expert(&id)))
    }

    /// The profile (with its version) and the settings, read consistently.
    async fn expert_for_write(
        &self,
        id: ExpertId,
    ) -> Result<(ProfileRecord, Option<AvailabilitySettings>), StoreError> {
        let pk = keys::expert(&id);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
            .expression_attribute_values(":pk", string(&pk))
            .expression_attribute_values(":first", string(keys::PROFILE))
            .expression_attribute_values(":last", string(keys::SETTINGS))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        let mut profile = None;
        let mut settings = None;
        for item in output.items.unwrap_or_default() {
            match sort_key(&item).as_str() {
                keys::PROFILE => {
                    profile = Some(
                        serde_dynamo::from_item::<_, ProfileRecord>(item)
                            .map_err(|e| StoreError::corrupt(&pk, e))?,
                    )
                }
                keys::SETTINGS => settings = Some(parse_settings(&pk, item)?),
                _ => {}
            }
        }
        let profile = profile.ok_or_else(|| StoreError::corrupt(&pk, "no profile item"))?;
        Ok((profile, settings))
    }

    /// An unconditional Put of `record` inside a transaction.
    fn put(&self, key: &str, record: &impl Serialize) -> Result<TransactWriteItem, StoreError> {
        let item: Item = serde_dynamo::to_item(record).map_err(|e| StoreError::corrupt(key, e))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::request("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Writes the profile's fields under its version, the settings if given, and the search
    /// entries for both. `Ok(false)`: another write won; read again and retry.
    async fn write_expert(
        &self,
        profile: &mut ProfileRecord,
        settings: Option<&AvailabilitySettings>,
        new_settings: Option<&SettingsRecord>,
        event: Option<&DomainEvent>,
    ) -> Result<bool, StoreError> {
        let read_version = profile.version;
        let old_entries = profile.search_entries;
        let current = profile.to_profile()?;
        let partitions = current.search_partitions(settings);
        profile.version = read_version + 1;
        profile.search_entries = u32::try_from(partitions.len()).unwrap_or(u32::MAX);
        let key_of = |sk: &str| {
            HashMap::from([
                (keys::PK.to_owned(), string(&profile.pk)),
                (keys::SK.to_owned(), string(sk)),
            ])
        };
        let build_error = |e| StoreError::request("TransactWriteItems", e);
        let mut items = vec![
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_of(keys::PROFILE)))
                        .update_expression(
                            "SET display_name = :name, bio = :bio, specializations = :specs, \
                         rate_amount = :amount, currency = :currency, time_zone = :tz, \
                         charges_enabled = :charges, payouts_enabled = :payouts, \
                         past_due = :past_due, updated_at = :updated, version = :next, \
                         search_entries = :entries",
                        )
                        .condition_expression("version = :read")
                        .expression_attribute_values(":name", string(&profile.display_name))
                        .expression_attribute_values(":bio", string(&profile.bio))
                        .expression_attribute_values(
                            ":specs",
                            AttributeValue::L(profile.specializations.iter().map(string).collect()),
                        )
                        .expression_attribute_values(":amount", number(profile.rate_amount))
                        .expression_attribute_values(":currency", string(profile.currency.code()))
                        .expression_attribute_values(":tz", string(&profile.time_zone))
                        .expression_attribute_values(
                            ":charges",
                            AttributeValue::Bool(profile.charges_enabled),
                        )
                        .expression_attribute_values(
                            ":payouts",
                            AttributeValue::Bool(profile.payouts_enabled),
                        )
                        .expression_attribute_values(
                            ":past_due",
                            AttributeValue::L(profile.past_due.iter().map(string).collect()),
                        )
                        .expression_attribute_values(
                            ":updated",
                            string(timestamp(profile.updated_at)),
                        )
                        .expression_attribute_values(":next", number(profile.version))
                        .expression_attribute_values(":entries", number(profile.search_entries))
                        .expression_attribute_values(":read", number(read_version))
                        .build()
                        .map_err(build_error)?,
                )
                .build(),
        ];
        if let Some(record) = new_settings {
            items.push(self.put(&record.pk, record)?);
        }
        if let Some(event) = event {
            items.push(self.outbox_entry(event)?);
        }
        let entries_pk = keys::search_entries(&current.id);
        for (position, partition) in (0..).zip(&partitions) {
            let entry = SearchEntryRecord {
                pk: entries_pk.clone(),
                sk: keys::search_entry(position),
                gsi3pk: keys::search_partition(partition),
                gsi3sk: keys::search_sort_key(
                    current.hourly_rate.currency.code(),
                    current.hourly_rate.amount,
                    &current.id,
                ),
                entity: "search_entry".to_owned(),
                expert_id: current.id,
                display_name: current.display_name.clone(),
                specializations: current.specializations.clone(),
                rate_amount: current.hourly_rate.amount,
                currency: current.hourly_rate.currency,
                time_zone: current.time_zone.name().to_owned(),
            };
            items.push(self.put(&entry.pk, &entry)?);
        }
        for position in profile.search_entries..old_entries {
            items.push(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .key(keys::PK, string(&entries_pk))
                            .key(keys::SK, string(keys::search_entry(position)))
                            .build()
                            .map_err(build_error)?,
                    )
                    .build(),
            );
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::request("TransactWriteItems", e)),
        }
    }

    /// The profile and the availability settings, in one Query on the expert's partition.
    pub async fn expert(
        &self,
        id: ExpertId,
    ) -> Result<Option<(ExpertProfile, Option<AvailabilitySettings>)>, StoreError> {
        let pk = keys::expert(&id);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
            .expression_attribute_values(":pk", string(&pk))
            .expression_attribute_values(":first", string(keys::PROFILE))
            .expression_attribute_values(":last", string(keys::SETTINGS))
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        let mut profile = None;
        let mut settings = None;
        for item in output.items.unwrap_or_default() {
            match item
                .get(keys::SK)
                .and_then(|sk| sk.as_s().ok())
                .map(String::as_str)
            {
                Some(keys::PROFILE) => profile = Some(parse_profile(&pk, item)?),
                Some(keys::SETTINGS) => settings = Some(parse_settings(&pk, item)?),
                _ => {}
            }
        }
        Ok(profile.map(|p| (p, settings)))
    }
}

impl DynamoStore {
    /// One page of the search index: the partition of `query.specialization`, narrowed to a
    /// currency prefix or rate range on the sort key, starting after `after`. Returns the
    /// entries and whether more may follow.
    pub async fn search_page(
        &self,
        query: &SearchQuery,
        after: Option<&SearchCursor>,
        limit: usize,
    ) -> Result<(Vec<ExpertSummary>, bool), StoreError> {
        let partition = keys::search_partition(&query.specialization);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI_SEARCH)
            .expression_attribute_values(":p", string(&partition))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        request = match (query.currency, query.rates) {
            (None, _) => request.key_condition_expression("gsi3pk = :p"),
            (Some(currency), None) => request
                .key_condition_expression("gsi3pk = :p AND begins_with(gsi3sk, :prefix)")
                .expression_attribute_values(":prefix", string(format!("{currency}#"))),
            (Some(currency), Some((min, max))) => {
                let (low, high) = keys::search_rate_range(currency.code(), min, max);
                request
                    .key_condition_expression("gsi3pk = :p AND gsi3sk BETWEEN :low AND :high")
                    .expression_attribute_values(":low", string(low))
                    .expression_attribute_values(":high", string(high))
            }
        };
        if let Some(after) = after {
            request = request
                .exclusive_start_key(keys::PK, string(keys::search_entries(&after.expert_id)))
                .exclusive_start_key(keys::SK, string(keys::search_entry(after.position)))
                .exclusive_start_key(keys::GSI_SEARCH_PK, string(&partition))
                .exclusive_start_key(keys::GSI_SEARCH_SK, string(&after.sort_key));
        }
        let output = request
            .send()
            .await
            .map_err(|e| StoreError::request("Query", e))?;
        let more = output.last_evaluated_key.is_some();
        let entries = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let record: SearchEntryRecord = serde_dynamo::from_item(item)
                    .map_err(|e| StoreError::corrupt(&partition, e))?;
                let position = record
                    .sk
                    .strip_prefix(keys::SEARCH_ENTRY_PREFIX)
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| StoreError::corrupt(&record.pk, "bad entry key"))?;
                Ok(ExpertSummary {
                    id: record.expert_id,
                    display_name: record.display_name,
                    specializations: record.specializations,
                    hourly_rate: Money::new(record.rate_amount, record.currency),
                    time_zone: record
                        .time_zone
                        .parse()
                        .map_err(|e| StoreError::corrupt(&record.pk, format!("time_zone: {e}")))?,
                    next_free_slot: None,
                    cursor: SearchCursor {
                        sort_key: record.gsi3sk,
                        position,
                        expert_id: record.expert_id,
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((entries, more))
    }
}

/// Busy time in the expert's partition: a booking or hold (with its buffers) or an imported
/// calendar event. Holds carry `expires_at` (epoch seconds) and stop counting at that instant,
/// whatever TTL has or has not deleted yet.
#[derive(Deserialize)]
struct BusyRecord {
    busy_start: Option<DateTime<Utc>>,
    busy_end: Option<DateTime<Utc>>,
    /// An imported calendar event: every instance of it in the horizon.
    #[serde(default)]
    intervals: Vec<Interval>,
    expires_at: Option<i64>,
}

/// Everything the slot engine and a booking need about one expert.
pub struct ExpertSchedule {
    pub profile: ExpertProfile,
    pub settings: Option<AvailabilitySettings>,
    /// Every live busy interval: imported calendar time and live claims.
    pub busy: Vec<Interval>,
    /// The imported calendar time alone.
    pub external_busy: Vec<Interval>,
    /// The versioned claim lists read, by UTC day.
    pub claim_days: Vec<ClaimDay>,
    /// The read state of each connected calendar.
    pub calendars: Vec<CalendarReadState>,
}

impl ExpertSchedule {
    /// What the expert's calendars allow at `now` (see `calendar::freshness`).
    pub fn calendar_verdict(&self, now: DateTime<Utc>) -> CalendarVerdict {
        freshness::verdict(&self.calendars, now)
    }
}

impl DynamoStore {
    /// Profile, settings and the busy intervals ending at or after `busy_from`, in one Query
    /// on the expert's partition (busy keys sort before `PROFILE` and `SETTINGS`).
    pub async fn expert_schedule(
        &self,
        id: ExpertId,
        busy_from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<ExpertSchedule>, StoreError> {
        let pk = keys::expert(&id);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk >= :from")
            .expression_attribute_values(":pk", string(&pk))
            .expression_attribute_values(":from", string(keys::busy_day_floor(busy_from)))
            .into_paginator()
            .items()
            .send();
        let mut profile = None;
        let mut settings = None;
        let mut busy = Vec::new();
        let mut external_busy = Vec::new();
        let mut claim_days = Vec::new();
        let mut calendars = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| StoreError::request("Query", e))?;
            let sk = item
                .get(keys::SK)
                .and_then(|sk| sk.as_s().ok())
                .cloned()
                .unwrap_or_default();
            match sk.as_str() {
                keys::PROFILE => profile = Some(parse_profile(&pk, item)?),
                keys::SETTINGS => settings = Some(parse_settings(&pk, item)?),
                day_key if day_key.ends_with(keys::CLAIMS_SUFFIX) => {
                    let day = parse_claim_day(&pk, item)?;
                    for claim in day.claims.iter().filter(|c| c.is_live(now)) {
                        busy.push(Interval {
                            start: claim.start,
                            end: claim.end,
                        });
                    }
                    claim_days.push(day);
                }
                state_key if state_key.starts_with(keys::READ_STATE_PREFIX) => {
                    calendars.push(super::calendars::parse_read_state(&pk, item)?);
                }
                busy_key if busy_key.starts_with(keys::BUSY_PREFIX) => {
                    let record: BusyRecord = serde_dynamo::from_item(item)
                        .map_err(|e| StoreError::corrupt(format!("{pk} {busy_key}"), e))?;
                    if record.expires_at.is_none_or(|at| at > now.timestamp()) {
                        if let (Some(start), Some(end)) = (record.busy_start, record.busy_end) {
                            external_busy.push(Interval { start, end });
                        }
                        external_busy.extend(record.intervals);
                    }
                }
                _ => {}
            }
        }
        busy.extend(external_busy.iter().copied());
        Ok(profile.map(|profile| ExpertSchedule {
            profile,
            settings,
            busy,
            external_busy,
            claim_days,
            calendars,
        }))
    }
}

fn parse_profile(key: &str, item: Item) -> Result<ExpertProfile, StoreError> {
    serde_dynamo::from_item::<_, ProfileRecord>(item)
        .map_err(|e| StoreError::corrupt(key, e))?
        .into_profile()
}

fn parse_settings(key: &str, item: Item) -> Result<AvailabilitySettings, StoreError> {
    let record: SettingsRecord =
        serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt(key, e))?;
    record
        .settings
        .parse()
        .map_err(|e| StoreError::corrupt(key, e))
}

/// True when a transaction lost to another writer: one of its conditions did not hold, or
/// DynamoDB cancelled it for a concurrent transaction on the same items. Either way the
/// caller reads again and retries.
fn condition_failed<R>(error: &SdkError<TransactWriteItemsError, R>) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            cancelled.cancellation_reasons().iter().any(|reason| {
                matches!(
                    reason.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        }
        _ => false,
    }
}

/// Nothing before the first attempt; a short random pause before each retry, growing with
/// the attempt, so that writers that collided spread out.
async fn back_off_after_first(attempt: usize) {
    if attempt == 0 {
        return;
    }
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let ceiling = 20u64 << attempt.min(5);
    tokio::time::sleep(std::time::Duration::from_millis(random % ceiling)).await;
}
