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
    CalendarConnection, ConnectedCalendar, ConnectionStatus, SYNC_INTERVAL_MINUTES, WrittenEvent,
};
use super::ical::{self, BusyRules};
use super::secrets::{SealedSecret, SecretSealer};
use super::service::SyncJob;
use crate::availability::Interval;
use crate::booking::{Appointment, AppointmentStatus, BookingService};
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::ids::{AppointmentId, ConnectionId, ExpertId};
use crate::notifications::NotificationService;
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

/// Told to the expert on the appointment when they deleted its event from their calendar.
pub const DELETED_IN_CALENDAR: &str = "the event of this booking was deleted from your calendar; \
     the time stays reserved: cancel or reschedule the booking if you meant to";

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
    /// Network error, timeout, 429 or 5xx: imported time kept, tried again on schedule.
    Degraded(String),
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

/// What reading one calendar produced.
enum Failure {
    Refused,
    Transient(String),
}

impl From<CalDavError> for Failure {
    fn from(error: CalDavError) -> Self {
        match error {
            CalDavError::Unauthorized => Failure::Refused,
            other => Failure::Transient(other.to_string()),
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
        if appointment.calendar_attention.is_some() {
            return Ok(BookingPush::Nothing);
        }
        let wanted = matches!(
            appointment.status,
            AppointmentStatus::Confirmed | AppointmentStatus::Completed
        );
        let written = appointment.calendar_event.clone();
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
            (true, Some(event)) if event.sequence == appointment.revision => BookingPush::Nothing,
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

    /// A booking event gone from the calendar: flags its appointment if we wrote its event
    /// through this connection and it still holds its time.
    async fn flag_if_ours(
        &self,
        id: AppointmentId,
        connection: ConnectionId,
    ) -> Result<(), ServiceError> {
        let Some(appointment) = self.store.appointment(id).await? else {
            return Ok(());
        };
        match appointment.calendar_event.clone() {
            Some(event)
                if event.connection_id == connection
                    && appointment.calendar_attention.is_none()
                    && appointment.status.holds_time() =>
            {
                self.flag_deleted(&appointment, event).await.map(drop)
            }
            _ => Ok(()),
        }
    }

    async fn flag_deleted(
        &self,
        appointment: &Appointment,
        event: WrittenEvent,
    ) -> Result<BookingPush, ServiceError> {
        self.store
            .set_calendar_event(appointment.id, Some(&event), Some(DELETED_IN_CALENDAR))
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
        let own_addresses: Vec<String> = [connection.account.clone()]
            .into_iter()
            .filter(|a| a.contains('@'))
            .collect();
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
        let outcome = match failure {
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
            Some(Failure::Transient(why)) => {
                connection.calendars = before.calendars.clone();
                write = SyncWrite::default();
                connection.status = ConnectionStatus::Degraded;
                connection.last_error = Some(why.clone());
                SyncOutcome::Degraded(why)
            }
        };
        for appointment in own_removed {
            self.flag_if_ours(appointment, connection.id).await?;
        }
        let unchanged = write.put.is_empty()
            && write.deleted.is_empty()
            && connection.calendars == before.calendars
            && connection.status == before.status
            && connection.last_error == before.last_error;
        if unchanged {
            return Ok(outcome);
        }
        connection.last_synced_at = Some(now);
        connection.next_sync_at = now + Duration::minutes(SYNC_INTERVAL_MINUTES);
        if !self.store.apply_sync(&connection, write).await? {
            return Ok(SyncOutcome::Superseded);
        }
        // The refusal is new: the expert hears of it once (the connection's version names it).
        if outcome == SyncOutcome::NeedsReauth && before.status != ConnectionStatus::NeedsReauth {
            let occasion = format!("reauth:{}:{}", connection.id, before.version);
            self.notifications
                .calendar_refused(&connection, &occasion)
                .await?;
        }
        Ok(outcome)
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
        let url = Url::parse(&calendar.url).map_err(|e| Failure::Transient(e.to_string()))?;
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
                .map_err(|e| Failure::Transient(e.to_string()))?
        } else {
            HashMap::new()
        };
        let mut to_fetch: Vec<Url> = Vec::new();
        // Our own booking events block through the booking already: never read back.
        for (member, etag) in changes
            .changed
            .iter()
            .filter(|(m, _)| own_appointment(m).is_none())
        {
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
            .map_err(|e| Failure::Transient(e.to_string()))?;
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
    fetched: usize,
    skipped: usize,
}
