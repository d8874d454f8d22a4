//! Expert use cases: save one's profile and availability, read a public profile.

use std::sync::Arc;

use serde::Serialize;

use crate::auth::{Caller, Group};
use crate::availability::AvailabilitySettings;
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::experts::{ExpertProfile, ProfileInput};
use crate::ids::ExpertId;
use crate::store::dynamo::DynamoStore;

/// The public view of an expert: profile and availability settings, no owner, no secrets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublicExpert {
    #[serde(flatten)]
    pub profile: ExpertProfile,
    pub availability: Option<AvailabilitySettings>,
}

#[derive(Clone)]
pub struct ExpertService {
    store: DynamoStore,
    clock: Arc<dyn Clock>,
}

impl ExpertService {
    pub fn new(store: DynamoStore, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Creates the caller's profile on first call, replaces its fields afterwards.
    pub async fn save_profile(
        &self,
        caller: &Caller,
        input: ProfileInput,
    ) -> Result<ExpertProfile, ServiceError> {
        caller.require(Group::Experts)?;
        let draft = input.parse()?;
        let now = self.clock.now();
        let owner = &caller.user_id;
        // Two rounds at most: a concurrent first save can win the link between our read and
        // our create, and then we update the profile it created.
        for _ in 0..2 {
            if let Some(id) = self.store.expert_id_of(owner).await? {
                return Ok(self.store.update_profile(id, owner, &draft, now).await?);
            }
            if let Some(profile) = self.store.create_profile(owner, &draft, now).await? {
                tracing::info!(expert_id = %profile.id, "expert profile created");
                return Ok(profile);
            }
        }
        Err(ServiceError::Store(crate::store::StoreError::corrupt(
            owner.as_str(),
            "account links no profile although the link write was refused",
        )))
    }

    /// Anyone may read a profile; an id that is malformed or unknown is simply not found.
    pub async fn public_profile(&self, id: &str) -> Result<PublicExpert, ServiceError> {
        let id: ExpertId = id.parse().map_err(|_| ServiceError::NotFound("expert"))?;
        let (profile, availability) = self
            .store
            .expert(id)
            .await?
            .ok_or(ServiceError::NotFound("expert"))?;
        Ok(PublicExpert {
            profile,
            availability,
        })
    }

    /// The caller's own profile.
    pub async fn own_profile(&self, caller: &Caller) -> Result<PublicExpert, ServiceError> {
        caller.require(Group::Experts)?;
        let id = self
            .store
            .expert_id_of(&caller.user_id)
            .await?
            .ok_or(ServiceError::NotFound("expert profile"))?;
        self.public_profile(&id.to_string()).await
    }
}
