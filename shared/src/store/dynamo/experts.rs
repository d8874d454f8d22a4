//! Expert partition items: the profile and the availability settings.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::accounts::timestamp;
use super::{DynamoStore, keys, string};
use crate::availability::{AvailabilityInput, AvailabilitySettings, Interval};
use crate::experts::{ExpertProfile, ProfileDraft};
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
        }
    }

    fn into_profile(self) -> Result<ExpertProfile, StoreError> {
        let time_zone = self
            .time_zone
            .parse()
            .map_err(|e| StoreError::corrupt(&self.pk, format!("time_zone: {e}")))?;
        Ok(ExpertProfile {
            id: self.expert_id,
            owner: self.owner,
            display_name: self.display_name,
            bio: self.bio,
            specializations: self.specializations,
            hourly_rate: Money::new(self.rate_amount, self.currency),
            time_zone,
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

type Item = HashMap<String, AttributeValue>;

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

    /// Replaces the profile's own fields; the owner must match (defence in depth: the id came
    /// from the owner's account item).
    pub async fn update_profile(
        &self,
        id: ExpertId,
        owner: &UserId,
        draft: &ProfileDraft,
        now: DateTime<Utc>,
    ) -> Result<ExpertProfile, StoreError> {
        let pk = keys::expert(&id);
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(&pk))
            .key(keys::SK, string(keys::PROFILE))
            .update_expression(
                "SET display_name = :name, bio = :bio, specializations = :specs, \
                 rate_amount = :amount, currency = :currency, time_zone = :tz, updated_at = :now",
            )
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", string(owner.as_str()))
            .expression_attribute_values(":name", string(&draft.display_name))
            .expression_attribute_values(":bio", string(&draft.bio))
            .expression_attribute_values(
                ":specs",
                AttributeValue::L(draft.specializations.iter().map(string).collect()),
            )
            .expression_attribute_values(
                ":amount",
                AttributeValue::N(draft.hourly_rate.amount.to_string()),
            )
            .expression_attribute_values(":currency", string(draft.hourly_rate.currency.code()))
            .expression_attribute_values(":tz", string(draft.time_zone.name()))
            .expression_attribute_values(":now", string(timestamp(now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::request("UpdateItem", e))?;
        parse_profile(&pk, output.attributes.unwrap_or_default())
    }

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
        let item: Item =
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

/// Busy time in the expert's partition: a booking or hold (with its buffers) or an imported
/// calendar event. Holds carry `expires_at` (epoch seconds) and stop counting at that instant,
/// whatever TTL has or has not deleted yet.
#[derive(Deserialize)]
struct BusyRecord {
    busy_start: DateTime<Utc>,
    busy_end: DateTime<Utc>,
    expires_at: Option<i64>,
}

/// Everything the slot engine needs about one expert.
pub struct ExpertSchedule {
    pub profile: ExpertProfile,
    pub settings: Option<AvailabilitySettings>,
    pub busy: Vec<Interval>,
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
            .expression_attribute_values(":from", string(keys::busy_ending_from(busy_from)))
            .into_paginator()
            .items()
            .send();
        let mut profile = None;
        let mut settings = None;
        let mut busy = Vec::new();
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
                busy_key if busy_key.starts_with(keys::BUSY_PREFIX) => {
                    let record: BusyRecord = serde_dynamo::from_item(item)
                        .map_err(|e| StoreError::corrupt(format!("{pk} {busy_key}"), e))?;
                    if record.expires_at.is_none_or(|at| at > now.timestamp()) {
                        busy.push(Interval {
                            start: record.busy_start,
                            end: record.busy_end,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(profile.map(|profile| ExpertSchedule {
            profile,
            settings,
            busy,
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

/// True when a transaction was cancelled because one of its conditions did not hold.
fn condition_failed<R>(error: &SdkError<TransactWriteItemsError, R>) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .any(|reason| reason.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}
