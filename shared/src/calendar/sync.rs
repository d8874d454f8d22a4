//! One sync job: a connection's busy-source calendars read since their last token, their
//! events turned into busy time over the expert's horizon, and the changes stored in the
//! expert partition, where the slot search and the booking check read them; and the other
//! way, a booking's event written into the expert's booking-target calendar. The same rules
//! for every provider (`remote` speaks to each):
//!
//! * only a confirmed removal (a 404 member, a cancelled or removed event, an event now free,
//!   a member missing from a full listing) frees time; an error never blanks imported time,
//!   it marks the connection `degraded` (or `needs_reauth`);
//! * a sync that finds nothing changed writes nothing (but a read time now and then);
//! * our own events are never read back as busy time (the loop guard), and what the expert
//!   did to them (deleted, moved) flags the booking instead of changing it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::connection::{
    CalendarAttention, CalendarConnection, Conference, ConnectedCalendar, ConnectionStatus,
    Provider, SYNC_INTERVAL_MINUTES, WrittenEvent,
};
use super::freshness;
use super::ical::BusyRules;
use super::push::PushChannels;
use super::remote::{CalendarChanges, Failure, OwnChange, Remotes, Session, WriteFailure};
use super::service::SyncJob;
use crate::availability::Interval;
use crate::booking::{Appointment, AppointmentStatus, BookingService};
use crate::clock::Clock;
use crate::error::ServiceError;
use crate::ids::{AppointmentId, ConnectionId, ExpertId};
use crate::notifications::{CalendarAlert, NotificationService};
use crate::store::dynamo::{DynamoStore, SyncWrite};

/// Busy time is imported this far ahead when the expert set no horizon.
const DEFAULT_HORIZON_DAYS: i64 = 60;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub calendars: usize,
    /// Events read (fetched or listed) and stored or freed.
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

/// A failed write to the calendar: the job is tried again.
fn transient(why: impl std::fmt::Display) -> ServiceError {
    ServiceError::Queue(format!("calendar write failed: {why}"))
}

fn write_failed(failure: WriteFailure) -> ServiceError {
    match failure {
        WriteFailure::Changed => transient("the event changed again meanwhile"),
        WriteFailure::Gone => transient("the event is gone"),
        WriteFailure::Other(why) => transient(why),
    }
}

#[derive(Clone)]
pub struct CalendarSync {
    store: DynamoStore,
    remotes: Remotes,
    push: PushChannels,
    bookings: BookingService,
    notifications: NotificationService,
    clock: Arc<dyn Clock>,
}

impl CalendarSync {
    pub fn new(
        store: DynamoStore,
        (remotes, push): (Remotes, PushChannels),
        (bookings, notifications): (BookingService, NotificationService),
        clock: Arc<dyn Clock>,
    ) -> Self {
        CalendarSync {
            store,
            remotes,
            push,
            bookings,
            notifications,
            clock,
        }
    }

    /// The rules an expert's events are read by: their zone, [now, now + horizon], their
    /// addresses and their choices for tentative and out-of-office events.
    async fn rules_for<'a>(
        &self,
        connection: &'a CalendarConnection,
        now: DateTime<Utc>,
    ) -> Result<Option<(BusyRules<'a>, Option<DateTime<Utc>>)>, ServiceError> {
        let Some(schedule) = self
            .store
            .expert_schedule(connection.expert_id, now, now)
            .await?
        else {
            return Ok(None);
        };
        let horizon = schedule
            .settings
            .as_ref()
            .map_or(DEFAULT_HORIZON_DAYS, |s| i64::from(s.horizon_days));
        let read_at = schedule
            .calendars
            .iter()
            .find(|s| s.connection_id == connection.id)
            .and_then(|s| s.read_at);
        Ok(Some((
            BusyRules {
                zone: schedule.profile.time_zone,
                window: Interval {
                    start: now,
                    end: now + Duration::days(horizon),
                },
                own_addresses: &connection.own_addresses,
                tentative_blocks: connection.preferences.tentative_blocks,
                out_of_office_blocks: connection.preferences.out_of_office_blocks,
            },
            read_at,
        )))
    }

    /// Makes the booking's event in the expert's booking-target calendar match the
    /// appointment: written when confirmed (with an id derived from the appointment, so a
    /// retried job cannot duplicate it), rewritten under the ETag we know when moved, deleted
    /// when cancelled. An event the expert deleted is flagged on the appointment and never
    /// written again.
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
        if wanted && unchanged || !wanted && written.is_none() {
            return Ok(BookingPush::Nothing);
        }
        // The calendar the event lives in (once written) or goes to.
        let connection_id = match &written {
            Some(event) => Some(event.connection_id),
            None => self
                .store
                .connections_of(appointment.expert_id)
                .await?
                .into_iter()
                .find(|c| c.booking_target().is_some())
                .map(|c| c.id),
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
        let now = self.clock.now();
        let session = match self.remotes.session(&connection, &sealed, now).await {
            Ok(session) => session,
            // Refused access: nothing can be written until the expert connects again (they
            // are told by the sync); retrying would only fill the dead-letter queue.
            Err(Failure::Refused | Failure::TokenRejected) => {
                tracing::warn!(appointment_id = %appointment.id, "booking not written: the calendar refused our access");
                return Ok(BookingPush::Nothing);
            }
            Err(Failure::Transient { reason, .. }) => return Err(transient(reason)),
        };
        let Some((rules, _)) = self.rules_for(&connection, now).await? else {
            return Ok(BookingPush::Nothing);
        };
        let event = self.bookings.calendar_event(&appointment).await?;
        match (wanted, written) {
            (true, Some(written)) => {
                let at = written.location();
                let etag = match self
                    .remotes
                    .update(&session, at, Some(&written.etag), &event)
                    .await
                {
                    Err(WriteFailure::Changed) => {
                        // Changed in the calendar since: the booking's own move wins, unless
                        // the expert deleted the event.
                        match self
                            .remotes
                            .current(&session, at, &rules)
                            .await
                            .map_err(write_failed)?
                        {
                            Some((current, _)) => self
                                .remotes
                                .update(&session, at, Some(&current), &event)
                                .await
                                .map_err(write_failed)?,
                            None => return self.flag_deleted(&appointment, written).await,
                        }
                    }
                    Err(WriteFailure::Gone) => {
                        return self.flag_deleted(&appointment, written).await;
                    }
                    other => other.map_err(write_failed)?,
                };
                let event = WrittenEvent {
                    etag: String::new(),
                    ..written
                };
                self.record(&appointment, &session, event, etag, &rules)
                    .await?;
                Ok(BookingPush::Updated)
            }
            (true, None) => {
                let Some(calendar) = connection.booking_target() else {
                    return Ok(BookingPush::Nothing);
                };
                let made = self
                    .remotes
                    .create(
                        &session,
                        calendar,
                        &event,
                        connection.preferences.conferencing,
                    )
                    .await
                    .map_err(write_failed)?;
                let written = WrittenEvent {
                    connection_id,
                    calendar: (connection.provider != Provider::Caldav)
                        .then(|| calendar.remote_id.clone()),
                    href: made.key.clone(),
                    etag: String::new(),
                    sequence: appointment.revision,
                };
                if made.deleted {
                    return self.flag_deleted(&appointment, written).await;
                }
                if connection.provider == Provider::Microsoft {
                    self.store
                        .record_own_event(
                            (connection.expert_id, connection.id),
                            &calendar.id,
                            &made.key,
                            appointment.id,
                        )
                        .await?;
                }
                self.record(&appointment, &session, written, made.etag, &rules)
                    .await?;
                if let Some(result) = made.conference {
                    self.conference(&appointment, &connection, result).await?;
                }
                Ok(BookingPush::Created)
            }
            (false, Some(written)) => {
                let at = written.location();
                let mut etag = written.etag.clone();
                loop {
                    match self.remotes.delete(&session, at, &etag).await {
                        Ok(()) | Err(WriteFailure::Gone) => break,
                        Err(WriteFailure::Changed) => {
                            match self
                                .remotes
                                .current(&session, at, &rules)
                                .await
                                .map_err(write_failed)?
                            {
                                Some((current, _)) if current != etag => etag = current,
                                _ => break,
                            }
                        }
                        Err(other) => return Err(write_failed(other)),
                    }
                }
                if connection.provider == Provider::Microsoft
                    && let Some(calendar) = connection
                        .calendars
                        .iter()
                        .find(|c| Some(&c.remote_id) == written.calendar.as_ref())
                {
                    self.store
                        .forget_own_event(
                            (connection.expert_id, connection.id),
                            &calendar.id,
                            &written.href,
                        )
                        .await?;
                }
                self.store
                    .set_calendar_event(appointment.id, None, None)
                    .await?;
                Ok(BookingPush::Deleted)
            }
            (false, None) => Ok(BookingPush::Nothing),
        }
    }

    /// Stores where the event is and its ETag (read back when the provider did not say).
    async fn record(
        &self,
        appointment: &Appointment,
        session: &Session,
        mut event: WrittenEvent,
        etag: Option<String>,
        rules: &BusyRules<'_>,
    ) -> Result<(), ServiceError> {
        event.etag = match etag {
            Some(etag) => etag,
            None => self
                .remotes
                .current(session, event.location(), rules)
                .await
                .map_err(write_failed)?
                .map(|(etag, _)| etag)
                .unwrap_or_default(),
        };
        event.sequence = appointment.revision;
        self.store
            .set_calendar_event(appointment.id, Some(&event), None)
            .await?;
        Ok(())
    }

    /// The provider's meeting link becomes the appointment's (it survives reschedules); when
    /// none could be made the default link stays, the appointment says why and the expert is
    /// told, once.
    async fn conference(
        &self,
        appointment: &Appointment,
        connection: &CalendarConnection,
        result: Result<String, String>,
    ) -> Result<(), ServiceError> {
        let conference = match result {
            Ok(link) => Conference {
                provider: connection.preferences.conferencing,
                join_url: Some(link),
                failure: None,
            },
            Err(why) => Conference {
                provider: connection.preferences.conferencing,
                join_url: None,
                failure: Some(why),
            },
        };
        self.store
            .set_conference(appointment.id, &conference)
            .await?;
        if let Some(why) = &conference.failure {
            self.notifications
                .conferencing_failed(appointment, connection, why)
                .await?;
        }
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

    /// A booking event missing from a read: its appointment is flagged once the event itself
    /// is gone. Missing is not gone: Graph's delta names an event outside the round's window
    /// as removed, and a windowed view does not list a session that has ended.
    async fn flag_if_deleted(
        &self,
        session: &Session,
        id: AppointmentId,
        connection: ConnectionId,
        rules: &BusyRules<'_>,
    ) -> Result<(), ServiceError> {
        let Some((appointment, event)) = self.ours_to_check(id, connection).await? else {
            return Ok(());
        };
        let found = self
            .remotes
            .current(session, event.location(), rules)
            .await
            .map_err(write_failed)?;
        match found {
            Some(_) => Ok(()),
            None => self.flag_deleted(&appointment, event).await.map(drop),
        }
    }

    /// A booking event changed in the calendar (another ETag than ours): moved to other times,
    /// its appointment is flagged (the booking keeps its time); otherwise only its new ETag is
    /// kept. CalDAV lists only ETags, so the event is read first there.
    async fn flag_if_moved(
        &self,
        session: &Session,
        change: &OwnChange,
        connection: ConnectionId,
        rules: &BusyRules<'_>,
    ) -> Result<(), ServiceError> {
        let Some((appointment, mut event)) =
            self.ours_to_check(change.appointment, connection).await?
        else {
            return Ok(());
        };
        if event.etag == change.etag {
            return Ok(());
        }
        let (etag, span) = match change.span {
            Some(span) => (change.etag.clone(), Some(span)),
            None => match self
                .remotes
                .current(
                    session,
                    (event.calendar.as_deref().unwrap_or_default(), &change.key),
                    rules,
                )
                .await
                .map_err(write_failed)?
            {
                Some(found) => found,
                // Gone meanwhile: the removal shows in the next sync.
                None => return Ok(()),
            },
        };
        let booked = Interval {
            start: appointment.start,
            end: appointment.end,
        };
        let attention = match span {
            Some(span) if span == booked => None,
            Some(_) => Some(CalendarAttention::MovedInCalendar),
            None => {
                tracing::warn!(appointment_id = %appointment.id, "booking event unreadable");
                return Ok(());
            }
        };
        event.etag = etag;
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

    /// Reads every busy-source calendar of the connection (a refused access token is
    /// refreshed and the calendar read again, once), then keeps its push channels alive.
    pub async fn run(&self, job: &SyncJob) -> Result<SyncOutcome, ServiceError> {
        let Some((mut connection, sealed)) = self
            .store
            .connection(job.expert_id, job.connection_id)
            .await?
        else {
            return Ok(SyncOutcome::Gone);
        };
        let now = self.clock.now();
        let owner = (connection.expert_id, connection.id);
        let before = connection.clone();
        let Some((rules, read_at)) = self.rules_for(&before, now).await? else {
            return Ok(SyncOutcome::Gone);
        };
        let mut write = SyncWrite::default();
        let mut report = SyncReport::default();
        let mut own_removed = Vec::new();
        let mut own_changed = Vec::new();
        let mut failure = None;
        let mut session = match self.remotes.session(&connection, &sealed, now).await {
            Ok(session) => Some(session),
            Err(error) => {
                failure = Some(error);
                None
            }
        };
        for calendar in &mut connection.calendars {
            let Some(current) = &session else {
                break;
            };
            let result = if calendar.busy_source {
                report.calendars += 1;
                match self
                    .remotes
                    .read(&self.store, current, owner, calendar, &rules, now)
                    .await
                {
                    Err(Failure::TokenRejected) => {
                        self.remotes.tokens.forget(owner.1);
                        match self.remotes.session(&before, &sealed, now).await {
                            Ok(fresh) => {
                                let again = self
                                    .remotes
                                    .read(&self.store, &fresh, owner, calendar, &rules, now)
                                    .await;
                                session = Some(fresh);
                                // Refused twice, with a token just granted: the grant itself
                                // no longer reaches the calendar.
                                match again {
                                    Err(Failure::TokenRejected) => Err(Failure::Refused),
                                    other => other,
                                }
                            }
                            Err(error) => Err(error),
                        }
                    }
                    other => other,
                }
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
            Some(Failure::Refused | Failure::TokenRejected) => {
                // Only what was read before the refusal is lost; nothing is freed.
                connection.calendars = before.calendars.clone();
                write = SyncWrite::default();
                connection.status = ConnectionStatus::NeedsReauth;
                connection.last_error = Some(refusal_hint(connection.provider).into());
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
        if let (None, Some(session)) = (&failure, &session) {
            for appointment in own_removed {
                self.flag_if_deleted(session, appointment, connection.id, &rules)
                    .await?;
            }
            for change in &own_changed {
                self.flag_if_moved(session, change, connection.id, &rules)
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
        if let (SyncOutcome::Synced(_), Some(session)) = (&outcome, &session) {
            // Push is an accelerator: a channel that cannot be made or renewed now is tried
            // again at the next sync, and the schedule keeps reading meanwhile.
            if let Err(error) = self
                .push
                .maintain(&self.remotes, session, &connection, now, job.renew_push)
                .await
            {
                tracing::warn!(connection_id = %connection.id, error = %error, "push channels not maintained");
            }
        }
        self.alert_expert(&connection, &before, &outcome, now)
            .await?;
        Ok(outcome)
    }

    /// Tells the expert, once per episode, of a refused password or grant (at once: only they
    /// can fix it) or of a calendar unreadable for 10 minutes (a blip that heals emails
    /// nobody).
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

/// What the expert reads when their provider refused us.
fn refusal_hint(provider: Provider) -> &'static str {
    match provider {
        Provider::Caldav => {
            "the calendar server refused the password: connect again with a new app-specific password \
             (changing the Apple ID password revokes them all)"
        }
        Provider::Google => {
            "Google refused our access (revoked, expired, or unused for 6 months): connect the calendar again"
        }
        Provider::Microsoft => {
            "Microsoft refused our access (revoked or expired): connect the calendar again"
        }
    }
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
