//! Every partition and sort key the code writes, in one place. The README's key-design table
//! mirrors this file.
//!
//! | entity                | pk                 | sk         |
//! |-----------------------|--------------------|------------|
//! | account of a user     | `USER#<sub>`       | `ACCOUNT`  |
//! | expert profile        | `EXPERT#<exp_id>`  | `PROFILE`  |
//! | availability settings | `EXPERT#<exp_id>`  | `SETTINGS` |
//! | busy time (calendars) | `EXPERT#<exp_id>`  | `BUSY#<end>#<source>#<ref>` |
//! | claims of one UTC day | `EXPERT#<exp_id>`  | `BUSY#<yyyy-mm-dd>#claims` (versioned) |
//! | appointment           | `APPT#<apt_id>`    | `APPT` (gsi1: `CLIENT#<sub>`/`<start>#<apt_id>`, gsi2: `EXPERT#<exp_id>`/`<start>#<apt_id>`) |
//! | (gsi4 on appointments) | `HOLDS` / `<hold expiry>#<apt_id>` while pending_payment, `SESSIONS` / `<capture due or end + 24 h>#<apt_id>` while confirmed |
//! | payment of an appointment | `APPT#<apt_id>` | `PAYMENT` (gsi3: `PAYMENTS#<yyyy-mm>` / `<start>#<apt_id>`) |
//! | message               | `APPT#<apt_id>` | `MSG#<msg ulid>` |
//! | review (once per appointment: marker `APPT#<apt_id>` / `REVIEW`) | `REVIEWS#<exp_id>` | `<created>#<apt_id>` |
//! | outbox event          | `OUTBOX` | `<occurred at>#<evt_id>` |
//! | reminder of a session | `APPT#<apt_id>` | `REMINDER#<kind>` (gsi4: `REMINDERS` / `<due>#<apt_id>`) |
//! | booking idempotency   | `IDEMPOTENCY#<sub>#<key>` | `BOOKING` (TTL) |
//! | Stripe account link   | `STRIPE_ACCOUNT#<acct>` | `EXPERT` |
//! | processed Stripe event | `STRIPE_EVENT#<evt>` | `EVENT` (TTL) |
//! | calendar connection   | `CALENDARS#<exp_id>` | `CONNECTION#<cal_id>` (gsi4: `CALENDAR_SYNC` / `<next sync>#<exp_id>#<cal_id>`) |
//! | which connection holds the booking target | `CALENDARS#<exp_id>` | `BOOKING_TARGET` |
//! | imported busy time of one calendar event | `EXPERT#<exp_id>` | `BUSY#~cal#<cal_id>#<calendar>#<event>` |
//! | read state of a connection (readable, last confirmed) | `EXPERT#<exp_id>` | `CALREAD#<cal_id>` |
//! | our booking event in a Microsoft calendar | `CALENDARS#<exp_id>` | `OWNEVENT#<cal_id>#<calendar>#<event>` |
//! | push channel or subscription | `PUSH#<channel id>` | `CHANNEL` (TTL) |
//! | OAuth state of a connect flow | `OAUTH_STATE#<state>` | `STATE` (TTL, checked too) |
//! | search entry          | `SEARCH#<exp_id>`  | `ENTRY#<nn>` (gsi3: `SPEC#<spec or *>` / `<currency>#<rate>#<exp_id>`) |
//!
//! The expert partition is the slot search's one Query: later busy items (bookings, holds,
//! imported calendar time) get sort keys `BUSY#<end>#...`, which sort before `PROFILE` and
//! `SETTINGS`, so `sk >= BUSY#<window start>` returns the profile, the settings and every busy
//! interval that ends inside or after the window, in one request.

use chrono::{DateTime, NaiveDate, Utc};

use crate::ids::{AppointmentId, ExpertId, UserId};

pub const PK: &str = "pk";
pub const SK: &str = "sk";

pub const ACCOUNT: &str = "ACCOUNT";
pub const PROFILE: &str = "PROFILE";
pub const SETTINGS: &str = "SETTINGS";
pub const BUSY_PREFIX: &str = "BUSY#";
pub const STRIPE_ACCOUNT: &str = "EXPERT";
pub const STRIPE_EVENT: &str = "EVENT";

pub const GSI_SEARCH: &str = "gsi3";
pub const GSI_SEARCH_PK: &str = "gsi3pk";
pub const GSI_SEARCH_SK: &str = "gsi3sk";

pub fn user(user: &UserId) -> String {
    format!("USER#{user}")
}

pub fn expert(expert: &ExpertId) -> String {
    format!("EXPERT#{expert}")
}

/// The key of a busy item that ends at `end`: its end instant, fixed width, so that the sort
/// order is the time order.
pub fn busy_ending_at(end: DateTime<Utc>) -> String {
    format!("{BUSY_PREFIX}{}", end.format("%Y-%m-%dT%H:%M:%SZ"))
}

/// The lowest busy key that can matter from `instant` on: the day items of its UTC date, and
/// every busy item ending that day or later.
pub fn busy_day_floor(instant: DateTime<Utc>) -> String {
    format!("{BUSY_PREFIX}{}", instant.format("%Y-%m-%d"))
}

pub const CLAIMS_SUFFIX: &str = "#claims";

/// The versioned list of claims on one UTC day of an expert.
pub fn claims_day(date: NaiveDate) -> String {
    format!("{BUSY_PREFIX}{}{CLAIMS_SUFFIX}", date.format("%Y-%m-%d"))
}

pub const APPOINTMENT: &str = "APPT";
/// The appointment's payment record, beside it in its partition.
pub const PAYMENT: &str = "PAYMENT";
/// gsi4: what the reminders sweep must act on, by when (sparse).
pub const GSI_DUE: &str = "gsi4";
/// Unpaid holds by expiry.
pub const HOLDS: &str = "HOLDS";
/// Confirmed sessions by the next time the sweep acts on them: their authorisation's capture
/// before it lapses, or their automatic completion, whichever comes first.
pub const SESSIONS_DUE: &str = "SESSIONS";
/// Reminder items by the time they are due.
pub const REMINDERS: &str = "REMINDERS";
pub const GSI_DUE_PK: &str = "gsi4pk";
pub const GSI_DUE_SK: &str = "gsi4sk";
pub const IDEMPOTENT_BOOKING: &str = "BOOKING";

pub const APPOINTMENT_PREFIX: &str = "APPT#";

pub fn appointment(id: &AppointmentId) -> String {
    format!("{APPOINTMENT_PREFIX}{id}")
}

pub fn idempotency(user: &UserId, key: &str) -> String {
    format!("IDEMPOTENCY#{user}#{key}")
}

pub fn client_appointments(user: &UserId) -> String {
    format!("CLIENT#{user}")
}

/// Dashboards order by start: `<start>#<id>`.
pub fn by_start(start: DateTime<Utc>, id: &AppointmentId) -> String {
    format!("{}#{id}", start.format("%Y-%m-%dT%H:%M:%SZ"))
}

/// The partition of an expert's search entries: apart from `EXPERT#`, so that neither the
/// profile read nor the slot search reads them.
pub fn search_entries(expert: &ExpertId) -> String {
    format!("SEARCH#{expert}")
}

pub const SEARCH_ENTRY_PREFIX: &str = "ENTRY#";

/// Entries are numbered, so a rewrite can delete the ones it no longer needs without reading.
pub fn search_entry(position: u32) -> String {
    format!("{SEARCH_ENTRY_PREFIX}{position:02}")
}

pub fn search_partition(specialization: &str) -> String {
    format!("SPEC#{specialization}")
}

/// Ordered by currency, then rate, then expert; the rate is zero-padded so text order is
/// numeric order.
pub fn search_sort_key(currency: &str, rate_minor: i64, expert: &ExpertId) -> String {
    format!("{currency}#{rate_minor:012}#{expert}")
}

/// The lowest and highest sort keys of a currency's rates in `[min, max]`.
pub fn search_rate_range(currency: &str, min: i64, max: i64) -> (String, String) {
    (
        format!("{currency}#{min:012}#"),
        format!("{currency}#{max:012}#~"),
    )
}

pub fn stripe_account(account: &str) -> String {
    format!("STRIPE_ACCOUNT#{account}")
}

pub fn stripe_event(event: &str) -> String {
    format!("STRIPE_EVENT#{event}")
}

pub const MESSAGE_PREFIX: &str = "MSG#";
pub const REVIEW_MARKER: &str = "REVIEW";

pub fn message(id: &str) -> String {
    format!("{MESSAGE_PREFIX}{id}")
}

pub fn reviews(expert: &ExpertId) -> String {
    format!("REVIEWS#{expert}")
}

pub fn review(created: DateTime<Utc>, appointment: &AppointmentId) -> String {
    by_start(created, appointment)
}

/// The platform report's partition of payment records (gsi3): one per month of session starts.
pub fn payments_of_month(month: &str) -> String {
    format!("PAYMENTS#{month}")
}

/// The outbox partition (see `store::dynamo::outbox`).
pub const OUTBOX: &str = "OUTBOX";

/// Outbox entries in the order the events happened.
pub fn outbox_entry(event: &crate::events::DomainEvent) -> String {
    format!(
        "{}#{}",
        event.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
        event.id
    )
}

pub const NOTIFICATION: &str = "SENT";

/// A notification that went out: `<event id>:<recipient>`, kept 30 days.
pub fn notification(id: &str) -> String {
    format!("NOTIFIED#{id}")
}

/// A confirmed session's reminder (`REMINDER#booking.reminder_24h`), beside it in its
/// partition, listed on gsi4 under `REMINDERS` by due time.
pub fn reminder(kind: crate::events::EventKind) -> String {
    format!("REMINDER#{}", kind.name())
}

/// An expert's calendar connections: apart from the expert partition, which the slot search
/// reads whole.
pub fn calendars(expert: &ExpertId) -> String {
    format!("CALENDARS#{expert}")
}

pub fn connection(id: &crate::ids::ConnectionId) -> String {
    format!("{CONNECTION_PREFIX}{id}")
}

/// A connection's read state in the expert partition (readable, last confirmed), where the
/// slot search's Query sees it: `C` sorts after `BUSY#` and before `PROFILE`.
pub const READ_STATE_PREFIX: &str = "CALREAD#";

pub fn read_state(id: &crate::ids::ConnectionId) -> String {
    format!("{READ_STATE_PREFIX}{id}")
}

pub const CONNECTION_PREFIX: &str = "CONNECTION#";

/// The one booking target across an expert's connections: which connection holds it
/// (`holder`), beside the connections, written with every change of it.
pub const BOOKING_TARGET: &str = "BOOKING_TARGET";

/// Our booking events in one calendar of a connection, by a digest of the provider's event id
/// (Microsoft names removed events by id only, so ours are found here).
pub fn own_events_of(id: &crate::ids::ConnectionId, calendar_id: &str) -> String {
    format!("OWNEVENT#{id}#{calendar_id}#")
}

pub fn own_event(id: &crate::ids::ConnectionId, calendar_id: &str, key: &str) -> String {
    format!("{}{}", own_events_of(id, calendar_id), short_digest(key))
}

fn short_digest(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A push channel (Google) or subscription (Microsoft) -> its connection and secret digest.
pub fn push_channel(id: &str) -> String {
    format!("PUSH#{id}")
}

pub const PUSH_CHANNEL: &str = "CHANNEL";

/// A started OAuth connect flow, by its (random, single-use) state.
pub fn oauth_state(state: &str) -> String {
    format!("OAUTH_STATE#{state}")
}

pub const OAUTH_STATE: &str = "STATE";

/// gsi4: calendar connections by the time their next sync is due.
pub const CALENDAR_SYNC: &str = "CALENDAR_SYNC";

/// The prefix of every busy item a connection imported. `~` sorts after every date, so the
/// slot search (`sk >= BUSY#<day>`) reads them whatever window it asks for.
pub fn imported_busy_of(id: &crate::ids::ConnectionId) -> String {
    format!("{BUSY_PREFIX}~cal#{id}#")
}

/// One imported calendar event: the calendar's id and a digest of the event's href (hrefs can
/// be long and hold any character).
pub fn imported_event(id: &crate::ids::ConnectionId, calendar_id: &str, href: &str) -> String {
    format!(
        "{}{calendar_id}#{}",
        imported_busy_of(id),
        short_digest(href)
    )
}
