//! Availability use cases: an expert saves their settings; anyone lists an expert's free slots.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::slot_query::{HIDDEN_CALENDAR_UNREADABLE, Slot, SlotList, SlotQueryInput};
use super::{
    AvailabilityInput, AvailabilitySettings, DEFAULT_STEP_MINUTES, SlotRequest, free_slots,
    settings::MAX_BUFFER_MINUTES,
};
use crate::auth::{Caller, Group};
use crate::calendar::freshness::{self, CalendarVerdict};
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::ids::ExpertId;
use crate::store::dynamo::DynamoStore;

#[derive(Clone)]
pub struct AvailabilityService {
    store: DynamoStore,
    clock: Arc<dyn Clock>,
}

impl AvailabilityService {
    pub fn new(store: DynamoStore, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn save_settings(
        &self,
        caller: &Caller,
        input: AvailabilityInput,
    ) -> Result<AvailabilitySettings, ServiceError> {
        caller.require(Group::Experts)?;
        let settings = input.parse()?;
        let id = self
            .store
            .expert_id_of(&caller.user_id)
            .await?
            .ok_or(ServiceError::ProfileRequired)?;
        self.store
            .save_availability(id, &settings, self.clock.now())
            .await?;
        Ok(settings)
    }

    /// The first free slot of the expert's shortest duration in `window`, shown in `zone`.
    pub async fn next_free_slot(
        &self,
        id: ExpertId,
        window: (DateTime<Utc>, DateTime<Utc>),
        zone: Tz,
        now: DateTime<Utc>,
    ) -> Result<Option<Slot>, ServiceError> {
        let busy_from = window.0 - Duration::minutes(MAX_BUFFER_MINUTES);
        let Some(schedule) = self
            .store
            .expert_schedule(id, busy_from, now)
            .await?
            .filter(|s| s.calendar_verdict(now) != CalendarVerdict::Unreadable)
        else {
            return Ok(None);
        };
        let Some(settings) = schedule.settings else {
            return Ok(None);
        };
        let Some(&duration_minutes) = settings.slot_durations.first() else {
            return Ok(None);
        };
        let request = SlotRequest {
            from: window.0,
            to: window.1,
            duration_minutes,
            step_minutes: DEFAULT_STEP_MINUTES,
            now,
        };
        let slots = free_slots(
            schedule.profile.time_zone,
            &settings,
            &schedule.busy,
            &request,
        );
        Ok(slots.first().map(|slot| Slot::new(*slot, zone)))
    }

    /// The expert's free slots in the window, read with one Query. An expert without
    /// settings has no slots.
    pub async fn slots(&self, id: &str, query: SlotQueryInput) -> Result<SlotList, ServiceError> {
        let id: ExpertId = id.parse().map_err(|_| ServiceError::NotFound("expert"))?;
        let now = self.clock.now();
        // The window start is parsed before the read so the Query can skip older busy time;
        // a bad `from` is reported with the other problems below.
        let window_start = query
            .from
            .as_deref()
            .and_then(|f| chrono::DateTime::parse_from_rfc3339(f).ok())
            .map_or(now, |t| t.to_utc());
        // Busy time that ends up to one before-buffer ahead of the window still matters.
        let busy_from = window_start - Duration::minutes(MAX_BUFFER_MINUTES);
        let schedule = self
            .store
            .expert_schedule(id, busy_from, now)
            .await?
            .ok_or(ServiceError::NotFound("expert"))?;
        let settings = schedule
            .settings
            .unwrap_or_else(AvailabilitySettings::closed);
        let parsed = query.parse(now, schedule.profile.time_zone, &settings)?;
        // A calendar that cannot be read is never taken as free: no slots until it can.
        let hidden = freshness::verdict(&schedule.calendars, now) == CalendarVerdict::Unreadable;
        let slots = if hidden {
            Vec::new()
        } else {
            free_slots(
                schedule.profile.time_zone,
                &settings,
                &schedule.busy,
                &parsed.request(now),
            )
        };
        Ok(SlotList {
            expert_id: id,
            time_zone: parsed.display_zone,
            duration_minutes: parsed.duration_minutes,
            step_minutes: parsed.step_minutes,
            from: parsed.from,
            to: parsed.to,
            slots: slots
                .into_iter()
                .map(|slot| Slot::new(slot, parsed.display_zone))
                .collect(),
            hidden_because: hidden.then_some(HIDDEN_CALENDAR_UNREADABLE),
        })
    }
}
