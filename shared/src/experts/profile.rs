//! The expert profile: input as sent by the expert, parsed into a draft, stored as a profile.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::availability::AvailabilitySettings;
use crate::ids::{ExpertId, UserId};
use crate::money::{Currency, Money};
use crate::validation::{self, ValidationErrors};

pub const MAX_DISPLAY_NAME_CHARS: usize = 100;
pub const MAX_BIO_CHARS: usize = 5_000;
pub const MAX_SPECIALIZATIONS: usize = 20;
pub const MAX_SPECIALIZATION_CHARS: usize = 50;
/// The search listing of every bookable expert, whatever their specializations.
pub const ANY_SPECIALIZATION: &str = "*";

/// `PUT /v1/experts/me` as sent. Loose types (`i64`, `String`) so that every problem is reported
/// by `parse` with its pointer rather than as one opaque deserialisation error.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    pub display_name: String,
    #[serde(default)]
    pub bio: String,
    #[serde(default)]
    pub specializations: Vec<String>,
    pub hourly_rate: RateInput,
    pub time_zone: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateInput {
    pub amount: i64,
    pub currency: String,
}

/// A valid profile, not yet stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileDraft {
    pub display_name: String,
    pub bio: String,
    pub specializations: Vec<String>,
    pub hourly_rate: Money,
    pub time_zone: Tz,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpertProfile {
    pub id: ExpertId,
    #[serde(skip)]
    pub owner: UserId,
    pub display_name: String,
    pub bio: String,
    pub specializations: Vec<String>,
    pub hourly_rate: Money,
    pub time_zone: Tz,
    /// The expert's Stripe Connect account; never shown to anyone.
    #[serde(skip)]
    pub stripe_account: Option<String>,
    pub payouts: PayoutState,
    pub rating: Rating,
    /// Whether an external calendar keeps the slots current; nothing more is shown of it.
    pub calendar_connected: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The average of the client reviews (to two decimals) and how many there are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Rating {
    pub average: Option<f64>,
    pub count: u64,
}

impl Rating {
    pub fn from_totals(count: u64, sum: u64) -> Rating {
        Rating {
            average: (count > 0).then(|| (sum as f64 / count as f64 * 100.0).round() / 100.0),
            count,
        }
    }
}

/// What Stripe last told us about the expert's connected account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PayoutState {
    /// The account can take charges: the expert is bookable (unless something is past due).
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    /// What Stripe asked for and did not get in time (`requirements.past_due`): until it is
    /// provided the expert takes no new bookings. Only the expert is told what (by email).
    #[serde(skip)]
    pub past_due: Vec<String>,
}

impl PayoutState {
    /// Whether new bookings can be paid to this account.
    pub fn takes_charges(&self) -> bool {
        self.charges_enabled && self.past_due.is_empty()
    }
}

impl ExpertProfile {
    /// Whether clients can find and book this expert: payments onboarding finished (charges
    /// enabled) and weekly hours set.
    pub fn is_bookable(&self, settings: Option<&AvailabilitySettings>) -> bool {
        self.payouts.takes_charges() && settings.is_some_and(|s| !s.rules.is_empty())
    }

    /// The search partitions this expert is listed in: every specialization and `*` (any),
    /// or none when not bookable.
    pub fn search_partitions(&self, settings: Option<&AvailabilitySettings>) -> Vec<String> {
        if !self.is_bookable(settings) {
            return Vec::new();
        }
        std::iter::once(ANY_SPECIALIZATION.to_owned())
            .chain(self.specializations.iter().cloned())
            .collect()
    }
}

impl ProfileInput {
    pub fn parse(self) -> Result<ProfileDraft, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let display_name = validation::text(
            &mut errors,
            "/display_name",
            &self.display_name,
            true,
            MAX_DISPLAY_NAME_CHARS,
        );
        let bio = validation::text(&mut errors, "/bio", &self.bio, false, MAX_BIO_CHARS);
        let specializations = parse_specializations(&mut errors, &self.specializations);
        let hourly_rate = self.hourly_rate.parse(&mut errors, "/hourly_rate");
        let time_zone = validation::time_zone(&mut errors, "/time_zone", &self.time_zone);
        errors.finish(ProfileDraft {
            display_name,
            bio,
            specializations,
            hourly_rate: hourly_rate.unwrap_or(Money::new(0, Currency::Usd)),
            time_zone,
        })
    }
}

impl RateInput {
    fn parse(&self, errors: &mut ValidationErrors, pointer: &str) -> Option<Money> {
        let Some(currency) = Currency::from_code(&self.currency) else {
            errors.add(
                format!("{pointer}/currency"),
                format!(
                    "`{}` is not a supported ISO 4217 currency; supported: {}",
                    self.currency,
                    Currency::ALL.map(Currency::code).join(", ")
                ),
            );
            return None;
        };
        let (min, max) = (
            currency.minimum_charge_minor(),
            currency.max_hourly_rate_minor(),
        );
        if self.amount < min || self.amount > max {
            errors.add(
                format!("{pointer}/amount"),
                format!(
                    "must be between {min} and {max} (minor units of {currency}: {} digits after the point)",
                    currency.exponent()
                ),
            );
            return None;
        }
        Some(Money::new(self.amount, currency))
    }
}

/// Specializations are search keys: NFC-normalised (so one spelling of "é" finds the other),
/// trimmed, lower-cased, inner whitespace folded, duplicates
/// dropped, order kept. Letters, digits, spaces and `+ - . & /` are allowed (`c++`, `.net`,
/// `r&d`); `#` is not, since it separates the parts of our table keys.
/// One specialization as a search key, or why it cannot be one.
pub fn normalize_specialization(raw: &str) -> Result<String, String> {
    use unicode_normalization::UnicodeNormalization;
    let composed: String = raw.nfc().collect();
    let normalized = composed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if normalized.is_empty() {
        Err("must not be empty".into())
    } else if normalized.chars().count() > MAX_SPECIALIZATION_CHARS {
        Err(format!(
            "must be at most {MAX_SPECIALIZATION_CHARS} characters"
        ))
    } else if !normalized
        .chars()
        .all(|c| c.is_alphanumeric() || " +-.&/".contains(c))
    {
        Err("may hold letters, digits, spaces and + - . & / only".into())
    } else {
        Ok(normalized)
    }
}

fn parse_specializations(errors: &mut ValidationErrors, raw: &[String]) -> Vec<String> {
    if raw.len() > MAX_SPECIALIZATIONS {
        errors.add(
            "/specializations",
            format!("at most {MAX_SPECIALIZATIONS} specializations"),
        );
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, item) in raw.iter().enumerate() {
        match normalize_specialization(item) {
            Ok(normalized) if !out.contains(&normalized) => out.push(normalized),
            Ok(_duplicate) => {}
            Err(detail) => errors.add(format!("/specializations/{i}"), detail),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProfileInput {
        ProfileInput {
            display_name: "Ada Lovelace".into(),
            bio: "Analytical engines.".into(),
            specializations: vec!["Mathematics".into(), "  Machine   Learning ".into()],
            hourly_rate: RateInput {
                amount: 15_000,
                currency: "USD".into(),
            },
            time_zone: "Europe/London".into(),
        }
    }

    fn pointers(result: Result<ProfileDraft, ValidationErrors>) -> Vec<String> {
        result
            .expect_err("input should be rejected")
            .errors()
            .iter()
            .map(|e| e.pointer.clone())
            .collect()
    }

    #[test]
    fn a_valid_profile_is_normalised() {
        let draft = input().parse().unwrap();
        assert_eq!(draft.specializations, ["mathematics", "machine learning"]);
        assert_eq!(draft.hourly_rate, Money::new(15_000, Currency::Usd));
        assert_eq!(draft.time_zone, chrono_tz::Europe::London);
    }

    #[test]
    fn each_bad_field_is_reported_at_its_pointer() {
        type Case = (&'static str, fn(&mut ProfileInput), &'static str);
        let cases: &[Case] = &[
            (
                "empty name",
                |i| i.display_name = "  ".into(),
                "/display_name",
            ),
            (
                "long name",
                |i| i.display_name = "x".repeat(101),
                "/display_name",
            ),
            ("long bio", |i| i.bio = "x".repeat(5_001), "/bio"),
            (
                "unknown currency",
                |i| i.hourly_rate.currency = "xyz".into(),
                "/hourly_rate/currency",
            ),
            (
                "zero rate",
                |i| i.hourly_rate.amount = 0,
                "/hourly_rate/amount",
            ),
            (
                "negative rate",
                |i| i.hourly_rate.amount = -100,
                "/hourly_rate/amount",
            ),
            (
                "absurd rate",
                |i| i.hourly_rate.amount = 1_000_000_001,
                "/hourly_rate/amount",
            ),
            (
                "bad zone",
                |i| i.time_zone = "Europe/Atlantis".into(),
                "/time_zone",
            ),
            (
                "bad specialization",
                |i| i.specializations = vec!["c#".into()],
                "/specializations/0",
            ),
            (
                "blank specialization",
                |i| i.specializations = vec!["ok".into(), " ".into()],
                "/specializations/1",
            ),
            (
                "too many specializations",
                |i| i.specializations = (0..21).map(|n| n.to_string()).collect(),
                "/specializations",
            ),
        ];
        for (name, mutate, pointer) in cases {
            let mut bad = input();
            mutate(&mut bad);
            assert_eq!(pointers(bad.parse()), [pointer.to_string()], "case: {name}");
        }
    }

    #[test]
    fn zero_decimal_currencies_are_bounded_in_their_own_units() {
        let mut yen = input();
        yen.hourly_rate = RateInput {
            amount: 12_000,
            currency: "jpy".into(),
        };
        assert_eq!(
            yen.parse().unwrap().hourly_rate,
            Money::new(12_000, Currency::Jpy)
        );
        let mut too_cheap = input();
        too_cheap.hourly_rate = RateInput {
            amount: 49,
            currency: "jpy".into(),
        };
        assert_eq!(pointers(too_cheap.parse()), ["/hourly_rate/amount"]);
    }

    #[test]
    fn several_problems_are_reported_together() {
        let mut bad = input();
        bad.display_name = String::new();
        bad.time_zone = "nowhere".into();
        assert_eq!(pointers(bad.parse()), ["/display_name", "/time_zone"]);
    }
}
