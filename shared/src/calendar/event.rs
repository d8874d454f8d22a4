//! What crosses the boundary to every provider: our booking's event on its way out, and what
//! an event coming in means for the expert's time.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::availability::Interval;
use crate::ids::AppointmentId;

/// A booking as an event in the expert's calendar: the title, the client's name, the meeting
/// link and the times in UTC; no payment data and no notes.
#[derive(Clone, Debug, PartialEq)]
pub struct BookingEvent {
    pub appointment_id: AppointmentId,
    /// The appointment's revision the event shows (its SEQUENCE).
    pub sequence: u32,
    pub summary: String,
    pub description: String,
    pub meeting_url: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The same as an iCalendar object (CalDAV).
    pub ics: String,
}

/// What one event read from a calendar means for the expert's time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventBusy {
    /// These intervals (within the window) are busy.
    Busy(Vec<Interval>),
    /// Free time: transparent, cancelled, declined, outside the window, ...
    Free,
    /// One of our own booking events (the booking blocks already), with the time it shows now.
    Own {
        appointment: AppointmentId,
        span: Option<Interval>,
    },
    /// Not readable: skipped with a warning, what it had imported is kept.
    Unreadable(String),
}

/// The local days `first` to `last` (inclusive) in `zone`, from the first one's start to the
/// start of the day after the last; a midnight that DST skips starts at the first instant that
/// exists.
pub fn local_days(first: NaiveDate, last: NaiveDate, zone: Tz) -> Option<Interval> {
    let start_of = |day: NaiveDate| -> Option<DateTime<Utc>> {
        let midnight = day.and_time(NaiveTime::MIN);
        zone.from_local_datetime(&midnight)
            .earliest()
            .or_else(|| {
                zone.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    };
    Some(Interval {
        start: start_of(first)?,
        end: start_of(last.succ_opt()?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_follow_the_zone_and_its_changes() {
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        let berlin = local_days(
            day("2026-12-08"),
            day("2026-12-08"),
            chrono_tz::Europe::Berlin,
        );
        assert_eq!(
            berlin,
            Some(Interval {
                start: at("2026-12-07T23:00:00Z"),
                end: at("2026-12-08T23:00:00Z")
            })
        );
        // London's spring-forward day is 23 hours long.
        let short = local_days(
            day("2026-03-29"),
            day("2026-03-29"),
            chrono_tz::Europe::London,
        )
        .unwrap();
        assert_eq!((short.end - short.start).num_hours(), 23);
        // Santiago skips midnight itself in spring: the day starts at 01:00 local.
        let skipped = local_days(
            day("2026-09-06"),
            day("2026-09-06"),
            chrono_tz::America::Santiago,
        )
        .unwrap();
        assert_eq!(skipped.start, at("2026-09-06T04:00:00Z"));
    }
}
