//! Expert use cases: save one's profile and availability, read a public profile.

use std::sync::Arc;

use serde::Serialize;

use crate::auth::{Caller, Group};
use chrono_tz::Tz;
use futures_util::{StreamExt, stream};

use crate::availability::{AvailabilityService, AvailabilitySettings, Slot};
use crate::booking::{PageInput, ReviewPage};
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::experts::{ExpertProfile, ProfileInput, SearchInput, SearchResults};
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
        if let Some(email) = &caller.email {
            self.store.remember_email(owner, email).await?;
        }
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

    /// An expert's reviews, newest first (public).
    pub async fn reviews(&self, id: &str, page: PageInput) -> Result<ReviewPage, ServiceError> {
        let id: ExpertId = id.parse().map_err(|_| ServiceError::NotFound("expert"))?;
        let (limit, after) = page.parse()?;
        let (reviews, more) = self.store.reviews(id, after.as_deref(), limit).await?;
        // An empty page says nothing of whether the expert exists; a missing one is a 404.
        if reviews.is_empty() && self.store.profile(id).await?.is_none() {
            return Err(ServiceError::NotFound("expert"));
        }
        let next_cursor = reviews.last().filter(|_| more).map(|(key, _)| key.clone());
        Ok(ReviewPage {
            reviews: reviews.into_iter().map(|(_, review)| review).collect(),
            next_cursor,
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

/// Expert search. With an availability window each candidate's schedule is read (one Query
/// each, a few at a time) and only experts with a free slot are kept.
#[derive(Clone)]
pub struct SearchService {
    store: DynamoStore,
    availability: AvailabilityService,
    clock: Arc<dyn Clock>,
}

/// Index entries one search request examines at most before it answers with a cursor.
const MAX_EXAMINED: usize = 200;
/// Schedules read at once while filtering by availability.
const SCHEDULE_READS_IN_FLIGHT: usize = 8;

impl SearchService {
    pub fn new(
        store: DynamoStore,
        availability: AvailabilityService,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            availability,
            clock,
        }
    }

    pub async fn search(&self, input: SearchInput) -> Result<SearchResults, ServiceError> {
        let now = self.clock.now();
        let query = input.parse(now)?;
        let mut results = Vec::with_capacity(query.limit);
        let mut after = query.after.clone();
        let mut examined = 0;
        loop {
            let wanted = query.limit - results.len();
            let page_size = if query.window.is_some() {
                wanted * 2
            } else {
                wanted
            };
            let (entries, more) = self
                .store
                .search_page(&query, after.as_ref(), page_size.min(100))
                .await?;
            let next_slots: Vec<Option<Slot>> = match query.window {
                None => vec![None; entries.len()],
                Some(window) => {
                    let candidates: Vec<(ExpertId, Tz)> = entries
                        .iter()
                        .map(|e| (e.id, query.display_zone.unwrap_or(e.time_zone)))
                        .collect();
                    stream::iter(candidates)
                        .map(|(id, zone)| self.availability.next_free_slot(id, window, zone, now))
                        .buffered(SCHEDULE_READS_IN_FLIGHT)
                        .collect::<Vec<_>>()
                        .await
                        .into_iter()
                        .collect::<Result<_, _>>()?
                }
            };
            let count = entries.len();
            for (index, (mut entry, next_free_slot)) in
                entries.into_iter().zip(next_slots).enumerate()
            {
                examined += 1;
                after = Some(entry.cursor.clone());
                if query.window.is_some() && next_free_slot.is_none() {
                    continue;
                }
                entry.next_free_slot = next_free_slot;
                results.push(entry);
                if results.len() == query.limit {
                    let maybe_more = more || index + 1 < count;
                    return Ok(SearchResults {
                        results,
                        next_cursor: after.filter(|_| maybe_more).map(|c| c.encode()),
                    });
                }
            }
            if !more || count == 0 {
                return Ok(SearchResults {
                    results,
                    next_cursor: None,
                });
            }
            if examined >= MAX_EXAMINED {
                return Ok(SearchResults {
                    results,
                    next_cursor: after.map(|c| c.encode()),
                });
            }
        }
    }
}
