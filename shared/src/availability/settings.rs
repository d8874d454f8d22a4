//! Weekly availability rules and booking settings, as the expert states them in their own
//! time zone. Parsing checks every field; the stored and returned form is the input form, so a
//! settings document read back can be sent again unchanged.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::{CancellationPolicy, PolicyInput};
use crate::validation::{self, ValidationErrors};

pub const MAX_RULES: usize = 70;
pub const MAX_BLOCKED: usize = 200;
pub const MAX_SLOT_DURATIONS: usize = 6;
pub const MAX_BUFFER_MINUTES: i64 = 240;
pub const MAX_NOTICE_MINUTES: i64 = 30 * 24 * 60;
pub const MAX_HORIZON_DAYS: i64 = 365;
pub const MIN_SLOT_MINUTES: i64 = 15;
pub const MAX_SLOT_MINUTES: i64 = 8 * 60;

const DEFAULT_NOTICE_MINUTES: i64 = 120;
const DEFAULT_HORIZON_DAYS: i64 = 60;
const DEFAULT_SLOT_MINUTES: i64 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Day::Mon => "mon",
            Day::Tue => "tue",
            Day::Wed => "wed",
            Day::Thu => "thu",
            Day::Fri => "fri",
            Day::Sat => "sat",
            Day::Sun => "sun",
        }
    }

    fn from_name(name: &str) -> Option<Day> {
        Day::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// A wall-clock time of day in minutes after local midnight; `24:00` (1440) ends a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WallTime(u16);

impl WallTime {
    pub const END_OF_DAY: WallTime = WallTime(24 * 60);

    /// Strict `HH:MM`, from `00:00` to `24:00`.
    pub fn parse(raw: &str) -> Option<WallTime> {
        let (hours, minutes) = raw.split_once(':')?;
        if hours.len() != 2 || minutes.len() != 2 {
            return None;
        }
        let hours: u16 = hours.parse().ok()?;
        let minutes: u16 = minutes.parse().ok()?;
        let total = hours * 60 + minutes;
        (minutes < 60 && total <= 24 * 60).then_some(WallTime(total))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for WallTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeeklyRule {
    pub day: Day,
    pub start: WallTime,
    pub end: WallTime,
}

/// A range of instants the expert is away (vacation), end exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockedRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "AvailabilityInput")]
pub struct AvailabilitySettings {
    /// Sorted by day, then start; no two overlap.
    pub rules: Vec<WeeklyRule>,
    pub buffer_before_minutes: u32,
    pub buffer_after_minutes: u32,
    pub minimum_notice_minutes: u32,
    pub horizon_days: u32,
    /// Ascending, distinct.
    pub slot_durations: Vec<u32>,
    /// Sorted by start.
    pub blocked: Vec<BlockedRange>,
    pub cancellation_policy: CancellationPolicy,
}

/// `PUT /v1/experts/me/availability` as sent; also the form we store and return.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityInput {
    pub rules: Vec<RuleInput>,
    #[serde(default)]
    pub buffer_before_minutes: i64,
    #[serde(default)]
    pub buffer_after_minutes: i64,
    #[serde(default = "default_notice")]
    pub minimum_notice_minutes: i64,
    #[serde(default = "default_horizon")]
    pub horizon_days: i64,
    #[serde(default = "default_slot_durations")]
    pub slot_durations: Vec<i64>,
    #[serde(default)]
    pub blocked: Vec<BlockedInput>,
    #[serde(default = "default_policy")]
    pub cancellation_policy: PolicyInput,
}

fn default_policy() -> PolicyInput {
    CancellationPolicy::default().into()
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub day: String,
    pub start: String,
    pub end: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BlockedInput {
    pub start: String,
    pub end: String,
}

fn default_notice() -> i64 {
    DEFAULT_NOTICE_MINUTES
}

fn default_horizon() -> i64 {
    DEFAULT_HORIZON_DAYS
}

fn default_slot_durations() -> Vec<i64> {
    vec![DEFAULT_SLOT_MINUTES]
}

impl AvailabilitySettings {
    /// No rules, the default settings otherwise: what an expert who never saved any has.
    pub fn closed() -> AvailabilitySettings {
        AvailabilitySettings {
            rules: Vec::new(),
            buffer_before_minutes: 0,
            buffer_after_minutes: 0,
            minimum_notice_minutes: DEFAULT_NOTICE_MINUTES as u32,
            horizon_days: DEFAULT_HORIZON_DAYS as u32,
            slot_durations: vec![DEFAULT_SLOT_MINUTES as u32],
            blocked: Vec::new(),
            cancellation_policy: CancellationPolicy::default(),
        }
    }
}

impl AvailabilityInput {
    pub fn parse(self) -> Result<AvailabilitySettings, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let rules = parse_rules(&mut errors, &self.rules);
        let bounded = |errors: &mut ValidationErrors, pointer: &str, value: i64, max: i64| {
            validation::in_range(errors, pointer, value, 0, max);
            u32::try_from(value.clamp(0, max)).unwrap_or_default()
        };
        let buffer_before_minutes = bounded(
            &mut errors,
            "/buffer_before_minutes",
            self.buffer_before_minutes,
            MAX_BUFFER_MINUTES,
        );
        let buffer_after_minutes = bounded(
            &mut errors,
            "/buffer_after_minutes",
            self.buffer_after_minutes,
            MAX_BUFFER_MINUTES,
        );
        let minimum_notice_minutes = bounded(
            &mut errors,
            "/minimum_notice_minutes",
            self.minimum_notice_minutes,
            MAX_NOTICE_MINUTES,
        );
        validation::in_range(
            &mut errors,
            "/horizon_days",
            self.horizon_days,
            1,
            MAX_HORIZON_DAYS,
        );
        let horizon_days = u32::try_from(self.horizon_days.clamp(1, MAX_HORIZON_DAYS)).unwrap_or(1);
        let slot_durations = parse_slot_durations(&mut errors, &self.slot_durations);
        let blocked = parse_blocked(&mut errors, &self.blocked);
        let cancellation_policy = self
            .cancellation_policy
            .parse(&mut errors, "/cancellation_policy");
        errors.finish(AvailabilitySettings {
            rules,
            buffer_before_minutes,
            buffer_after_minutes,
            minimum_notice_minutes,
            horizon_days,
            slot_durations,
            blocked,
            cancellation_policy,
        })
    }
}

fn parse_rules(errors: &mut ValidationErrors, raw: &[RuleInput]) -> Vec<WeeklyRule> {
    if raw.len() > MAX_RULES {
        errors.add("/rules", format!("at most {MAX_RULES} rules"));
        return Vec::new();
    }
    // (index in the input, rule) so overlaps are reported where the caller wrote them.
    let mut parsed: Vec<(usize, WeeklyRule)> = Vec::with_capacity(raw.len());
    for (i, rule) in raw.iter().enumerate() {
        let pointer = format!("/rules/{i}");
        let day = Day::from_name(&rule.day);
        if day.is_none() {
            errors.add(
                format!("{pointer}/day"),
                "must be one of mon, tue, wed, thu, fri, sat, sun",
            );
        }
        let start = WallTime::parse(&rule.start).filter(|t| *t < WallTime::END_OF_DAY);
        if start.is_none() {
            errors.add(
                format!("{pointer}/start"),
                "must be a time from 00:00 to 23:59",
            );
        }
        let end = WallTime::parse(&rule.end);
        if end.is_none() {
            errors.add(
                format!("{pointer}/end"),
                "must be a time from 00:01 to 24:00",
            );
        }
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            errors.add(format!("{pointer}/end"), "must be after start");
        } else if let (Some(day), Some(start), Some(end)) = (day, start, end) {
            parsed.push((i, WeeklyRule { day, start, end }));
        }
    }
    parsed.sort_by_key(|(_, r)| (r.day, r.start));
    for pair in parsed.windows(2) {
        let ((_, earlier), (later_index, later)) = (pair[0], pair[1]);
        if earlier.day == later.day && later.start < earlier.end {
            errors.add(
                format!("/rules/{later_index}"),
                format!(
                    "overlaps the {} {}-{} rule",
                    earlier.day.name(),
                    earlier.start,
                    earlier.end
                ),
            );
        }
    }
    parsed.into_iter().map(|(_, rule)| rule).collect()
}

fn parse_slot_durations(errors: &mut ValidationErrors, raw: &[i64]) -> Vec<u32> {
    if raw.is_empty() || raw.len() > MAX_SLOT_DURATIONS {
        errors.add(
            "/slot_durations",
            format!("must list 1 to {MAX_SLOT_DURATIONS} durations"),
        );
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, &minutes) in raw.iter().enumerate() {
        if !(MIN_SLOT_MINUTES..=MAX_SLOT_MINUTES).contains(&minutes) || minutes % 5 != 0 {
            errors.add(
                format!("/slot_durations/{i}"),
                format!(
                    "must be a multiple of 5 minutes from {MIN_SLOT_MINUTES} to {MAX_SLOT_MINUTES}"
                ),
            );
        } else if let Ok(minutes) = u32::try_from(minutes) {
            if out.contains(&minutes) {
                errors.add(format!("/slot_durations/{i}"), "is listed twice");
            }
            out.push(minutes);
        }
    }
    out.sort_unstable();
    out
}

fn parse_blocked(errors: &mut ValidationErrors, raw: &[BlockedInput]) -> Vec<BlockedRange> {
    if raw.len() > MAX_BLOCKED {
        errors.add("/blocked", format!("at most {MAX_BLOCKED} blocked ranges"));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, range) in raw.iter().enumerate() {
        let instant = |errors: &mut ValidationErrors, field: &str, value: &str| {
            let parsed = DateTime::parse_from_rfc3339(value).map(|t| t.to_utc());
            if parsed.is_err() {
                errors.add(
                    format!("/blocked/{i}/{field}"),
                    "must be an RFC 3339 instant such as 2026-12-24T00:00:00Z",
                );
            }
            parsed.ok()
        };
        let start = instant(errors, "start", &range.start);
        let end = instant(errors, "end", &range.end);
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                errors.add(format!("/blocked/{i}/end"), "must be after start");
            } else {
                out.push(BlockedRange { start, end });
            }
        }
    }
    out.sort_by_key(|r| r.start);
    out
}

impl From<AvailabilitySettings> for AvailabilityInput {
    fn from(settings: AvailabilitySettings) -> Self {
        AvailabilityInput {
            rules: settings
                .rules
                .iter()
                .map(|r| RuleInput {
                    day: r.day.name().to_owned(),
                    start: r.start.to_string(),
                    end: r.end.to_string(),
                })
                .collect(),
            buffer_before_minutes: settings.buffer_before_minutes.into(),
            buffer_after_minutes: settings.buffer_after_minutes.into(),
            minimum_notice_minutes: settings.minimum_notice_minutes.into(),
            horizon_days: settings.horizon_days.into(),
            slot_durations: settings.slot_durations.iter().map(|&m| m.into()).collect(),
            blocked: settings
                .blocked
                .iter()
                .map(|b| BlockedInput {
                    start: b.start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    end: b.end.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                })
                .collect(),
            cancellation_policy: settings.cancellation_policy.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(day: &str, start: &str, end: &str) -> RuleInput {
        RuleInput {
            day: day.into(),
            start: start.into(),
            end: end.into(),
        }
    }

    fn input() -> AvailabilityInput {
        serde_json::from_value(serde_json::json!({
            "rules": [
                {"day": "tue", "start": "13:00", "end": "17:00"},
                {"day": "mon", "start": "09:00", "end": "12:30"},
                {"day": "sun", "start": "20:00", "end": "24:00"}
            ],
            "buffer_before_minutes": 10,
            "buffer_after_minutes": 5,
            "slot_durations": [60, 30],
            "blocked": [{"start": "2026-12-24T00:00:00+01:00", "end": "2026-12-27T00:00:00Z"}]
        }))
        .unwrap()
    }

    fn pointers(input: AvailabilityInput) -> Vec<String> {
        input
            .parse()
            .expect_err("input should be rejected")
            .errors()
            .iter()
            .map(|e| e.pointer.clone())
            .collect()
    }

    #[test]
    fn wall_times_are_strict_hh_mm_up_to_midnight() {
        assert_eq!(WallTime::parse("00:00").map(WallTime::minutes), Some(0));
        assert_eq!(WallTime::parse("12:30").map(WallTime::minutes), Some(750));
        assert_eq!(WallTime::parse("24:00"), Some(WallTime::END_OF_DAY));
        for bad in [
            "24:01", "9:00", "09:60", "0900", "09:00:00", "-1:00", "ab:cd", "",
        ] {
            assert_eq!(WallTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn settings_are_sorted_defaulted_and_normalised_to_utc() {
        let settings = input().parse().unwrap();
        let days: Vec<Day> = settings.rules.iter().map(|r| r.day).collect();
        assert_eq!(days, [Day::Mon, Day::Tue, Day::Sun]);
        assert_eq!(settings.slot_durations, [30, 60]);
        assert_eq!(settings.minimum_notice_minutes, 120);
        assert_eq!(settings.horizon_days, 60);
        assert_eq!(
            settings.blocked[0].start.to_rfc3339(),
            "2026-12-23T23:00:00+00:00"
        );
    }

    #[test]
    fn settings_round_trip_through_their_stored_form() {
        let settings = input().parse().unwrap();
        let stored = AvailabilityInput::from(settings.clone());
        assert_eq!(stored.blocked[0].start, "2026-12-23T23:00:00Z");
        assert_eq!(stored.rules[2].end, "24:00");
        assert_eq!(stored.parse().unwrap(), settings);
    }

    #[test]
    fn each_bad_field_is_reported_at_its_pointer() {
        type Case = (&'static str, fn(&mut AvailabilityInput), &'static str);
        let cases: &[Case] = &[
            (
                "bad day",
                |i| i.rules[0].day = "monday".into(),
                "/rules/0/day",
            ),
            (
                "bad start",
                |i| i.rules[0].start = "25:00".into(),
                "/rules/0/start",
            ),
            (
                "start at 24:00",
                |i| i.rules[0].start = "24:00".into(),
                "/rules/0/start",
            ),
            (
                "end before start",
                |i| i.rules[0] = rule("tue", "13:00", "12:00"),
                "/rules/0/end",
            ),
            (
                "end equals start",
                |i| i.rules[0] = rule("tue", "13:00", "13:00"),
                "/rules/0/end",
            ),
            (
                "overlap",
                |i| i.rules.push(rule("mon", "12:00", "14:00")),
                "/rules/3",
            ),
            (
                "negative buffer",
                |i| i.buffer_before_minutes = -5,
                "/buffer_before_minutes",
            ),
            (
                "huge buffer",
                |i| i.buffer_after_minutes = 241,
                "/buffer_after_minutes",
            ),
            (
                "negative notice",
                |i| i.minimum_notice_minutes = -1,
                "/minimum_notice_minutes",
            ),
            ("zero horizon", |i| i.horizon_days = 0, "/horizon_days"),
            ("long horizon", |i| i.horizon_days = 366, "/horizon_days"),
            (
                "no durations",
                |i| i.slot_durations.clear(),
                "/slot_durations",
            ),
            (
                "odd duration",
                |i| i.slot_durations = vec![37],
                "/slot_durations/0",
            ),
            (
                "short duration",
                |i| i.slot_durations = vec![10],
                "/slot_durations/0",
            ),
            (
                "duplicate duration",
                |i| i.slot_durations = vec![30, 30],
                "/slot_durations/1",
            ),
            (
                "bad instant",
                |i| i.blocked[0].start = "2026-12-24".into(),
                "/blocked/0/start",
            ),
            (
                "empty block",
                |i| i.blocked[0].end = i.blocked[0].start.clone(),
                "/blocked/0/end",
            ),
        ];
        for (name, mutate, pointer) in cases {
            let mut bad = input();
            mutate(&mut bad);
            assert_eq!(pointers(bad), [pointer.to_string()], "case: {name}");
        }
    }

    #[test]
    fn adjacent_rules_and_a_day_ending_at_midnight_are_fine() {
        let mut ok = input();
        ok.rules = vec![
            rule("sat", "20:00", "24:00"),
            rule("sun", "00:00", "02:00"),
            rule("sat", "12:00", "20:00"),
        ];
        assert_eq!(ok.parse().unwrap().rules.len(), 3);
    }

    #[test]
    fn unknown_fields_are_refused_by_the_input_type() {
        let err = serde_json::from_value::<AvailabilityInput>(serde_json::json!({
            "rules": [], "buffer": 5
        }))
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `buffer`"), "{err}");
    }
}
