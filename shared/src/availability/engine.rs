//! The slot engine: which slots of one duration an expert can take inside a window. Pure: the
//! caller passes the settings, the busy intervals and `now`.
//!
//! The rules, exactly (the brute-force `reference` module states the same thing minute by
//! minute, and property tests hold the two equal):
//! - An instant is *available* when its wall-clock time in the expert's zone falls inside a
//!   weekly rule of that local weekday. Adjacent rules join, so a slot may cross local midnight.
//! - A slot `[s, s + duration)` is offered when every instant of it is available and none is
//!   blocked; its start lies in `[from, to)`, at or after `now + minimum notice` and before
//!   `now + horizon days`; and its occupancy `[s - buffer_before, s + duration + buffer_after)`
//!   overlaps no busy interval (bookings are stored with their own buffers already).
//! - Starts are aligned to the step on the expert's local clock (`:00, :15, :30, :45` for 15).
//! - DST: wall-clock times that do not exist (spring forward) are never starts, and a rule
//!   keeps its wall-clock times on both sides of a change. A wall-clock time that happens twice
//!   (fall back) is offered once, at its *first* occurrence (the earlier instant, still on
//!   summer time); starts in the repeated hour after the change are skipped.

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use super::{AvailabilitySettings, Day};

const MINUTE: i64 = 60;
const DAY: i64 = 24 * 60 * MINUTE;

/// A half-open interval of instants, `[start, end)`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug)]
pub struct SlotRequest {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub duration_minutes: u32,
    /// Must divide 60 (5, 10, 15, 20, 30, 60) so that starts align to the local hour.
    pub step_minutes: u32,
    pub now: DateTime<Utc>,
}

/// The steps a caller may ask for: the divisors of an hour from 5 minutes up.
pub const STEPS: [u32; 6] = [5, 10, 15, 20, 30, 60];
pub const DEFAULT_STEP_MINUTES: u32 = 15;

/// Free slots in start order.
pub fn free_slots(
    time_zone: Tz,
    settings: &AvailabilitySettings,
    busy: &[Interval],
    request: &SlotRequest,
) -> Vec<Interval> {
    let duration = i64::from(request.duration_minutes) * MINUTE;
    let step = i64::from(request.step_minutes.max(1)) * MINUTE;
    let now = request.now.timestamp();
    let lo = request
        .from
        .timestamp()
        .max(now + i64::from(settings.minimum_notice_minutes) * MINUTE);
    let hi = request
        .to
        .timestamp()
        .min(now + i64::from(settings.horizon_days) * DAY);
    if duration <= 0 || lo >= hi {
        return Vec::new();
    }
    // Everything a slot starting in [lo, hi) can touch lies in this span.
    let span = (lo - DAY, hi + duration + DAY);
    let periods = offset_periods(time_zone, span.0 - DAY, span.1 + DAY);
    let available = subtract(
        &rule_occurrences(settings, &periods, span),
        &merged(
            settings
                .blocked
                .iter()
                .map(|b| (b.start.timestamp(), b.end.timestamp())),
        ),
    );
    // Closed ranges of allowed starts: the slot fits in a free window and starts in [lo, hi).
    let starts = available.iter().filter_map(|&(w0, w1)| {
        let (c0, c1) = (w0.max(lo), (w1 - duration).min(hi - 1));
        (c0 <= c1).then_some((c0, c1))
    });
    let before = i64::from(settings.buffer_before_minutes) * MINUTE;
    let after = i64::from(settings.buffer_after_minutes) * MINUTE;
    // A start s is forbidden by busy [b0, b1) when s is in the open (b0 - duration - after, b1 + before).
    let mut forbidden: Vec<(i64, i64)> = busy
        .iter()
        .map(|b| {
            (
                b.start.timestamp() - duration - after,
                b.end.timestamp() + before,
            )
        })
        .filter(|&(f0, f1)| f0 < f1 && f1 > lo && f0 < hi)
        .collect();
    forbidden.sort_unstable();
    let forbidden = merge_open(forbidden);

    let mut slots = Vec::new();
    let mut next_forbidden = 0;
    for (c0, c1) in starts {
        let mut piece_start = c0;
        while next_forbidden < forbidden.len() && forbidden[next_forbidden].1 <= c0 {
            next_forbidden += 1;
        }
        let mut i = next_forbidden;
        while piece_start <= c1 {
            let piece_end = match forbidden.get(i) {
                Some(&(f0, _)) if f0 < c1 => f0,
                _ => c1,
            };
            if piece_start <= piece_end {
                aligned_starts(&periods, piece_start, piece_end, step, |s| {
                    slots.push(Interval {
                        start: utc(s),
                        end: utc(s + duration),
                    })
                });
            }
            match forbidden.get(i) {
                Some(&(f0, f1)) if f0 < c1 => {
                    piece_start = piece_start.max(f1);
                    i += 1;
                }
                _ => break,
            }
        }
    }
    slots
}

fn utc(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// A stretch of time with one UTC offset. `repeated_until` marks the start of a stretch that
/// follows a fall-back change: instants before it show wall-clock times already seen.
#[derive(Clone, Copy, Debug)]
struct Period {
    start: i64,
    end: i64,
    offset: i64,
    repeated_until: i64,
}

fn offset_at(time_zone: Tz, at: i64) -> i64 {
    let naive = utc(at).naive_utc();
    i64::from(
        time_zone
            .offset_from_utc_datetime(&naive)
            .fix()
            .local_minus_utc(),
    )
}

/// The zone's offsets over `[start, end)`, found by probing once a day and bisecting the days
/// whose offset changed (zones change at most twice a year).
fn offset_periods(time_zone: Tz, start: i64, end: i64) -> Vec<Period> {
    let mut periods = Vec::new();
    let (mut period_start, mut offset) = (start, offset_at(time_zone, start));
    let mut repeated_until = start;
    let mut probe = start;
    while probe < end {
        let next = (probe + DAY).min(end);
        if offset_at(time_zone, next) == offset {
            probe = next;
            continue;
        }
        // First instant in (probe, next] with another offset.
        let (mut low, mut high) = (probe, next);
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if offset_at(time_zone, middle) == offset {
                low = middle;
            } else {
                high = middle;
            }
        }
        periods.push(Period {
            start: period_start,
            end: high,
            offset,
            repeated_until,
        });
        let new_offset = offset_at(time_zone, high);
        repeated_until = high + (offset - new_offset).max(0);
        (period_start, offset, probe) = (high, new_offset, high);
    }
    periods.push(Period {
        start: period_start,
        end,
        offset,
        repeated_until,
    });
    periods
}

/// Every instant in `span` whose local wall-clock time lies inside a rule, as sorted disjoint
/// intervals with touching ones joined.
fn rule_occurrences(
    settings: &AvailabilitySettings,
    periods: &[Period],
    span: (i64, i64),
) -> Vec<(i64, i64)> {
    let mut by_day: [Vec<(i64, i64)>; 7] = Default::default();
    for rule in &settings.rules {
        by_day[day_index(rule.day)].push((
            i64::from(rule.start.minutes()) * MINUTE,
            i64::from(rule.end.minutes()) * MINUTE,
        ));
    }
    let first_offset = periods.first().map_or(0, |p| p.offset);
    let first_day = (span.0 + first_offset).div_euclid(DAY) - 1;
    let last_day = (span.1 + periods.last().map_or(0, |p| p.offset)).div_euclid(DAY) + 1;
    let mut occurrences = Vec::new();
    for day in first_day..=last_day {
        let Some(weekday) = local_weekday(day) else {
            continue;
        };
        let midnight = day * DAY;
        for &(rule_start, rule_end) in &by_day[weekday] {
            let (local_start, local_end) = (midnight + rule_start, midnight + rule_end);
            for period in periods {
                let start = (local_start - period.offset).max(period.start).max(span.0);
                let end = (local_end - period.offset).min(period.end).min(span.1);
                if start < end {
                    occurrences.push((start, end));
                }
            }
        }
    }
    occurrences.sort_unstable();
    merged(occurrences.into_iter())
}

fn day_index(day: Day) -> usize {
    day as usize
}

/// Monday = 0 for the local date `days` after 1970-01-01.
fn local_weekday(days: i64) -> Option<usize> {
    let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).ok()?)?;
    Some(date.weekday().num_days_from_monday() as usize)
}

/// Sorted, disjoint, touching ones joined.
fn merged(intervals: impl Iterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let mut sorted: Vec<(i64, i64)> = intervals.filter(|(a, b)| a < b).collect();
    sorted.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Sorted open intervals joined where they overlap; touching ones stay apart, since the shared
/// end point belongs to neither.
fn merge_open(sorted: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match out.last_mut() {
            Some(last) if start < last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// `keep` minus `remove`, both sorted and disjoint.
fn subtract(keep: &[(i64, i64)], remove: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::with_capacity(keep.len());
    let mut j = 0;
    for &(start, end) in keep {
        let mut cursor = start;
        while j < remove.len() && remove[j].1 <= cursor {
            j += 1;
        }
        let mut k = j;
        while k < remove.len() && remove[k].0 < end {
            if remove[k].0 > cursor {
                out.push((cursor, remove[k].0));
            }
            cursor = cursor.max(remove[k].1);
            k += 1;
        }
        if cursor < end {
            out.push((cursor, end));
        }
    }
    out
}

/// Calls `emit` for each start in `[first, last]` that sits on the step of the local clock,
/// skipping the repeated wall-clock times after a fall-back change.
fn aligned_starts(periods: &[Period], first: i64, last: i64, step: i64, mut emit: impl FnMut(i64)) {
    for period in periods {
        let low = first.max(period.start).max(period.repeated_until);
        let high = last.min(period.end - 1);
        if low > high {
            continue;
        }
        let local = low + period.offset;
        let mut start = local + (step - local.rem_euclid(step)) % step - period.offset;
        while start <= high {
            emit(start);
            start += step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::AvailabilityInput;
    use chrono_tz::{America, Australia, Europe};

    fn settings(rules: serde_json::Value) -> AvailabilitySettings {
        serde_json::from_value::<AvailabilityInput>(serde_json::json!({
            "rules": rules,
            "minimum_notice_minutes": 0,
            "horizon_days": 365,
        }))
        .unwrap()
        .parse()
        .unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn request(from: &str, to: &str, duration: u32, step: u32) -> SlotRequest {
        SlotRequest {
            from: at(from),
            to: at(to),
            duration_minutes: duration,
            step_minutes: step,
            now: at("2026-01-01T00:00:00Z"),
        }
    }

    fn starts(tz: Tz, slots: &[Interval]) -> Vec<String> {
        slots
            .iter()
            .map(|s| {
                s.start
                    .with_timezone(&tz)
                    .format("%m-%d %H:%M %z")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn new_york_spring_forward_skips_the_missing_hour_and_keeps_wall_clock_rules() {
        // 2026-03-08: 02:00 EST becomes 03:00 EDT.
        let rules = settings(serde_json::json!([
            {"day": "sun", "start": "01:00", "end": "04:00"},
            {"day": "mon", "start": "09:00", "end": "10:00"},
            {"day": "sat", "start": "09:00", "end": "10:00"}
        ]));
        let slots = free_slots(
            America::New_York,
            &rules,
            &[],
            &request("2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z", 60, 30),
        );
        assert_eq!(
            starts(America::New_York, &slots),
            [
                "03-07 09:00 -0500",
                "03-08 01:00 -0500",
                "03-08 01:30 -0500",
                "03-08 03:00 -0400",
                "03-09 09:00 -0400",
            ]
        );
        // The 01:30 slot runs across the change: one real hour, ending at 03:30 EDT.
        assert_eq!(slots[2].end - slots[2].start, chrono::Duration::hours(1));
        assert_eq!(slots[2].end, at("2026-03-08T03:30:00-04:00"));
        // Saturday's 09:00 is 14:00 UTC, Monday's 09:00 is 13:00 UTC.
        assert_eq!(slots[0].start, at("2026-03-07T14:00:00Z"));
        assert_eq!(slots[4].start, at("2026-03-09T13:00:00Z"));
    }

    #[test]
    fn new_york_fall_back_offers_a_repeated_time_once_at_its_first_occurrence() {
        // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:00-01:59 happens twice.
        let rules = settings(serde_json::json!([{"day": "sun", "start": "00:30", "end": "02:30"}]));
        let slots = free_slots(
            America::New_York,
            &rules,
            &[],
            &request("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", 30, 30),
        );
        assert_eq!(
            starts(America::New_York, &slots),
            [
                "11-01 00:30 -0400",
                "11-01 01:00 -0400",
                "11-01 01:30 -0400",
                // 01:00 and 01:30 EST are skipped: those times were offered an hour earlier.
                "11-01 02:00 -0500",
            ]
        );
        // The repeated hour is still available time: 01:30 EDT for 60 minutes fits.
        let long = free_slots(
            America::New_York,
            &rules,
            &[],
            &request("2026-11-01T05:30:00Z", "2026-11-01T05:31:00Z", 60, 30),
        );
        assert_eq!(long.len(), 1);
        assert_eq!(long[0].end, at("2026-11-01T01:30:00-05:00"));
    }

    #[test]
    fn london_changes_keep_nine_o_clock_local() {
        // 2026-03-29 01:00 GMT -> 02:00 BST; 2026-10-25 02:00 BST -> 01:00 GMT.
        let rules = settings(serde_json::json!([
            {"day": "sat", "start": "09:00", "end": "09:30"},
            {"day": "sun", "start": "00:30", "end": "02:30"},
            {"day": "mon", "start": "09:00", "end": "09:30"}
        ]));
        let spring = free_slots(
            Europe::London,
            &rules,
            &[],
            &request("2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z", 30, 30),
        );
        assert_eq!(
            starts(Europe::London, &spring),
            [
                "03-28 09:00 +0000",
                "03-29 00:30 +0000",
                "03-29 02:00 +0100",
                "03-30 09:00 +0100",
            ]
        );
        let autumn = free_slots(
            Europe::London,
            &rules,
            &[],
            &request("2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z", 30, 30),
        );
        assert_eq!(
            starts(Europe::London, &autumn),
            [
                "10-24 09:00 +0100",
                "10-25 00:30 +0100",
                "10-25 01:00 +0100",
                "10-25 01:30 +0100",
                "10-25 02:00 +0000",
                "10-26 09:00 +0000",
            ]
        );
    }

    #[test]
    fn rules_touching_at_midnight_allow_a_slot_across_it() {
        let rules = settings(serde_json::json!([
            {"day": "fri", "start": "22:00", "end": "24:00"},
            {"day": "sat", "start": "00:00", "end": "01:00"}
        ]));
        let slots = free_slots(
            Europe::London,
            &rules,
            &[],
            &request("2026-06-05T00:00:00Z", "2026-06-07T00:00:00Z", 90, 30),
        );
        assert_eq!(
            starts(Europe::London, &slots),
            [
                "06-05 22:00 +0100",
                "06-05 22:30 +0100",
                "06-05 23:00 +0100",
                "06-05 23:30 +0100"
            ]
        );
    }

    #[test]
    fn lord_howe_half_hour_change_realigns_hourly_steps() {
        // 2026-04-05 02:00 +11 -> 01:30 +10:30 at Lord Howe Island.
        let rules = settings(serde_json::json!([{"day": "sun", "start": "00:00", "end": "04:00"}]));
        let slots = free_slots(
            Australia::Lord_Howe,
            &rules,
            &[],
            &request("2026-04-04T00:00:00Z", "2026-04-06T00:00:00Z", 60, 60),
        );
        assert_eq!(
            starts(Australia::Lord_Howe, &slots),
            [
                "04-05 00:00 +1100",
                "04-05 01:00 +1100",
                "04-05 02:00 +1030",
                "04-05 03:00 +1030"
            ]
        );
    }

    #[test]
    fn buffers_widen_busy_time_and_blocks_and_notice_cut_slots() {
        let mut rules =
            settings(serde_json::json!([{"day": "wed", "start": "09:00", "end": "13:00"}]));
        rules.buffer_before_minutes = 15;
        rules.buffer_after_minutes = 10;
        rules.minimum_notice_minutes = 60;
        rules.blocked = vec![crate::availability::BlockedRange {
            start: at("2026-06-03T12:00:00Z"),
            end: at("2026-06-03T12:30:00Z"),
        }];
        let busy = [Interval {
            start: at("2026-06-03T10:30:00Z"),
            end: at("2026-06-03T11:00:00Z"),
        }];
        let mut req = request("2026-06-03T00:00:00Z", "2026-06-04T00:00:00Z", 30, 15);
        req.now = at("2026-06-03T08:00:00Z");
        let slots = free_slots(chrono_tz::UTC, &rules, &busy, &req);
        let got: Vec<String> = slots
            .iter()
            .map(|s| s.start.format("%H:%M").to_string())
            .collect();
        // 09:00-09:45 are under the notice (now + 60 min = 09:00 is allowed), 09:45 needs
        // 10:15 + 10 min after-buffer <= 10:30: ok; 10:00 ends 10:30 + 10 > 10:30: no.
        // After the busy 11:00 + 15 min before-buffer: 11:15 onward; the block cuts 11:45-12:30.
        assert_eq!(
            got,
            [
                "09:00", "09:15", "09:30", "09:45", "11:15", "11:30", "12:30"
            ]
        );
    }

    #[test]
    fn a_gap_of_exactly_buffers_plus_duration_holds_one_slot() {
        let mut rules =
            settings(serde_json::json!([{"day": "wed", "start": "09:00", "end": "17:00"}]));
        rules.buffer_before_minutes = 15;
        rules.buffer_after_minutes = 10;
        let busy = [
            Interval {
                start: at("2026-06-03T09:00:00Z"),
                end: at("2026-06-03T11:00:00Z"),
            },
            Interval {
                start: at("2026-06-03T11:55:00Z"),
                end: at("2026-06-03T17:00:00Z"),
            },
        ];
        let slots = free_slots(
            chrono_tz::UTC,
            &rules,
            &busy,
            &request("2026-06-03T00:00:00Z", "2026-06-04T00:00:00Z", 30, 5),
        );
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].start, at("2026-06-03T11:15:00Z"));
    }

    #[test]
    fn horizon_and_window_bound_the_starts() {
        let mut rules = settings(
            serde_json::json!([{"day": "mon", "start": "00:00", "end": "24:00"},
            {"day": "tue", "start": "00:00", "end": "24:00"}]),
        );
        rules.horizon_days = 1;
        let mut req = request("2026-06-01T00:00:00Z", "2026-06-03T00:00:00Z", 60, 60);
        req.now = at("2026-06-01T00:00:00Z");
        let slots = free_slots(chrono_tz::UTC, &rules, &[], &req);
        assert_eq!(slots.len(), 24, "starts before now + 1 day only");
        assert_eq!(slots.last().unwrap().start, at("2026-06-01T23:00:00Z"));
    }

    #[test]
    fn kathmandu_aligns_to_its_own_quarter_hours() {
        let rules = settings(serde_json::json!([{"day": "thu", "start": "10:00", "end": "11:00"}]));
        let slots = free_slots(
            chrono_tz::Asia::Kathmandu,
            &rules,
            &[],
            &request("2026-06-04T00:00:00Z", "2026-06-05T00:00:00Z", 30, 30),
        );
        assert_eq!(slots[0].start, at("2026-06-04T04:15:00Z"));
        assert_eq!(slots.len(), 2);
    }
}
