//! One sync job: a connection's busy-source calendars read since their last token, their
//! events turned into busy time over the expert's horizon, and the changes stored in the
//! expert partition, where the slot search and the booking check read them.
//!
//! Rules: only a confirmed removal (a 404 member, an event now free, a member missing from a
//! full listing) frees time; an error never blanks imported time, it marks the connection
//! `degraded` (or `needs_reauth`). A sync that finds nothing changed writes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use reqwest::Url;

use super::caldav::{CalDav, CalDavAccount, CalDavError, WriteCondition};
use super::connection::{
    CalendarAttention, CalendarConnection, ConnectedCalendar, ConnectionStatus,
    SYNC_INTERVAL_MINUTES, WrittenEvent,
};
use super::freshness;
use super::ical::{self, BusyRules};
use super::secrets::{SealedSecret, SecretSealer};
use super::service::SyncJob;
use crate::availability::Interval;
use crate::booking::{Appointment, AppointmentStatus, BookingService};
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::ids::{AppointmentId, ConnectionId, ExpertId};
use crate::notifications::{CalendarAlert, NotificationService};
use crate::store::dynamo::{DynamoStore, ImportedEvent, SyncWrite};

/// Busy time is imported this far ahead when the expert set no horizon.
const DEFAULT_HORIZON_DAYS: i64 = 60;
/// Every event is read and expanded again this often, so recurrences reach the days the
/// sliding horizon newly opens.
const FULL_READ_EVERY_HOURS: i64 = 24;
/// Members per calendar-multiget.
const FETCH_CHUNK: usize = 50;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub calendars: usize,
    /// Events read (multiget) and stored or freed.
    pub fetched: usize,
    pub stored: usize,
    pub freed: usize,
    /// Objects that could not be read (malformed, too large, too many instances): kept as
    /// they were, with a warning.
    pub skipped: usize,
}

/// What pushing a booking to the expert's calendar did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookingPush {
    Nothing,
    Created,
    Updated,
    Deleted,
    /// The expert deleted the event: flagged on the appointment, not written again.
    Flagged,
}

/// The appointment whose booking event lives at `href` (`.../<apt_id>@expert-marketplace.ics`).
fn own_appointment(href: &Url) -> Option<AppointmentId> {
    let file = href.path_segments()?.next_back()?;
    let decoded = file.replace("%40", "@");
    decoded
        .strip_suffix(".ics")?
        .strip_suffix(ical::OWN_UID_SUFFIX)?
        .parse()
        .ok()
}

fn uid(appointment: &Appointment) -> String {
    format!("{}{}", appointment.id, ical::OWN_UID_SUFFIX)
}

/// A failed write to the calendar: the job is tried again.
fn transient(error: CalDavError) -> ServiceError {
    ServiceError::Queue(format!("calendar write failed: {error}"))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    Synced(SyncReport),
    /// The connection is gone (disconnected): nothing to do.
    Gone,
    /// Another sync of the same connection wrote first; this one wrote nothing.
    Superseded,
    NeedsReauth,
    /// Network error, timeout, 429 or 5xx: imported time kept, tried again later (not before
    /// `retry_after` when the server said so).
    Degraded {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
}

/// How long a failed job waits before its next try: 10 s, doubling with each receive, at most
/// 15 minutes, and never sooner than the server's Retry-After (at most 12 hours, SQS's limit).
pub fn retry_delay(
    receive_count: u32,
    retry_after: Option<std::time::Duration>,
) -> std::time::Duration {
    const FIRST: u64 = 10;
    const LONGEST_BACKOFF: u64 = 15 * 60;
    const LONGEST: u64 = 12 * 60 * 60;
    let doublings = receive_count.saturating_sub(1).min(16);
    let backoff = (FIRST << doublings).min(LONGEST_BACKOFF);
    let asked = retry_after.map_or(0, |d| d.as_secs());
    std::time::Duration::from_secs(backoff.max(asked).min(LONGEST))
}

#[derive(Clone)]
pub struct CalendarSync {
    store: DynamoStore,
    caldav: CalDav,
    sealer: SecretSealer,
    bookings: BookingService,
    notifications: NotificationService,
    clock: Arc<dyn Clock>,
}

/// Why reading a calendar failed.
enum Failure {
    Refused,
    Transient {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
}

impl Failure {
    fn transient(reason: impl ToString) -> Self {
        Failure::Transient {
            reason: reason.to_string(),
            retry_after: None,
        }
    }
}

impl From<CalDavError> for Failure {
    fn from(error: CalDavError) -> Self {
        match error {
            CalDavError::Unauthorized => Failure::Refused,
            CalDavError::Throttled { retry_after, .. } => Failure::Transient {
                reason: error.to_string(),
                retry_after,
            },
            other => Failure::transient(other),
        }
    }
}

impl CalendarSync {
    pub fn new(
        store: DynamoStore,
        caldav: CalDav,
        sealer: SecretSealer,
        (bookings, notifications): (BookingService, NotificationService),
        clock: Arc<dyn Clock>,
    ) -> Self {
        CalendarSync {
            store,
            caldav,
            sealer,
            bookings,
            notifications,
            clock,
        }
    }

    /// The connection's account, its password opened.
    async fn account_of(
        &self,
        connection: &CalendarConnection,
        sealed: &SealedSecret,
    ) -> Result<CalDavAccount, ServiceError> {
        let password = self
            .sealer
            .open(sealed, &connection.id.to_string())
            .await
            .map_err(|e| ServiceError::Secret(e.to_string()))?;
        let server_url = Url::parse(&connection.server_url)
            .map_err(|e| crate::store::StoreError::corrupt(connection.id.to_string(), e))?;
        Ok(CalDavAccount {
            server_url,
            username: connection.account.clone(),
            password,
        })
    }

    /// Makes the booking's event in the expert's booking-target calendar match the
    /// appointment: written when confirmed (`PUT <uid>.ics`, `If-None-Match: *`, so a retried
    /// job cannot duplicate it), rewritten under `If-Match` when moved, deleted when cancelled.
    /// An event the expert deleted is flagged on the appointment and never written again.
    pub async fn push_booking(&self, id: AppointmentId) -> Result<BookingPush, ServiceError> {
        let Some(appointment) = self.store.appointment(id).await? else {
            return Ok(BookingPush::Nothing);
        };
        let written = appointment.calendar_event.clone();
        // What the expert did in their calendar stands until the booking itself changes: a
        // deleted event is never written again, a moved one is overwritten only by a move or
        // an end of the booking (an explicit action).
        let unchanged = written
            .as_ref()
            .is_some_and(|event| event.sequence == appointment.revision);
        match appointment.calendar_attention {
            Some(CalendarAttention::DeletedInCalendar) => return Ok(BookingPush::Nothing),
            Some(CalendarAttention::MovedInCalendar) if unchanged => {
                return Ok(BookingPush::Nothing);
            }
            _ => {}
        }
        let wanted = matches!(
            appointment.status,
            AppointmentStatus::Confirmed | AppointmentStatus::Completed
        );
        // The calendar the event lives in (once written) or goes to.
        let connection_id = match &written {
            Some(event) => Some(event.connection_id),
            None if wanted => self
                .store
                .connections_of(appointment.expert_id)
                .await?
                .into_iter()
                .find(|c| c.booking_target().is_some())
                .map(|c| c.id),
            None => None,
        };
        let Some(connection_id) = connection_id else {
            return Ok(BookingPush::Nothing);
        };
        let Some((connection, sealed)) = self
            .store
            .connection(appointment.expert_id, connection_id)
            .await?
        else {
            // Disconnected: what was written stays in the calendar (documented).
            return Ok(BookingPush::Nothing);
        };
        let account = self.account_of(&connection, &sealed).await?;
        let outcome = match (wanted, written) {
            (true, Some(_)) if unchanged => BookingPush::Nothing,
            (true, Some(event)) => {
                let url =
                    Url::parse(&event.href).map_err(|e| ServiceError::Queue(e.to_string()))?;
                let ics = self.bookings.calendar_event(&appointment).await?;
                let etag = match self
                    .caldav
                    .put(
                        &account,
                        &url,
                        ics.clone(),
                        WriteCondition::Matches(&event.etag),
                    )
                    .await
                {
                    Err(CalDavError::PreconditionFailed) => {
                        // Changed in the calendar since: the booking's own move wins, unless
                        // the expert deleted the event.
                        match self.current_etag(&account, &url).await? {
                            Some(current) => self
                                .caldav
                                .put(&account, &url, ics, WriteCondition::Matches(&current))
                                .await
                                .map_err(transient)?,
                            None => {
                                return self.flag_deleted(&appointment, event).await;
                            }
                        }
                    }
                    other => other.map_err(transient)?,
                };
                self.record(&appointment, connection_id, url, etag, &account)
                    .await?;
                BookingPush::Updated
            }
            (true, None) => {
                let Some(calendar) = connection.booking_target() else {
                    return Ok(BookingPush::Nothing);
                };
                let url = Url::parse(&calendar.url)
                    .and_then(|base| base.join(&format!("{}.ics", uid(&appointment))))
                    .map_err(|e| ServiceError::Queue(e.to_string()))?;
                let ics = self.bookings.calendar_event(&appointment).await?;
                let etag = match self
                    .caldav
                    .put(&account, &url, ics, WriteCondition::Create)
                    .await
                {
                    // Written by an earlier try of this job: it is ours (the UID is the
                    // appointment's).
                    Err(CalDavError::PreconditionFailed) => None,
                    other => other.map_err(transient)?,
                };
                self.record(&appointment, connection_id, url, etag, &account)
                    .await?;
                BookingPush::Created
            }
            (false, Some(event)) => {
                let url =
                    Url::parse(&event.href).map_err(|e| ServiceError::Queue(e.to_string()))?;
                let mut etag = event.etag.clone();
                loop {
                    match self.caldav.delete(&account, &url, &etag).await {
                        Ok(()) | Err(CalDavError::NotFound) => break,
                        Err(CalDavError::PreconditionFailed) => {
                            match self.current_etag(&account, &url).await? {
                                Some(current) if current != etag => etag = current,
                                _ => break,
                            }
                        }
                        Err(other) => return Err(transient(other)),
                    }
                }
                self.store
                    .set_calendar_event(appointment.id, None, None)
                    .await?;
                BookingPush::Deleted
            }
            (false, None) => BookingPush::Nothing,
        };
        Ok(outcome)
    }

    async fn current_etag(
        &self,
        account: &CalDavAccount,
        url: &Url,
    ) -> Result<Option<String>, ServiceError> {
        let calendar = url
            .join("./")
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        Ok(self
            .caldav
            .fetch(account, &calendar, std::slice::from_ref(url))
            .await
            .map_err(transient)?
            .into_iter()
            .next()
            .map(|object| object.etag))
    }

    /// Stores where the event is and its ETag (read back when the server did not say).
    async fn record(
        &self,
        appointment: &Appointment,
        connection_id: ConnectionId,
        url: Url,
        etag: Option<String>,
        account: &CalDavAccount,
    ) -> Result<(), ServiceError> {
        let etag = match etag {
            Some(etag) => etag,
            None => self.current_etag(account, &url).await?.unwrap_or_default(),
        };
        let event = WrittenEvent {
            connection_id,
            href: url.to_string(),
            etag,
            sequence: appointment.revision,
        };
        self.store
            .set_calendar_event(appointment.id, Some(&event), None)
            .await?;
        Ok(())
    }

    /// The appointment behind one of our booking events that changed in the calendar, with
    /// the event as we wrote it, when it still holds its time through this connection and
    /// nothing is flagged yet.
    async fn ours_to_check(
        &self,
        id: AppointmentId,
        connection: ConnectionId,
    ) -> Result<Option<(Appointment, WrittenEvent)>, ServiceError> {
        let Some(appointment) = self.store.appointment(id).await? else {
            return Ok(None);
        };
        Ok(match appointment.calendar_event.clone() {
            Some(event)
                if event.connection_id == connection
                    && appointment.calendar_attention.is_none()
                    && appointment.status.holds_time() =>
            {
                Some((appointment, event))
            }
            _ => None,
        })
    }

    /// A booking event gone from the calendar: its appointment is flagged.
    async fn flag_if_deleted(
        &self,
        id: AppointmentId,
        connection: ConnectionId,
    ) -> Result<(), ServiceError> {
        match self.ours_to_check(id, connection).await? {
            Some((appointment, event)) => self.flag_deleted(&appointment, event).await.map(drop),
            None => Ok(()),
        }
    }

    /// A booking event changed in the calendar (another ETag than ours): read it; moved to
    /// other times, its appointment is flagged (the booking keeps its time); otherwise only
    /// its new ETag is kept.
    async fn flag_if_moved(
        &self,
        account: &CalDavAccount,
        (id, url, etag): &(AppointmentId, Url, String),
        connection: ConnectionId,
        rules: &BusyRules<'_>,
    ) -> Result<(), ServiceError> {
        let Some((appointment, mut event)) = self.ours_to_check(*id, connection).await? else {
            return Ok(());
        };
        if &event.etag == etag {
            return Ok(());
        }
        let calendar = url
            .join("./")
            .map_err(|e| ServiceError::Queue(e.to_string()))?;
        let fetched = self
            .caldav
            .fetch(account, &calendar, std::slice::from_ref(url))
            .await
            .map_err(transient)?;
        // Gone meanwhile: the removal shows in the next sync.
        let Some(object) = fetched.into_iter().next() else {
            return Ok(());
        };
        let booked = Interval {
            start: appointment.start,
            end: appointment.end,
        };
        let attention = match ical::own_event_span(&object.data, rules) {
            Ok(Some(span)) if span == booked => None,
            Ok(_) => Some(CalendarAttention::MovedInCalendar),
            Err(error) => {
                tracing::warn!(appointment_id = %appointment.id, error = %error, "booking event unreadable");
                return Ok(());
            }
        };
        event.etag = object.etag;
        self.store
            .set_calendar_event(appointment.id, Some(&event), attention)
            .await?;
        Ok(())
    }

    async fn flag_deleted(
        &self,
        appointment: &Appointment,
        event: WrittenEvent,
    ) -> Result<BookingPush, ServiceError> {
        self.store
            .set_calendar_event(
                appointment.id,
                Some(&event),
                Some(CalendarAttention::DeletedInCalendar),
            )
            .await?;
        Ok(BookingPush::Flagged)
    }

    pub async fn run(&self, job: &SyncJob) -> Result<SyncOutcome, ServiceError> {
        let Some((mut connection, sealed)) = self
            .store
            .connection(job.expert_id, job.connection_id)
            .await?
        else {
            return Ok(SyncOutcome::Gone);
        };
        let account = self.account_of(&connection, &sealed).await?;
        let now = self.clock.now();
        let Some(schedule) = self
            .store
            .expert_schedule(connection.expert_id, now, now)
            .await?
        else {
            return Ok(SyncOutcome::Gone);
        };
        let horizon = schedule
            .settings
            .as_ref()
            .map_or(DEFAULT_HORIZON_DAYS, |s| i64::from(s.horizon_days));
        let own_addresses = connection.own_addresses.clone();
        let rules = BusyRules {
            zone: schedule.profile.time_zone,
            window: Interval {
                start: now,
                end: now + Duration::days(horizon),
            },
            own_addresses: &own_addresses,
        };
        let mut write = SyncWrite::default();
        let mut report = SyncReport::default();
        let before = connection.clone();
        let owner = (connection.expert_id, connection.id);
        let mut own_removed = Vec::new();
        let mut own_changed = Vec::new();
        let mut failure = None;
        for calendar in &mut connection.calendars {
            let result = if calendar.busy_source {
                report.calendars += 1;
                self.read(&account, owner, calendar, &rules, now).await
            } else {
                self.forget(owner, calendar).await
            };
            match result {
                Ok(changes) => {
                    own_removed.extend(changes.own_removed);
                    own_changed.extend(changes.own_changed);
                    report.fetched += changes.fetched;
                    report.skipped += changes.skipped;
                    report.stored += changes.write.put.len();
                    report.freed += changes.write.deleted.len();
                    write.put.extend(changes.write.put);
                    write.deleted.extend(changes.write.deleted);
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        let outcome = match &failure {
            None => {
                connection.status = ConnectionStatus::Ok;
                connection.last_error = None;
                SyncOutcome::Synced(report)
            }
            Some(Failure::Refused) => {
                // Only what was read before the refusal is lost; nothing is freed.
                connection.calendars = before.calendars.clone();
                write = SyncWrite::default();
                connection.status = ConnectionStatus::NeedsReauth;
                connection.last_error = Some(
                    "the calendar server refused the password: connect again with a new app-specific password \
                     (changing the Apple ID password revokes them all)"
                        .into(),
                );
                SyncOutcome::NeedsReauth
            }
            Some(Failure::Transient {
                reason,
                retry_after,
            }) => {
                connection.calendars = before.calendars.clone();
                write = SyncWrite::default();
                connection.status = ConnectionStatus::Degraded;
                connection.last_error = Some(reason.clone());
                SyncOutcome::Degraded {
                    reason: reason.clone(),
                    retry_after: *retry_after,
                }
            }
        };
        // A failing episode starts at its first failure and ends at the next good read.
        connection.degraded_since = match connection.status {
            ConnectionStatus::Degraded => before.degraded_since.or(Some(now)),
            _ => None,
        };
        for appointment in own_removed {
            self.flag_if_deleted(appointment, connection.id).await?;
        }
        if failure.is_none() {
            for changed in &own_changed {
                self.flag_if_moved(&account, changed, connection.id, &rules)
                    .await?;
            }
        }
        let unchanged = write.put.is_empty()
            && write.deleted.is_empty()
            && connection.calendars == before.calendars
            && connection.status == before.status
            && connection.last_error == before.last_error
            && connection.degraded_since == before.degraded_since;
        if unchanged {
            // Nothing to write, but the read time once it grows old (so that a booking can
            // tell a healthy calendar from a sync that stopped running).
            let read_at = schedule
                .calendars
                .iter()
                .find(|s| s.connection_id == connection.id)
                .and_then(|s| s.read_at);
            if matches!(outcome, SyncOutcome::Synced(_)) && freshness::heartbeat_due(read_at, now) {
                self.store
                    .confirm_read(connection.expert_id, connection.id, now)
                    .await?;
            }
        } else {
            connection.last_synced_at = Some(now);
            connection.next_sync_at = now + Duration::minutes(SYNC_INTERVAL_MINUTES);
            if !self.store.apply_sync(&connection, write).await? {
                return Ok(SyncOutcome::Superseded);
            }
        }
        self.alert_expert(&connection, &before, &outcome, now)
            .await?;
        Ok(outcome)
    }

    /// Tells the expert, once per episode, of a refused password (at once: only they can fix
    /// it) or of a calendar unreadable for 10 minutes (a blip that heals emails nobody).
    async fn alert_expert(
        &self,
        connection: &CalendarConnection,
        before: &CalendarConnection,
        outcome: &SyncOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let (alert, occasion) = match (outcome, connection.degraded_since) {
            // The connection's version names the refusal.
            (SyncOutcome::NeedsReauth, _) if before.status != ConnectionStatus::NeedsReauth => (
                CalendarAlert::Refused,
                format!("reauth:{}:{}", connection.id, before.version),
            ),
            (SyncOutcome::Degraded { .. }, Some(since))
                if freshness::degraded_email_due(since, now) =>
            {
                (
                    CalendarAlert::Unreachable { since },
                    format!("degraded:{}:{}", connection.id, since.timestamp()),
                )
            }
            _ => return Ok(()),
        };
        self.notifications
            .calendar_alert(connection, &occasion, alert)
            .await?;
        Ok(())
    }

    /// Reads one calendar's changes since its token (or everything, for a first read, an
    /// invalid token, or the daily re-expansion) and turns them into busy-time writes.
    async fn read(
        &self,
        account: &CalDavAccount,
        (expert, connection): (ExpertId, ConnectionId),
        calendar: &mut ConnectedCalendar,
        rules: &BusyRules<'_>,
        now: DateTime<Utc>,
    ) -> Result<CalendarChanges, Failure> {
        let url = Url::parse(&calendar.url).map_err(Failure::transient)?;
        let expand_again = calendar
            .full_read_at
            .is_none_or(|at| now - at >= Duration::hours(FULL_READ_EVERY_HOURS));
        let incremental = match calendar.sync_token.as_deref() {
            Some(token) if !expand_again => {
                match self.caldav.changes(account, &url, Some(token)).await {
                    Ok(changes) => Some(changes),
                    Err(CalDavError::InvalidSyncToken) => None,
                    Err(error) => return Err(error.into()),
                }
            }
            _ => None,
        };
        let mut out = CalendarChanges::default();
        let (changes, full) = match incremental {
            Some(changes) => (changes, false),
            None => (self.caldav.changes(account, &url, None).await?, true),
        };
        let stored = if full {
            self.store
                .imported_events(expert, connection, &calendar.id)
                .await
                .map_err(Failure::transient)?
        } else {
            HashMap::new()
        };
        let mut to_fetch: Vec<Url> = Vec::new();
        for (member, etag) in &changes.changed {
            // Our own booking events block through the booking already: never read back as
            // busy time, only checked for a move by the expert.
            if let Some(appointment) = own_appointment(member) {
                out.own_changed
                    .push((appointment, member.clone(), etag.clone()));
                continue;
            }
            // A re-listing after a lost token skips what is stored already; the daily read
            // expands everything again.
            let known = stored.get(member.as_str()) == Some(etag);
            if !known || expand_again {
                to_fetch.push(member.clone());
            }
        }
        for member in &changes.removed {
            match own_appointment(member) {
                // One of our booking events, deleted by the expert: the booking decides.
                Some(appointment) => out.own_removed.push(appointment),
                None => out
                    .write
                    .deleted
                    .push((calendar.id.clone(), member.to_string())),
            }
        }
        if full {
            let listed: std::collections::HashSet<String> =
                changes.changed.iter().map(|(u, _)| u.to_string()).collect();
            for href in stored.keys().filter(|h| !listed.contains(*h)) {
                out.write.deleted.push((calendar.id.clone(), href.clone()));
            }
        }
        for chunk in to_fetch.chunks(FETCH_CHUNK) {
            for object in self.caldav.fetch(account, &url, chunk).await? {
                out.fetched += 1;
                match ical::busy_intervals(&object.data, rules) {
                    Ok(intervals) if intervals.is_empty() => out
                        .write
                        .deleted
                        .push((calendar.id.clone(), object.url.to_string())),
                    Ok(intervals) => out.write.put.push(ImportedEvent {
                        calendar_id: calendar.id.clone(),
                        href: object.url.to_string(),
                        etag: object.etag,
                        intervals,
                    }),
                    Err(error) => {
                        tracing::warn!(calendar = %calendar.id, error = %error, "calendar object skipped");
                        out.skipped += 1;
                    }
                }
            }
        }
        calendar.sync_token = changes.token;
        if full {
            calendar.full_read_at = Some(now);
        }
        Ok(out)
    }
}

impl CalendarSync {
    /// A calendar that no longer blocks time: what it imported goes, and a later return
    /// starts from a full read.
    async fn forget(
        &self,
        (expert, connection): (ExpertId, ConnectionId),
        calendar: &mut ConnectedCalendar,
    ) -> Result<CalendarChanges, Failure> {
        let stored = self
            .store
            .imported_events(expert, connection, &calendar.id)
            .await
            .map_err(Failure::transient)?;
        calendar.sync_token = None;
        calendar.full_read_at = None;
        let mut out = CalendarChanges::default();
        out.write.deleted = stored
            .into_keys()
            .map(|href| (calendar.id.clone(), href))
            .collect();
        Ok(out)
    }
}

#[derive(Default)]
struct CalendarChanges {
    write: SyncWrite,
    /// The appointments whose booking events disappeared from the calendar.
    own_removed: Vec<AppointmentId>,
    /// Our booking events that changed in the calendar: appointment, href, new ETag.
    own_changed: Vec<(AppointmentId, Url, String)>,
    fetched: usize,
    skipped: usize,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::retry_delay;

    #[test]
    fn retries_back_off_and_never_come_sooner_than_the_server_asked() {
        let seconds = |receives, asked: Option<u64>| {
            retry_delay(receives, asked.map(Duration::from_secs)).as_secs()
        };
        // Doubling from 10 s with each receive, capped at 15 minutes.
        assert_eq!(
            (1..=5).map(|n| seconds(n, None)).collect::<Vec<_>>(),
            [10, 20, 40, 80, 160]
        );
        assert_eq!(seconds(12, None), 900);
        assert_eq!(seconds(u32::MAX, None), 900);
        assert_eq!(seconds(0, None), 10);
        // Retry-After wins when it is longer, up to SQS's 12-hour limit.
        assert_eq!(seconds(1, Some(120)), 120);
        assert_eq!(seconds(4, Some(30)), 80);
        assert_eq!(seconds(1, Some(86_400)), 43_200);
    }
}
