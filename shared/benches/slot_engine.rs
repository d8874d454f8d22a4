//! The slot engine on a heavy realistic case, against the minute-by-minute reference:
//! a 90-day window, two rules per weekday, 500 busy intervals, 30-minute slots, 15-minute step.
//! `cargo bench -p marketplace --bench slot_engine`

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use marketplace::availability::{
    AvailabilityInput, AvailabilitySettings, Interval, SlotRequest, free_slots, reference,
};
use std::hint::black_box;

fn heavy_case() -> (AvailabilitySettings, Vec<Interval>, SlotRequest) {
    let rules: Vec<serde_json::Value> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .flat_map(|day| {
            [
                serde_json::json!({"day": day, "start": "09:00", "end": "12:30"}),
                serde_json::json!({"day": day, "start": "13:30", "end": "18:00"}),
            ]
        })
        .collect();
    let settings = serde_json::from_value::<AvailabilityInput>(serde_json::json!({
        "rules": rules,
        "buffer_before_minutes": 10,
        "buffer_after_minutes": 5,
        "minimum_notice_minutes": 120,
        "horizon_days": 120,
        "slot_durations": [30],
        "blocked": [{"start": "2026-12-24T00:00:00Z", "end": "2026-12-27T00:00:00Z"}],
    }))
    .unwrap()
    .parse()
    .unwrap();
    let from = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    // 500 one-hour busy intervals spread over the window at a fixed pseudo-random stride.
    let busy = (0..500i64)
        .map(|i| {
            let start = from + Duration::minutes((i * 7_919) % (90 * 24 * 60));
            Interval {
                start,
                end: start + Duration::minutes(60),
            }
        })
        .collect();
    let request = SlotRequest {
        from,
        to: from + Duration::days(90),
        duration_minutes: 30,
        step_minutes: 15,
        now: from - Duration::days(1),
    };
    (settings, busy, request)
}

fn bench(c: &mut Criterion) {
    let (settings, busy, request) = heavy_case();
    let zone = chrono_tz::Europe::London;
    let slots = free_slots(zone, &settings, &busy, &request);
    assert_eq!(
        slots,
        reference::free_slots(zone, &settings, &busy, &request)
    );
    println!("heavy case: {} free slots", slots.len());
    c.bench_function("engine: 90 days, 500 busy", |b| {
        b.iter(|| free_slots(black_box(zone), &settings, &busy, &request))
    });
    let mut group = c.benchmark_group("reference");
    group.sample_size(10);
    group.bench_function("reference: 90 days, 500 busy", |b| {
        b.iter(|| reference::free_slots(black_box(zone), &settings, &busy, &request))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
