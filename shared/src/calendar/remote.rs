//! The providers behind one interface for the sync: a session per connection (a CalDAV
//! account, or an OAuth access token), reading one calendar's changes into busy-time writes,
//! and writing our booking events. What differs per provider lives here and in its client
//! module; the rules (what frees time, the loop guard, the 412 rule) are the sync's.

use std::collections::{HashMap, HashSet};

use aws_lc_rs::digest;
use chrono::{DateTime, Duration, Utc};
use reqwest::Url;

use super::caldav::{CalDav, CalDavAccount, CalDavError, WriteCondition};
use super::connection::{CalendarConnection, Conferencing, ConnectedCalendar, Provider};
use super::event::{BookingEvent, EventBusy};
use super::google::{self, GoogleCalendar, Meet};
use super::graph::{self, Graph};
use super::ical::{self, BusyRules};
use super::oauth::{AccessTokens, TokenError};
use super::rest::ProviderError;
use super::secrets::{SealedSecret, SecretSealer};
use crate::availability::{Interval, MAX_HORIZON_DAYS};
use crate::ids::{AppointmentId, ConnectionId, ExpertId};
use crate::store::dynamo::{DynamoStore, ImportedEvent, SyncWrite};

/// Every event is read and expanded again this often, so recurrences reach the days the
/// sliding horizon newly opens.
pub const FULL_READ_EVERY_HOURS: i64 = 24;
/// How far a Graph delta round reaches: it keeps its first request's window until the daily
/// read starts the next, so it spans any horizon from then, and a margin, to hold every
/// booking made during it.
const DELTA_ROUND_DAYS: i64 = MAX_HORIZON_DAYS + 2;
/// Members per calendar-multiget.
const FETCH_CHUNK: usize = 50;
/// A Meet link is asked for again this many times, this far apart, before we give up on it.
const MEET_POLLS: u32 = 6;
const MEET_POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(400);

/// Why reading a calendar failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// The password or the grant was refused: only the expert can fix it.
    Refused,
    /// The provider refused the access token (401): refresh it and try again once.
    TokenRejected,
    Transient {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
}

impl Failure {
    pub(super) fn transient(reason: impl ToString) -> Self {
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

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::Unauthorized => Failure::TokenRejected,
            // Scopes taken away, calendar access revoked.
            ProviderError::Refused { status: 403, .. } => Failure::Refused,
            ProviderError::Throttled { retry_after, .. } => Failure::Transient {
                reason: error.to_string(),
                retry_after,
            },
            other => Failure::transient(other),
        }
    }
}

impl From<TokenError> for Failure {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Revoked => Failure::Refused,
            TokenError::Transient(why) => Failure::transient(why),
        }
    }
}

/// One of our booking events, changed in the calendar: how it looks now.
#[derive(Debug)]
pub(super) struct OwnChange {
    pub appointment: AppointmentId,
    pub key: String,
    pub etag: String,
    /// Its time as listed (Google, Microsoft); `None`: read it to know (CalDAV lists ETags).
    pub span: Option<Interval>,
}

/// What reading one calendar produced.
#[derive(Default)]
pub(super) struct CalendarChanges {
    pub write: SyncWrite,
    /// The appointments whose booking events disappeared from the calendar.
    pub own_removed: Vec<AppointmentId>,
    pub own_changed: Vec<OwnChange>,
    pub fetched: usize,
    pub skipped: usize,
}

impl CalendarChanges {
    fn delete(&mut self, calendar: &ConnectedCalendar, key: String) {
        self.write.deleted.push((calendar.id.clone(), key));
    }

    /// Takes listed events in: busy ones stored (unless unchanged in a full listing that
    /// needs no re-expansion), free ones freed, ours noted, unreadable ones skipped and kept.
    /// A full listing (`stored` given) frees every stored event it no longer holds as busy.
    fn absorb(
        &mut self,
        calendar: &ConnectedCalendar,
        listed: impl IntoIterator<Item = (String, String, EventBusy)>,
        stored: Option<&HashMap<String, String>>,
        expand_again: bool,
    ) {
        let mut kept = HashSet::new();
        for (key, etag, busy) in listed {
            match busy {
                EventBusy::Busy(intervals) => {
                    let unchanged = !expand_again
                        && stored.is_some_and(|stored| stored.get(&key) == Some(&etag));
                    if !unchanged {
                        self.write.put.push(ImportedEvent {
                            calendar_id: calendar.id.clone(),
                            href: key.clone(),
                            etag,
                            intervals,
                        });
                    }
                    kept.insert(key);
                }
                EventBusy::Free if stored.is_none() => self.delete(calendar, key),
                EventBusy::Free => {}
                EventBusy::Own {
                    appointment,
                    span: None,
                } => self.own_removed.push(appointment),
                EventBusy::Own {
                    appointment,
                    span: Some(span),
                } => self.own_changed.push(OwnChange {
                    appointment,
                    key,
                    etag,
                    span: Some(span),
                }),
                EventBusy::Unreadable(why) => {
                    tracing::warn!(calendar = %calendar.id, error = %why, "calendar event skipped");
                    self.skipped += 1;
                    kept.insert(key);
                }
            }
        }
        if let Some(stored) = stored {
            for key in stored.keys().filter(|k| !kept.contains(*k)) {
                self.delete(calendar, key.clone());
            }
        }
    }
}

/// How we act on one connection's account.
pub(super) enum Session {
    CalDav(CalDavAccount),
    Google(String),
    Microsoft(String),
}

/// The booking event as written: where it is, its version, and the meeting link the provider
/// made for it (or why not).
pub(super) struct Written {
    pub key: String,
    pub etag: Option<String>,
    pub conference: Option<Result<String, String>>,
    /// Made by an earlier try whose answer was lost, and deleted by the expert since (Google
    /// keeps a deleted event's id, answering it as `cancelled`).
    pub deleted: bool,
}

/// Why a write to the calendar did not happen.
pub(super) enum WriteFailure {
    /// The event changed since we wrote it (412).
    Changed,
    /// The event is not there.
    Gone,
    Other(String),
}

impl From<CalDavError> for WriteFailure {
    fn from(error: CalDavError) -> Self {
        match error {
            CalDavError::PreconditionFailed => WriteFailure::Changed,
            CalDavError::NotFound => WriteFailure::Gone,
            other => WriteFailure::Other(other.to_string()),
        }
    }
}

impl From<ProviderError> for WriteFailure {
    fn from(error: ProviderError) -> Self {
        match error {
            ProviderError::PreconditionFailed => WriteFailure::Changed,
            ProviderError::NotFound => WriteFailure::Gone,
            other => WriteFailure::Other(other.to_string()),
        }
    }
}

/// The provider clients, built once per cold start.
#[derive(Clone)]
pub struct Remotes {
    pub caldav: CalDav,
    pub google: Option<GoogleCalendar>,
    pub graph: Option<Graph>,
    pub tokens: AccessTokens,
    pub sealer: SecretSealer,
}

fn not_configured(provider: Provider) -> Failure {
    Failure::transient(format!("{} is not configured here", provider.label()))
}

impl Remotes {
    pub(super) fn google(&self) -> Result<&GoogleCalendar, Failure> {
        self.google
            .as_ref()
            .ok_or_else(|| not_configured(Provider::Google))
    }

    pub(super) fn graph(&self) -> Result<&Graph, Failure> {
        self.graph
            .as_ref()
            .ok_or_else(|| not_configured(Provider::Microsoft))
    }

    /// The connection's session: its password opened, or a live access token.
    pub(super) async fn session(
        &self,
        connection: &CalendarConnection,
        sealed: &SealedSecret,
        now: DateTime<Utc>,
    ) -> Result<Session, Failure> {
        match connection.provider {
            Provider::Caldav => {
                let password = self
                    .sealer
                    .open(sealed, &connection.id.to_string())
                    .await
                    .map_err(Failure::transient)?;
                let server_url = connection
                    .server_url
                    .as_deref()
                    .and_then(|u| Url::parse(u).ok())
                    .ok_or_else(|| Failure::transient("the connection has no server URL"))?;
                Ok(Session::CalDav(CalDavAccount {
                    server_url,
                    username: connection.account.clone(),
                    password,
                }))
            }
            Provider::Google => Ok(Session::Google(
                self.tokens.token(connection, sealed, now).await?,
            )),
            Provider::Microsoft => Ok(Session::Microsoft(
                self.tokens.token(connection, sealed, now).await?,
            )),
        }
    }

    /// Reads one calendar's changes since its token (or everything: a first read, an
    /// expired token, the daily re-expansion) and turns them into busy-time writes.
    pub(super) async fn read(
        &self,
        store: &DynamoStore,
        session: &Session,
        owner: (ExpertId, ConnectionId),
        calendar: &mut ConnectedCalendar,
        rules: &BusyRules<'_>,
        now: DateTime<Utc>,
    ) -> Result<CalendarChanges, Failure> {
        let expand_again = calendar
            .full_read_at
            .is_none_or(|at| now - at >= Duration::hours(FULL_READ_EVERY_HOURS));
        let calendar_id = calendar.id.clone();
        let stored = || imported(store, owner, &calendar_id);
        let changes = match session {
            Session::CalDav(account) => {
                self.read_caldav(account, calendar, rules, (expand_again, now), stored)
                    .await?
            }
            Session::Google(token) => {
                let client = self.google()?;
                let listing = match calendar.sync_token.as_deref() {
                    Some(sync) if !expand_again => {
                        match client
                            .list(token, &calendar.remote_id, Some(sync), now)
                            .await
                        {
                            Err(ProviderError::SyncStateExpired) => None,
                            other => Some(other?),
                        }
                    }
                    _ => None,
                };
                let (listing, full) = match listing {
                    Some(listing) => (listing, None),
                    // A day back: what started yesterday and still runs blocks too.
                    None => (
                        client
                            .list(token, &calendar.remote_id, None, now - Duration::days(1))
                            .await?,
                        Some(stored().await?),
                    ),
                };
                let mut out = CalendarChanges {
                    fetched: listing.events.len(),
                    ..CalendarChanges::default()
                };
                out.absorb(
                    calendar,
                    listing.events.iter().map(|event| {
                        (
                            event.id.clone(),
                            event.etag.clone(),
                            google::busy_of(event, rules),
                        )
                    }),
                    full.as_ref(),
                    expand_again,
                );
                calendar.sync_token = listing.sync_token;
                if full.is_some() {
                    calendar.full_read_at = Some(now);
                }
                out
            }
            Session::Microsoft(token) if calendar.primary => {
                let client = self.graph()?;
                let window = Interval {
                    start: rules.window.start,
                    end: now + Duration::days(DELTA_ROUND_DAYS),
                };
                let round = match calendar.sync_token.as_deref() {
                    Some(link) if !expand_again => {
                        match client.delta(token, Some(link), window).await {
                            Err(ProviderError::SyncStateExpired) => None,
                            other => Some(other?),
                        }
                    }
                    _ => None,
                };
                let (round, full) = match round {
                    Some(round) => (round, None),
                    None => (
                        client.delta(token, None, window).await?,
                        Some(stored().await?),
                    ),
                };
                let mut out = CalendarChanges {
                    fetched: round.events.len(),
                    ..CalendarChanges::default()
                };
                // A removal row names only the event: ours are found by their lookup.
                for row in round.events.iter().filter(|e| e.removed.is_some()) {
                    if let Some(appointment) = store
                        .own_event(owner.0, owner.1, &calendar.id, &row.id)
                        .await
                        .map_err(Failure::transient)?
                    {
                        out.own_removed.push(appointment);
                    }
                }
                out.absorb(
                    calendar,
                    round.events.iter().map(|event| {
                        (
                            event.id.clone(),
                            event.etag.clone(),
                            graph::busy_of(event, rules),
                        )
                    }),
                    full.as_ref(),
                    expand_again,
                );
                calendar.sync_token = round.delta_link;
                if full.is_some() {
                    calendar.full_read_at = Some(now);
                }
                out
            }
            Session::Microsoft(token) => {
                // No delta in v1.0 here: the window is read whole, and compared with the
                // last read by a digest of its ids and ETags before anything else is done.
                let events = self
                    .graph()?
                    .view(token, &calendar.remote_id, rules.window)
                    .await?;
                let mut versions: Vec<String> = events
                    .iter()
                    .map(|e| format!("{}:{}", e.id, e.etag))
                    .collect();
                versions.sort();
                let digest = digest::digest(&digest::SHA256, versions.join("\n").as_bytes());
                let fingerprint = format!(
                    "view:{}",
                    digest.as_ref()[..16]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                );
                let mut out = CalendarChanges::default();
                if !expand_again && calendar.sync_token.as_deref() == Some(fingerprint.as_str()) {
                    return Ok(out);
                }
                out.fetched = events.len();
                let listed: HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
                for (key, appointment) in store
                    .own_events(owner.0, owner.1, &calendar.id)
                    .await
                    .map_err(Failure::transient)?
                {
                    if !listed.contains(key.as_str()) {
                        out.own_removed.push(appointment);
                    }
                }
                let stored = stored().await?;
                out.absorb(
                    calendar,
                    events.iter().map(|event| {
                        (
                            event.id.clone(),
                            event.etag.clone(),
                            graph::busy_of(event, rules),
                        )
                    }),
                    Some(&stored),
                    expand_again,
                );
                calendar.sync_token = Some(fingerprint);
                calendar.full_read_at = Some(now);
                out
            }
        };
        Ok(changes)
    }

    async fn read_caldav<'s>(
        &self,
        account: &CalDavAccount,
        calendar: &mut ConnectedCalendar,
        rules: &BusyRules<'_>,
        (expand_again, now): (bool, DateTime<Utc>),
        stored: impl FnOnce() -> Imported<'s>,
    ) -> Result<CalendarChanges, Failure> {
        let url = Url::parse(&calendar.remote_id).map_err(Failure::transient)?;
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
            stored().await?
        } else {
            HashMap::new()
        };
        let mut to_fetch: Vec<Url> = Vec::new();
        for (member, etag) in &changes.changed {
            // Our own booking events block through the booking already: never read back as
            // busy time, only checked for a move by the expert.
            if let Some(appointment) = own_appointment(member) {
                out.own_changed.push(OwnChange {
                    appointment,
                    key: member.to_string(),
                    etag: etag.clone(),
                    span: None,
                });
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
                None => out.delete(calendar, member.to_string()),
            }
        }
        if full {
            let listed: HashSet<String> =
                changes.changed.iter().map(|(u, _)| u.to_string()).collect();
            for href in stored.keys().filter(|h| !listed.contains(*h)) {
                out.delete(calendar, href.clone());
            }
        }
        for chunk in to_fetch.chunks(FETCH_CHUNK) {
            for object in self.caldav.fetch(account, &url, chunk).await? {
                out.fetched += 1;
                match ical::busy_intervals(&object.data, rules) {
                    Ok(intervals) if intervals.is_empty() => {
                        out.delete(calendar, object.url.to_string())
                    }
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

    /// How one of our events looks now: its ETag and times; `None` when it is gone.
    pub(super) async fn current(
        &self,
        session: &Session,
        (calendar, key): (&str, &str),
        rules: &BusyRules<'_>,
    ) -> Result<Option<(String, Option<Interval>)>, WriteFailure> {
        let found = match session {
            Session::CalDav(account) => {
                let url = Url::parse(key).map_err(|e| WriteFailure::Other(e.to_string()))?;
                let collection = url
                    .join("./")
                    .map_err(|e| WriteFailure::Other(e.to_string()))?;
                self.caldav
                    .fetch(account, &collection, std::slice::from_ref(&url))
                    .await?
                    .into_iter()
                    .next()
                    .map(|object| {
                        let span = ical::own_event_span(&object.data, rules).ok().flatten();
                        (object.etag, span)
                    })
            }
            Session::Google(token) => {
                let client = self
                    .google()
                    .map_err(|_| WriteFailure::Other("Google".into()))?;
                match client.get(token, calendar, key).await {
                    Ok(event) if event.status != "cancelled" => {
                        match google::busy_of(&event, rules) {
                            EventBusy::Own { span, .. } => Some((event.etag, span)),
                            _ => Some((event.etag, None)),
                        }
                    }
                    Ok(_) | Err(ProviderError::NotFound) => None,
                    Err(other) => return Err(other.into()),
                }
            }
            Session::Microsoft(token) => {
                let client = self
                    .graph()
                    .map_err(|_| WriteFailure::Other("Microsoft".into()))?;
                match client.get(token, key).await {
                    Ok(event) if event.is_cancelled => None,
                    Ok(event) => match graph::busy_of(&event, rules) {
                        EventBusy::Own { span, .. } => Some((event.etag, span)),
                        _ => Some((event.etag, None)),
                    },
                    Err(ProviderError::NotFound) => None,
                    Err(other) => return Err(other.into()),
                }
            }
        };
        Ok(found)
    }

    /// Creates our event in `calendar`; a repeat of an earlier, lost answer finds the event
    /// made then (CalDAV: `If-None-Match: *` on the appointment's own file name; Google: our
    /// id, 409; Microsoft: our extended property, looked up before and after the create). Asks for a Meet or Teams link when the expert chose
    /// it and the calendar allows it.
    pub(super) async fn create(
        &self,
        session: &Session,
        calendar: &ConnectedCalendar,
        event: &BookingEvent,
        conferencing: Conferencing,
    ) -> Result<Written, WriteFailure> {
        match session {
            Session::CalDav(account) => {
                let url = Url::parse(&calendar.remote_id)
                    .and_then(|base| {
                        base.join(&format!(
                            "{}{}.ics",
                            event.appointment_id,
                            ical::OWN_UID_SUFFIX
                        ))
                    })
                    .map_err(|e| WriteFailure::Other(e.to_string()))?;
                let etag = match self
                    .caldav
                    .put(account, &url, event.ics.clone(), WriteCondition::Create)
                    .await
                {
                    // Written by an earlier try of this job: it is ours (the UID is the
                    // appointment's).
                    Err(CalDavError::PreconditionFailed) => None,
                    other => other?,
                };
                Ok(Written {
                    key: url.to_string(),
                    etag,
                    conference: None,
                    deleted: false,
                })
            }
            Session::Google(token) => {
                let client = self
                    .google()
                    .map_err(|_| WriteFailure::Other("Google".into()))?;
                let meet = conferencing == Conferencing::GoogleMeet;
                let asked = meet && calendar.conferencing;
                let body = google::event_body(event, asked);
                let mut made = match client.insert(token, &calendar.remote_id, &body).await {
                    Ok(made) => made,
                    Err(ProviderError::Duplicate) => {
                        client
                            .get(
                                token,
                                &calendar.remote_id,
                                &google::event_id(event.appointment_id),
                            )
                            .await?
                    }
                    Err(other) => return Err(other.into()),
                };
                if made.status == "cancelled" {
                    return Ok(Written {
                        key: made.id,
                        etag: None,
                        conference: None,
                        deleted: true,
                    });
                }
                // Google makes the Meet link in the background: ask until it says.
                let mut polls = 0;
                while made.meet() == Meet::Pending && polls < MEET_POLLS {
                    tokio::time::sleep(MEET_POLL_EVERY).await;
                    made = client.get(token, &calendar.remote_id, &made.id).await?;
                    polls += 1;
                }
                let conference = meet.then(|| match made.meet() {
                    Meet::Ready(link) => Ok(link),
                    _ if !calendar.conferencing => {
                        Err("this calendar does not offer Google Meet".to_owned())
                    }
                    Meet::Pending => Err("Google did not finish the Meet link in time".to_owned()),
                    Meet::Failed | Meet::NotAsked => {
                        Err("Google could not create a Meet link for this event".to_owned())
                    }
                });
                Ok(Written {
                    key: made.id,
                    etag: Some(made.etag),
                    conference,
                    deleted: false,
                })
            }
            Session::Microsoft(token) => {
                let client = self
                    .graph()
                    .map_err(|_| WriteFailure::Other("Microsoft".into()))?;
                let teams = conferencing == Conferencing::Teams;
                let asked = teams && calendar.conferencing;
                let calendar_id = calendar.remote_id.as_str();
                let appointment = event.appointment_id;
                // Made by an earlier try whose answer was lost, or made now: either way the
                // event counts as written once read back, and a copy a concurrent try made
                // is removed.
                let mut found = client.own_events(token, calendar_id, appointment).await?;
                if found.is_empty() {
                    client
                        .create(token, calendar_id, &graph::event_body(event, asked))
                        .await?;
                    found = client.own_events(token, calendar_id, appointment).await?;
                }
                let Some((made, copies)) = graph::standing(found) else {
                    return Err(WriteFailure::Other(
                        "Microsoft did not list the event it created".into(),
                    ));
                };
                for copy in copies {
                    match client.delete(token, &copy.id, None).await {
                        Ok(()) | Err(ProviderError::NotFound) => {}
                        Err(other) => return Err(other.into()),
                    }
                }
                let conference = teams.then(|| match made.teams_link() {
                    Some(link) => Ok(link),
                    None if !calendar.conferencing => {
                        Err("this calendar does not offer Microsoft Teams".to_owned())
                    }
                    None => {
                        Err("Microsoft could not create a Teams meeting for this event".to_owned())
                    }
                });
                Ok(Written {
                    key: made.id,
                    etag: Some(made.etag),
                    conference,
                    deleted: false,
                })
            }
        }
    }

    /// Rewrites our event if it is still at `etag` (any version when `None`); answers the new
    /// ETag when the provider tells it.
    pub(super) async fn update(
        &self,
        session: &Session,
        (calendar, key): (&str, &str),
        etag: Option<&str>,
        event: &BookingEvent,
    ) -> Result<Option<String>, WriteFailure> {
        match session {
            Session::CalDav(account) => {
                let url = Url::parse(key).map_err(|e| WriteFailure::Other(e.to_string()))?;
                // iCloud mishandles `If-Match: *`: a concrete ETag is always sent.
                let etag = etag.ok_or(WriteFailure::Changed)?;
                Ok(self
                    .caldav
                    .put(
                        account,
                        &url,
                        event.ics.clone(),
                        WriteCondition::Matches(etag),
                    )
                    .await?)
            }
            Session::Google(token) => {
                let client = self
                    .google()
                    .map_err(|_| WriteFailure::Other("Google".into()))?;
                let made = client
                    .patch(token, calendar, key, &google::patch_body(event), etag)
                    .await?;
                Ok(Some(made.etag))
            }
            Session::Microsoft(token) => {
                let client = self
                    .graph()
                    .map_err(|_| WriteFailure::Other("Microsoft".into()))?;
                let made = client
                    .patch(token, key, &graph::patch_body(event), etag)
                    .await?;
                Ok(Some(made.etag))
            }
        }
    }

    /// Deletes our event if it is still at `etag`.
    pub(super) async fn delete(
        &self,
        session: &Session,
        (calendar, key): (&str, &str),
        etag: &str,
    ) -> Result<(), WriteFailure> {
        match session {
            Session::CalDav(account) => {
                let url = Url::parse(key).map_err(|e| WriteFailure::Other(e.to_string()))?;
                Ok(self.caldav.delete(account, &url, etag).await?)
            }
            Session::Google(token) => {
                let client = self
                    .google()
                    .map_err(|_| WriteFailure::Other("Google".into()))?;
                Ok(client.delete(token, calendar, key, Some(etag)).await?)
            }
            Session::Microsoft(token) => {
                let client = self
                    .graph()
                    .map_err(|_| WriteFailure::Other("Microsoft".into()))?;
                Ok(client.delete(token, key, Some(etag)).await?)
            }
        }
    }
}

/// The events a calendar imported so far (key -> ETag), read when a full listing needs them.
type Imported<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HashMap<String, String>, Failure>> + Send + 'a>,
>;

fn imported<'a>(
    store: &'a DynamoStore,
    (expert, connection): (ExpertId, ConnectionId),
    calendar_id: &'a str,
) -> Imported<'a> {
    Box::pin(async move {
        store
            .imported_events(expert, connection, calendar_id)
            .await
            .map_err(Failure::transient)
    })
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
