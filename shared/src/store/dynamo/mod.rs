//! The DynamoDB adapter: records (the stored shapes), keys, and the requests of each entity.

mod accounts;
mod appointments;
mod calendars;
mod conversation;
mod events;
mod experts;
pub mod keys;
mod outbox;
mod payments;

pub use appointments::{BookOutcome, DashboardOwner, DueCursor};
pub use calendars::{ImportedEvent, OAuthState, PushLookup, SyncWrite};
pub use experts::ExpertSchedule;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::store::StoreError;

/// The table and the client to reach it; cheap to clone, built once per cold start.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One item read consistently and parsed as `R`; `None` when there is none.
    async fn get_record<R: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<R>, StoreError> {
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
        output
            .item
            .map(|item| serde_dynamo::from_item(item).map_err(|e| StoreError::corrupt(pk, e)))
            .transpose()
    }
}

fn string(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A conditional UpdateItem: `Ok(false)` when its condition did not hold.
fn conditional<T>(
    result: Result<T, SdkError<UpdateItemError, HttpResponse>>,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::request("UpdateItem", e)),
    }
}
