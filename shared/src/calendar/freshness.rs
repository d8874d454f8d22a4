//! How fresh an expert's imported busy time is, and what that allows (pure).
//!
//! Each connection keeps a read state in the expert partition (read by the slot search's one
//! Query): whether its last read worked, and when a read last confirmed its busy time. A sync
//! that finds nothing changed writes nothing, except the read time once it is older than
//! [`HEARTBEAT_MINUTES`]; so on a healthy connection the stored time lags the truth by at most
//! that much. The rules:
//!
//! * any connection that cannot be read: the expert's slots are hidden and bookings refused
//!   (an error is never "free");
//! * busy time confirmed more than [`STALE_AFTER_MINUTES`] ago (the schedule or the queue is
//!   behind) or never: slots are still shown, but a booking first reads those calendars again,
//!   and goes ahead only if that read works;
//! * a connection unreadable for [`DEGRADED_EMAIL_AFTER_MINUTES`] is told to its expert once per
//!   episode; with a read every 5 minutes (the schedule) the email leaves within 15 minutes of the
//!   first failure, and a blip that heals at the next try emails nobody.

use chrono::{DateTime, Duration, Utc};

use crate::ids::ConnectionId;

/// An unchanged sync writes the read time only when the stored one is this old.
pub const HEARTBEAT_MINUTES: i64 = 10;
/// Busy time older than this is read again before a booking is placed over it.
pub const STALE_AFTER_MINUTES: i64 = 15;
/// A connection failing this long gets its expert an email.
pub const DEGRADED_EMAIL_AFTER_MINUTES: i64 = 10;

/// One connection's read state, as the slot search sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarReadState {
    pub connection_id: ConnectionId,
    /// The last read worked (status `ok`).
    pub readable: bool,
    /// When a read last confirmed the imported busy time; `None` before the first.
    pub read_at: Option<DateTime<Utc>>,
}

/// What the expert's calendars allow now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CalendarVerdict {
    /// Every connection was read recently (or there is none).
    Fresh,
    /// Readable, but these were not confirmed recently: read them before booking.
    Stale(Vec<ConnectionId>),
    /// A connection cannot be read: its expert's time is unknown.
    Unreadable,
}

pub fn verdict(states: &[CalendarReadState], now: DateTime<Utc>) -> CalendarVerdict {
    if states.iter().any(|s| !s.readable) {
        return CalendarVerdict::Unreadable;
    }
    let stale: Vec<ConnectionId> = states
        .iter()
        .filter(|s| {
            s.read_at
                .is_none_or(|at| now - at > Duration::minutes(STALE_AFTER_MINUTES))
        })
        .map(|s| s.connection_id)
        .collect();
    if stale.is_empty() {
        CalendarVerdict::Fresh
    } else {
        CalendarVerdict::Stale(stale)
    }
}

/// Whether an unchanged sync should write the read time.
pub fn heartbeat_due(read_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    read_at.is_none_or(|at| now - at >= Duration::minutes(HEARTBEAT_MINUTES))
}

/// Whether a connection failing since `since` should be told to its expert now.
pub fn degraded_email_due(since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - since >= Duration::minutes(DEGRADED_EMAIL_AFTER_MINUTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T09:00:00Z")
            .unwrap()
            .to_utc()
            + Duration::minutes(minutes)
    }

    fn state(readable: bool, read_at: Option<i64>) -> CalendarReadState {
        CalendarReadState {
            connection_id: ConnectionId::new(),
            readable,
            read_at: read_at.map(at),
        }
    }

    #[test]
    fn no_connections_or_recent_reads_are_fresh() {
        assert_eq!(verdict(&[], at(0)), CalendarVerdict::Fresh);
        let recent = [state(true, Some(0)), state(true, Some(-15))];
        assert_eq!(verdict(&recent, at(0)), CalendarVerdict::Fresh);
    }

    #[test]
    fn old_or_missing_reads_are_stale_and_named() {
        let old = state(true, Some(-16));
        let never = state(true, None);
        let fresh = state(true, Some(-1));
        let states = [old.clone(), fresh, never.clone()];
        assert_eq!(
            verdict(&states, at(0)),
            CalendarVerdict::Stale(vec![old.connection_id, never.connection_id])
        );
    }

    #[test]
    fn one_unreadable_connection_outweighs_everything() {
        let states = [
            state(true, Some(0)),
            state(false, Some(0)),
            state(true, None),
        ];
        assert_eq!(verdict(&states, at(0)), CalendarVerdict::Unreadable);
    }

    #[test]
    fn the_heartbeat_is_written_every_ten_minutes_at_most() {
        assert!(heartbeat_due(None, at(0)));
        assert!(!heartbeat_due(Some(at(-9)), at(0)));
        assert!(heartbeat_due(Some(at(-10)), at(0)));
        // The heartbeat keeps a healthy connection from ever looking stale.
        const { assert!(HEARTBEAT_MINUTES + 5 <= STALE_AFTER_MINUTES) };
    }

    #[test]
    fn a_failing_calendar_is_told_after_ten_minutes() {
        assert!(!degraded_email_due(at(0), at(9)));
        assert!(degraded_email_due(at(0), at(10)));
    }
}
