//! The slot rules stated minute by minute: the executable specification the engine is tested
//! and benchmarked against. Slow on purpose; never on a request path.

use chrono::{DateTime, Datelike, LocalResult, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::engine::{Interval, SlotRequest};
use super::{AvailabilitySettings, Day};

pub fn free_slots(
    time_zone: Tz,
    settings: &AvailabilitySettings,
    busy: &[Interval],
    request: &SlotRequest,
) -> Vec<Interval> {
    let minute = chrono::Duration::minutes(1);
    let duration = chrono::Duration::minutes(request.duration_minutes.into());
    let before = chrono::Duration::minutes(settings.buffer_before_minutes.into());
    let after = chrono::Duration::minutes(settings.buffer_after_minutes.into());
    let earliest = request.now + chrono::Duration::minutes(settings.minimum_notice_minutes.into());
    let horizon = request.now + chrono::Duration::days(settings.horizon_days.into());
    let mut slots = Vec::new();
    let mut start = request.from.with_second(0).unwrap_or(request.from);
    if start < request.from {
        start += minute;
    }
    while start < request.to {
        let candidate = start;
        start += minute;
        let local = candidate.with_timezone(&time_zone);
        if local.minute() % request.step_minutes != 0 || is_second_occurrence(time_zone, candidate)
        {
            continue;
        }
        if candidate < earliest || candidate >= horizon {
            continue;
        }
        let end = candidate + duration;
        let mut inside = true;
        let mut t = candidate;
        while t < end {
            if !available(time_zone, settings, t) {
                inside = false;
                break;
            }
            t += minute;
        }
        let blocked = settings
            .blocked
            .iter()
            .any(|b| b.start < end && candidate < b.end);
        let (occupied_from, occupied_to) = (candidate - before, end + after);
        let clashes = busy
            .iter()
            .any(|b| b.start < occupied_to && occupied_from < b.end);
        if inside && !blocked && !clashes {
            slots.push(Interval {
                start: candidate,
                end,
            });
        }
    }
    slots
}

/// Whether the minute starting at `t` is inside a rule of its local weekday.
pub fn available(time_zone: Tz, settings: &AvailabilitySettings, t: DateTime<Utc>) -> bool {
    let local = t.with_timezone(&time_zone);
    let day = Day::ALL[local.weekday().num_days_from_monday() as usize];
    let minute_of_day = local.hour() * 60 + local.minute();
    settings.rules.iter().any(|rule| {
        rule.day == day
            && u32::from(rule.start.minutes()) <= minute_of_day
            && minute_of_day < u32::from(rule.end.minutes())
    })
}

/// A wall-clock time shown twice (fall back), at its later instant.
fn is_second_occurrence(time_zone: Tz, t: DateTime<Utc>) -> bool {
    let naive = t.with_timezone(&time_zone).naive_local();
    matches!(
        time_zone.from_local_datetime(&naive),
        LocalResult::Ambiguous(_, later) if later.with_timezone(&Utc) == t
    )
}
