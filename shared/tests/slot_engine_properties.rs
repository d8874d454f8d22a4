//! The slot engine against its minute-by-minute specification on random schedules, around the
//! 2026 DST changes of zones with whole-hour, half-hour and no changes and odd offsets.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use marketplace::availability::{
    AvailabilityInput, AvailabilitySettings, BlockedRange, Interval, STEPS, SlotRequest,
    free_slots, reference,
};
use proptest::prelude::*;

/// Each zone with the 2026 days its clocks change (none for Kathmandu and UTC: a quiet day).
const ZONES: [(Tz, [(u32, u32); 2]); 6] = [
    (chrono_tz::America::New_York, [(3, 8), (11, 1)]),
    (chrono_tz::Europe::London, [(3, 29), (10, 25)]),
    (chrono_tz::Europe::Berlin, [(3, 29), (10, 25)]),
    (chrono_tz::Australia::Lord_Howe, [(4, 5), (10, 4)]),
    (chrono_tz::Asia::Kathmandu, [(6, 14), (12, 6)]),
    (chrono_tz::UTC, [(6, 14), (12, 6)]),
];

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Clone)]
struct Case {
    zone: Tz,
    settings: AvailabilitySettings,
    busy: Vec<Interval>,
    request: SlotRequest,
}

fn rules() -> impl Strategy<Value = Vec<(usize, u16, u16)>> {
    // (day, start minute on a 5-minute grid, length in 5-minute units); overlaps are dropped
    // later. Half the rules fall on Sunday's early hours, where every change above happens.
    let anywhere = (0..7usize, 0..288u16, 1..120u16);
    let sunday_night = (Just(6usize), 0..60u16, 1..48u16);
    prop::collection::vec(prop_oneof![anywhere, sunday_night], 0..7)
}

fn case() -> impl Strategy<Value = Case> {
    (
        0..ZONES.len(),
        rules(),
        (0..=60u32, 0..=60u32, 0..=600u32, 1..=30u32),
        (0..2usize, -36..36i64, 60..(3 * 24 * 60i64)),
        (-2 * 24 * 60..6 * 60i64, prop::sample::select(vec![15u32, 30, 45, 60, 90, 120])),
        prop::sample::select(STEPS.to_vec()),
        prop::collection::vec((-24 * 60..4 * 24 * 60i64, 1..600i64), 0..3),
        // Busy time mostly on the 5-minute grid (so gaps of exactly one slot occur), some not.
        prop::collection::vec(
            ((-288..4 * 288i64).prop_map(|u| u * 5), (1..36i64).prop_map(|u| u * 5), prop::sample::select(vec![0i64, 0, 0, 17])),
            0..12,
        ),
    )
        .prop_filter_map(
            "overlapping rules",
            |(zone, rules, (before, after, notice, horizon), (change, shift, length), (now_shift, duration), step, blocked, busy)| {
                let (zone, changes) = ZONES[zone];
                let (m, d) = changes[change];
                let from = Utc.with_ymd_and_hms(2026, m, d, 0, 0, 0).unwrap() + Duration::hours(shift);
                let to = from + Duration::minutes(length);
                let rules: Vec<serde_json::Value> = rules
                    .into_iter()
                    .map(|(day, start, len)| {
                        let start = start * 5;
                        let end = (start + len * 5).min(1440);
                        serde_json::json!({"day": DAYS[day], "start": hhmm(start), "end": hhmm(end)})
                    })
                    .collect();
                let mut settings = serde_json::from_value::<AvailabilityInput>(serde_json::json!({
                    "rules": rules,
                    "buffer_before_minutes": before,
                    "buffer_after_minutes": after,
                    "minimum_notice_minutes": notice,
                    "horizon_days": horizon,
                    "slot_durations": [duration],
                }))
                .ok()?
                .parse()
                .ok()?;
                settings.blocked = blocked
                    .into_iter()
                    .map(|(start, len)| BlockedRange {
                        start: from + Duration::minutes(start),
                        end: from + Duration::minutes(start + len),
                    })
                    .collect();
                settings.blocked.sort_by_key(|b| b.start);
                let busy = busy
                    .into_iter()
                    .map(|(start, len, seconds)| {
                        let start = from + Duration::minutes(start) + Duration::seconds(seconds);
                        Interval { start, end: start + Duration::minutes(len) }
                    })
                    .collect();
                Some(Case {
                    zone,
                    settings,
                    busy,
                    request: SlotRequest {
                        from,
                        to,
                        duration_minutes: duration,
                        step_minutes: step,
                        now: from + Duration::minutes(now_shift),
                    },
                })
            },
        )
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_equals_the_minute_by_minute_reference(case in case()) {
        let fast = free_slots(case.zone, &case.settings, &case.busy, &case.request);
        let slow = reference::free_slots(case.zone, &case.settings, &case.busy, &case.request);
        prop_assert_eq!(fast, slow);
    }

    #[test]
    fn slots_respect_rules_busy_time_buffers_and_notice(case in case()) {
        let slots = free_slots(case.zone, &case.settings, &case.busy, &case.request);
        let before = Duration::minutes(case.settings.buffer_before_minutes.into());
        let after = Duration::minutes(case.settings.buffer_after_minutes.into());
        let earliest = case.request.now + Duration::minutes(case.settings.minimum_notice_minutes.into());
        for slot in &slots {
            prop_assert!(slot.start >= earliest && slot.start >= case.request.from && slot.start < case.request.to);
            prop_assert_eq!(slot.end - slot.start, Duration::minutes(case.request.duration_minutes.into()));
            for busy in &case.busy {
                let (widened_start, widened_end) = (busy.start - after, busy.end + before);
                prop_assert!(slot.end <= widened_start || slot.start >= widened_end,
                    "slot {:?} overlaps busy {:?} widened by the buffers", slot, busy);
            }
            let mut t: DateTime<Utc> = slot.start;
            while t < slot.end {
                prop_assert!(reference::available(case.zone, &case.settings, t), "{} is outside every rule", t);
                t += Duration::minutes(1);
            }
        }
        prop_assert!(slots.windows(2).all(|w| w[0].start < w[1].start), "slots are in start order");
    }
}
