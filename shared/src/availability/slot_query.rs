//! `GET /v1/experts/{id}/slots`: the query as sent, its validation against the expert's
//! settings, and the answer with every slot also in the viewer's zone.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::AvailabilitySettings;
use super::engine::{DEFAULT_STEP_MINUTES, Interval, STEPS, SlotRequest};
use crate::ids::ExpertId;
use crate::validation::{self, ValidationErrors};

/// The longest window one request may ask for.
pub const MAX_WINDOW_DAYS: i64 = 62;
/// The window when `to` is omitted.
pub const DEFAULT_WINDOW_DAYS: i64 = 7;

/// Query parameters as sent; all text, so each problem is reported by name.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotQueryInput {
    pub from: Option<String>,
    pub to: Option<String>,
    pub duration: Option<String>,
    pub tz: Option<String>,
    pub step: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlotQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub duration_minutes: u32,
    pub step_minutes: u32,
    pub display_zone: Tz,
}

impl SlotQueryInput {
    /// Defaults: `from` now, `to` a week after `from`, the expert's shortest duration, a
    /// 15-minute step, the expert's zone.
    pub fn parse(
        &self,
        now: DateTime<Utc>,
        expert_zone: Tz,
        settings: &AvailabilitySettings,
    ) -> Result<SlotQuery, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let instant = |errors: &mut ValidationErrors, name: &str, raw: &Option<String>| {
            let raw = raw.as_deref()?;
            let parsed = DateTime::parse_from_rfc3339(raw).map(|t| t.to_utc()).ok();
            if parsed.is_none() {
                errors.add(
                    format!("/{name}"),
                    "must be an RFC 3339 instant such as 2026-12-01T09:00:00Z",
                );
            }
            parsed
        };
        let from = instant(&mut errors, "from", &self.from).unwrap_or(now);
        let to = instant(&mut errors, "to", &self.to)
            .unwrap_or(from + Duration::days(DEFAULT_WINDOW_DAYS));
        if to <= from {
            errors.add("/to", "must be after from");
        } else if to - from > Duration::days(MAX_WINDOW_DAYS) {
            errors.add(
                "/to",
                format!("the window may span at most {MAX_WINDOW_DAYS} days"),
            );
        } else if to - from > Duration::days(settings.horizon_days.into()) {
            errors.add(
                "/to",
                format!(
                    "the window may not be longer than the expert's booking horizon of {} days",
                    settings.horizon_days
                ),
            );
        }
        let shortest = settings.slot_durations.first().copied().unwrap_or(60);
        let duration_minutes = match self.duration.as_deref().map(str::parse::<u32>) {
            None => shortest,
            Some(Ok(minutes)) if settings.slot_durations.contains(&minutes) => minutes,
            Some(_) => {
                errors.add(
                    "/duration",
                    format!(
                        "must be one of the durations this expert offers: {:?} (minutes)",
                        settings.slot_durations
                    ),
                );
                shortest
            }
        };
        let step_minutes = match self.step.as_deref().map(str::parse::<u32>) {
            None => DEFAULT_STEP_MINUTES,
            Some(Ok(step)) if STEPS.contains(&step) => step,
            Some(_) => {
                errors.add("/step", format!("must be one of {STEPS:?} (minutes)"));
                DEFAULT_STEP_MINUTES
            }
        };
        let display_zone = match &self.tz {
            Some(raw) => validation::time_zone(&mut errors, "/tz", raw),
            None => expert_zone,
        };
        errors.finish(SlotQuery {
            from,
            to,
            duration_minutes,
            step_minutes,
            display_zone,
        })
    }
}

impl SlotQuery {
    pub fn request(&self, now: DateTime<Utc>) -> SlotRequest {
        SlotRequest {
            from: self.from,
            to: self.to,
            duration_minutes: self.duration_minutes,
            step_minutes: self.step_minutes,
            now,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The same instants on the viewer's clock, with their offset.
    pub local_start: String,
    pub local_end: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlotList {
    pub expert_id: ExpertId,
    pub time_zone: Tz,
    pub duration_minutes: u32,
    pub step_minutes: u32,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub slots: Vec<Slot>,
    /// Why there are no slots although the expert has hours (a calendar that cannot be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_because: Option<&'static str>,
}

pub const HIDDEN_CALENDAR_UNREADABLE: &str =
    "the expert's calendar cannot be read right now; their slots return once it can";

impl Slot {
    pub fn new(interval: Interval, zone: Tz) -> Slot {
        let local = |t: DateTime<Utc>| {
            t.with_timezone(&zone)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        };
        Slot {
            start: interval.start,
            end: interval.end,
            local_start: local(interval.start),
            local_end: local(interval.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::AvailabilityInput;

    fn settings() -> AvailabilitySettings {
        serde_json::from_value::<AvailabilityInput>(serde_json::json!({
            "rules": [{"day": "mon", "start": "09:00", "end": "12:00"}],
            "horizon_days": 30,
            "slot_durations": [60, 30]
        }))
        .unwrap()
        .parse()
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T08:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn query(pairs: &[(&str, &str)]) -> SlotQueryInput {
        let mut input = SlotQueryInput::default();
        for (key, value) in pairs {
            let value = Some(value.to_string());
            match *key {
                "from" => input.from = value,
                "to" => input.to = value,
                "duration" => input.duration = value,
                "tz" => input.tz = value,
                "step" => input.step = value,
                _ => unreachable!(),
            }
        }
        input
    }

    #[test]
    fn defaults_fill_everything_but_nothing_is_invented() {
        let parsed = query(&[])
            .parse(now(), chrono_tz::Europe::Berlin, &settings())
            .unwrap();
        assert_eq!(parsed.from, now());
        assert_eq!(parsed.to, now() + Duration::days(7));
        assert_eq!(parsed.duration_minutes, 30);
        assert_eq!(parsed.step_minutes, 15);
        assert_eq!(parsed.display_zone, chrono_tz::Europe::Berlin);
    }

    #[test]
    fn each_bad_parameter_is_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("from", "tomorrow")], "/from"),
            (&[("to", "2026-06-01")], "/to"),
            (
                &[
                    ("from", "2026-06-02T00:00:00Z"),
                    ("to", "2026-06-02T00:00:00Z"),
                ],
                "/to",
            ),
            (
                &[
                    ("from", "2026-06-03T00:00:00Z"),
                    ("to", "2026-06-02T00:00:00Z"),
                ],
                "/to",
            ),
            (
                &[
                    ("from", "2026-06-01T00:00:00Z"),
                    ("to", "2026-07-05T00:00:00Z"),
                ],
                "/to",
            ),
            (
                &[
                    ("from", "2026-06-01T00:00:00Z"),
                    ("to", "2026-09-01T00:00:00Z"),
                ],
                "/to",
            ),
            (&[("duration", "45")], "/duration"),
            (&[("duration", "sixty")], "/duration"),
            (&[("tz", "Mars/Base")], "/tz"),
            (&[("step", "7")], "/step"),
        ];
        for (pairs, pointer) in cases {
            let errors = query(pairs)
                .parse(now(), chrono_tz::UTC, &settings())
                .expect_err("should be refused");
            let pointers: Vec<_> = errors.errors().iter().map(|e| e.pointer.as_str()).collect();
            assert_eq!(pointers, [*pointer], "{pairs:?}");
        }
    }

    #[test]
    fn slots_show_local_times_with_their_offset() {
        let start = DateTime::parse_from_rfc3339("2026-03-08T06:30:00Z")
            .unwrap()
            .to_utc();
        let slot = Slot::new(
            Interval {
                start,
                end: start + Duration::hours(1),
            },
            chrono_tz::America::New_York,
        );
        assert_eq!(slot.local_start, "2026-03-08T01:30:00-05:00");
        assert_eq!(slot.local_end, "2026-03-08T03:30:00-04:00");
    }
}
