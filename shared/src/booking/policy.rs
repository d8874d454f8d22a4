//! The cancellation policy: how much of the price goes back to the client, by who cancels and
//! how long before the session. Pure; the expert sets it with their availability settings and
//! each booking keeps the policy it was made under.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::pricing::platform_fee;
use crate::validation::{self, ValidationErrors};

pub const MAX_POLICY_HOURS: i64 = 30 * 24;

/// Full refund until `full_refund_hours` before the start, `partial_refund_percent` until
/// `partial_refund_hours` before, nothing after. Experts cancelling always refund in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationPolicy {
    pub full_refund_hours: u32,
    pub partial_refund_hours: u32,
    pub partial_refund_percent: u32,
}

impl Default for CancellationPolicy {
    /// 24 hours for a full refund, half back until 2 hours before, nothing after.
    fn default() -> Self {
        CancellationPolicy {
            full_refund_hours: 24,
            partial_refund_hours: 2,
            partial_refund_percent: 50,
        }
    }
}

/// The policy as sent, loose types for precise errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub full_refund_hours: i64,
    pub partial_refund_hours: i64,
    pub partial_refund_percent: i64,
}

impl From<CancellationPolicy> for PolicyInput {
    fn from(p: CancellationPolicy) -> Self {
        PolicyInput {
            full_refund_hours: p.full_refund_hours.into(),
            partial_refund_hours: p.partial_refund_hours.into(),
            partial_refund_percent: p.partial_refund_percent.into(),
        }
    }
}

impl PolicyInput {
    pub fn parse(&self, errors: &mut ValidationErrors, pointer: &str) -> CancellationPolicy {
        let field = |errors: &mut ValidationErrors, name: &str, value: i64, max: i64| {
            validation::in_range(errors, &format!("{pointer}/{name}"), value, 0, max);
            u32::try_from(value.clamp(0, max)).unwrap_or_default()
        };
        let full = field(
            errors,
            "full_refund_hours",
            self.full_refund_hours,
            MAX_POLICY_HOURS,
        );
        let partial = field(
            errors,
            "partial_refund_hours",
            self.partial_refund_hours,
            MAX_POLICY_HOURS,
        );
        let percent = field(
            errors,
            "partial_refund_percent",
            self.partial_refund_percent,
            100,
        );
        if partial > full {
            errors.add(
                format!("{pointer}/partial_refund_hours"),
                "must not exceed full_refund_hours",
            );
        }
        CancellationPolicy {
            full_refund_hours: full,
            partial_refund_hours: partial,
            partial_refund_percent: percent,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Canceller {
    Client,
    Expert,
}

/// How the money of a cancelled booking ends: what the client gets back, what is kept, and the
/// platform's 10% of what is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub refund: i64,
    pub kept: i64,
    pub fee_on_kept: i64,
}

impl CancellationPolicy {
    /// The percentage of the price refunded when `by` cancels at `now` a session at `start`.
    pub fn refund_percent(&self, by: Canceller, now: DateTime<Utc>, start: DateTime<Utc>) -> u32 {
        if by == Canceller::Expert {
            return 100;
        }
        let notice = start - now;
        if notice >= Duration::hours(self.full_refund_hours.into()) {
            100
        } else if notice >= Duration::hours(self.partial_refund_hours.into()) {
            self.partial_refund_percent
        } else {
            0
        }
    }

    pub fn settle(
        &self,
        total: i64,
        by: Canceller,
        now: DateTime<Utc>,
        start: DateTime<Utc>,
    ) -> Settlement {
        let percent = i64::from(self.refund_percent(by, now, start));
        let refund = (total * percent + 50) / 100;
        let kept = total - refund;
        Settlement {
            refund,
            kept,
            fee_on_kept: platform_fee(kept),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().to_utc()
    }

    #[test]
    fn refunds_follow_the_windows_and_experts_always_refund_in_full() {
        let policy = CancellationPolicy::default();
        let start = at("2026-12-07T10:00:00Z");
        let cases = [
            (Canceller::Client, "2026-12-06T10:00:00Z", 18_000, 0, 0),
            (Canceller::Client, "2026-12-06T10:00:01Z", 9_000, 9_000, 900),
            (Canceller::Client, "2026-12-07T08:00:00Z", 9_000, 9_000, 900),
            (Canceller::Client, "2026-12-07T08:00:01Z", 0, 18_000, 1_800),
            (Canceller::Client, "2026-12-07T11:00:00Z", 0, 18_000, 1_800),
            (Canceller::Expert, "2026-12-07T09:59:00Z", 18_000, 0, 0),
        ];
        for (by, now, refund, kept, fee) in cases {
            let s = policy.settle(18_000, by, at(now), start);
            assert_eq!(
                (s.refund, s.kept, s.fee_on_kept),
                (refund, kept, fee),
                "{by:?} at {now}"
            );
        }
    }

    #[test]
    fn odd_amounts_round_half_up_and_still_add_up() {
        let policy = CancellationPolicy {
            full_refund_hours: 48,
            partial_refund_hours: 1,
            partial_refund_percent: 33,
        };
        let start = at("2026-12-07T10:00:00Z");
        let s = policy.settle(6_173, Canceller::Client, at("2026-12-07T00:00:00Z"), start);
        assert_eq!((s.refund, s.kept, s.fee_on_kept), (2_037, 4_136, 414));
    }

    #[test]
    fn a_policy_must_make_sense() {
        let mut errors = ValidationErrors::new();
        PolicyInput {
            full_refund_hours: 2,
            partial_refund_hours: 24,
            partial_refund_percent: 150,
        }
        .parse(&mut errors, "/cancellation_policy");
        let pointers: Vec<_> = errors.errors().iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/cancellation_policy/partial_refund_percent",
                "/cancellation_policy/partial_refund_hours"
            ]
        );
    }
}
