//! Account items (`USER#<sub>` / `ACCOUNT`). The item also links a user to their expert
//! profile (`expert_id`), so `/v1/experts/me` resolves with one GetItem.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{DynamoStore, keys, string};
use crate::accounts::{AccountDraft, StoredAccount};
use crate::ids::{ExpertId, UserId};
use crate::store::StoreError;

#[derive(Deserialize)]
struct AccountRecord {
    email: Option<String>,
    display_name: Option<String>,
    time_zone: Option<String>,
    phone: Option<String>,
    sms_opt_in: Option<bool>,
    expert_id: Option<ExpertId>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl AccountRecord {
    fn into_stored(self, key: &str) -> Result<StoredAccount, StoreError> {
        let settings = match (self.display_name, self.time_zone) {
            (Some(display_name), Some(time_zone)) => Some(AccountDraft {
                display_name,
                time_zone: time_zone
                    .parse()
                    .map_err(|e| StoreError::corrupt(key, format!("time_zone: {e}")))?,
                phone: self.phone,
                sms_opt_in: self.sms_opt_in.unwrap_or(false),
            }),
            _ => None,
        };
        Ok(StoredAccount {
            email: self.email,
            settings,
            expert_id: self.expert_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl DynamoStore {
    pub async fn account(&self, user: &UserId) -> Result<Option<StoredAccount>, StoreError> {
        let pk = keys::user(user);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, string(&pk))
            .key(keys::SK, string(keys::ACCOUNT))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::request("GetItem", e))?;
        output.item.map(|item| parse_account(&pk, item)).transpose()
    }

    /// Writes the account settings, leaving other attributes of the item (the expert link) alone.
    pub async fn save_account(
        &self,
        user: &UserId,
        email: Option<&str>,
        draft: &AccountDraft,
        now: DateTime<Utc>,
    ) -> Result<StoredAccount, StoreError> {
        let pk = keys::user(user);
        let mut set = vec![
            "entity = :entity",
            "user_id = :user_id",
            "display_name = :display_name",
            "time_zone = :time_zone",
            "sms_opt_in = :sms",
            "updated_at = :now",
            "created_at = if_not_exists(created_at, :now)",
        ];
        let mut values = HashMap::from([
            (":entity".to_owned(), string("account")),
            (":user_id".to_owned(), string(user.as_str())),
            (":display_name".to_owned(), string(&draft.display_name)),
            (":time_zone".to_owned(), string(draft.time_zone.name())),
            (":sms".to_owned(), AttributeValue::Bool(draft.sms_opt_in)),
            (":now".to_owned(), string(timestamp(now))),
        ]);
        if let Some(email) = email {
            set.push("email = :email");
            values.insert(":email".to_owned(), string(email));
        }
        let mut expression = format!("SET {}", set.join(", "));
        match &draft.phone {
            Some(phone) => {
                expression.push_str(", phone = :phone");
                values.insert(":phone".to_owned(), string(phone));
            }
            None => expression.push_str(" REMOVE phone"),
        }
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(&pk))
            .key(keys::SK, string(keys::ACCOUNT))
            .update_expression(expression)
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::request("UpdateItem", e))?;
        parse_account(&pk, output.attributes.unwrap_or_default())
    }

    /// Keeps the address from the user's token on their account, so that others' invites can
    /// name them.
    pub async fn remember_email(&self, user: &UserId, email: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, string(keys::user(user)))
            .key(keys::SK, string(keys::ACCOUNT))
            .update_expression("SET email = :email, entity = :entity, user_id = :user")
            .expression_attribute_values(":email", string(email))
            .expression_attribute_values(":entity", string("account"))
            .expression_attribute_values(":user", string(user.as_str()))
            .send()
            .await
            .map_err(|e| StoreError::request("UpdateItem", e))?;
        Ok(())
    }

    /// The expert profile this user owns, if any.
    pub async fn expert_id_of(&self, user: &UserId) -> Result<Option<ExpertId>, StoreError> {
        Ok(self.account(user).await?.and_then(|a| a.expert_id))
    }
}

fn parse_account(
    key: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<StoredAccount, StoreError> {
    serde_dynamo::from_item::<_, AccountRecord>(item)
        .map_err(|e| StoreError::corrupt(key, e))?
        .into_stored(key)
}

/// Stored timestamps: RFC 3339 UTC with milliseconds, fixed width so they also sort as text.
pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
