//! The services a function needs, built once per cold start from the store and the clock.

use std::sync::Arc;

use crate::accounts::AccountService;
use crate::availability::AvailabilityService;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Settings};
use crate::experts::{ExpertService, SearchService};
use crate::store::dynamo::DynamoStore;

#[derive(Clone)]
pub struct Services {
    pub accounts: AccountService,
    pub availability: AvailabilityService,
    pub experts: ExpertService,
    pub search: SearchService,
}

impl Services {
    pub fn new(store: DynamoStore, clock: Arc<dyn Clock>) -> Self {
        let availability = AvailabilityService::new(store.clone(), clock.clone());
        Services {
            accounts: AccountService::new(store.clone(), clock.clone()),
            search: SearchService::new(store.clone(), availability.clone(), clock.clone()),
            availability,
            experts: ExpertService::new(store, clock),
        }
    }

    /// Production wiring: AWS clients from the standard chain, the system clock.
    pub async fn from_settings(settings: &Settings) -> Self {
        let sdk = config::aws_sdk_config().await;
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            settings.table_name.clone(),
        );
        Services::new(store, Arc::new(SystemClock))
    }
}
