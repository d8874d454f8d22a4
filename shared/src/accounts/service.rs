//! Account use cases: read and save one's own account settings.

use std::sync::Arc;

use crate::accounts::{Account, AccountInput};
use crate::auth::Caller;
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::store::dynamo::DynamoStore;

#[derive(Clone)]
pub struct AccountService {
    store: DynamoStore,
    clock: Arc<dyn Clock>,
}

impl AccountService {
    pub fn new(store: DynamoStore, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn account(&self, caller: &Caller) -> Result<Account, ServiceError> {
        let stored = self.store.account(&caller.user_id).await?;
        Ok(Account::new(caller, stored))
    }

    pub async fn save_account(
        &self,
        caller: &Caller,
        input: AccountInput,
    ) -> Result<Account, ServiceError> {
        let draft = input.parse()?;
        let stored = self
            .store
            .save_account(
                &caller.user_id,
                caller.email.as_deref(),
                &draft,
                self.clock.now(),
            )
            .await?;
        Ok(Account::new(caller, Some(stored)))
    }
}
