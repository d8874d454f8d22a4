//! Money: integer amounts in the currency's minor unit, tagged with an ISO 4217 currency.
//! Never floats. Codes are lower-case on the wire, as Stripe writes them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The settlement currencies we accept for rates. Each carries the facts pricing needs:
/// its minor-unit exponent (JPY has none), Stripe's minimum charge and our cap on an hourly rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Currency {
    Aud,
    Brl,
    Cad,
    Chf,
    Czk,
    Dkk,
    Eur,
    Gbp,
    Hkd,
    Inr,
    Jpy,
    Mxn,
    Nok,
    Nzd,
    Pln,
    Sek,
    Sgd,
    Usd,
}

struct CurrencyFacts {
    code: &'static str,
    exponent: u32,
    /// Stripe's documented minimum charge amount, in major units times 100 (so 0.30 is 30).
    minimum_charge_cents: i64,
    /// The highest hourly rate we accept, in major units: roughly 10,000 USD, against typos
    /// such as a rate entered in cents twice.
    max_hourly_major: i64,
}

impl Currency {
    pub const ALL: [Currency; 18] = [
        Currency::Aud,
        Currency::Brl,
        Currency::Cad,
        Currency::Chf,
        Currency::Czk,
        Currency::Dkk,
        Currency::Eur,
        Currency::Gbp,
        Currency::Hkd,
        Currency::Inr,
        Currency::Jpy,
        Currency::Mxn,
        Currency::Nok,
        Currency::Nzd,
        Currency::Pln,
        Currency::Sek,
        Currency::Sgd,
        Currency::Usd,
    ];

    fn facts(self) -> CurrencyFacts {
        let (code, exponent, minimum_charge_cents, max_hourly_major) = match self {
            Currency::Aud => ("aud", 2, 50, 15_000),
            Currency::Brl => ("brl", 2, 50, 50_000),
            Currency::Cad => ("cad", 2, 50, 15_000),
            Currency::Chf => ("chf", 2, 50, 10_000),
            Currency::Czk => ("czk", 2, 1_500, 250_000),
            Currency::Dkk => ("dkk", 2, 250, 70_000),
            Currency::Eur => ("eur", 2, 50, 10_000),
            Currency::Gbp => ("gbp", 2, 30, 10_000),
            Currency::Hkd => ("hkd", 2, 400, 80_000),
            Currency::Inr => ("inr", 2, 50, 1_000_000),
            Currency::Jpy => ("jpy", 0, 5_000, 1_500_000),
            Currency::Mxn => ("mxn", 2, 1_000, 200_000),
            Currency::Nok => ("nok", 2, 300, 100_000),
            Currency::Nzd => ("nzd", 2, 50, 15_000),
            Currency::Pln => ("pln", 2, 200, 40_000),
            Currency::Sek => ("sek", 2, 300, 100_000),
            Currency::Sgd => ("sgd", 2, 50, 15_000),
            Currency::Usd => ("usd", 2, 50, 10_000),
        };
        CurrencyFacts {
            code,
            exponent,
            minimum_charge_cents,
            max_hourly_major,
        }
    }

    /// Accepts the ISO 4217 code in either case; stores and prints it lower-case.
    pub fn from_code(code: &str) -> Option<Currency> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(code))
    }

    pub fn code(self) -> &'static str {
        self.facts().code
    }

    /// Digits after the decimal point: 2 for USD, 0 for JPY.
    pub fn exponent(self) -> u32 {
        self.facts().exponent
    }

    /// The smallest amount Stripe will charge, in minor units (USD 0.50 is 50, JPY 50 is 50).
    pub fn minimum_charge_minor(self) -> i64 {
        let facts = self.facts();
        // The table holds hundredths of a major unit; scale to this currency's minor unit.
        facts.minimum_charge_cents * 10_i64.pow(facts.exponent) / 100
    }

    /// The largest hourly rate we accept, in minor units.
    pub fn max_hourly_rate_minor(self) -> i64 {
        let facts = self.facts();
        facts.max_hourly_major * 10_i64.pow(facts.exponent)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money: `amount` in the currency's minor unit (cents; yen for JPY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }
}

/// For people: major units with the currency's digits and its code, `180.00 USD`, `5000 JPY`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = self.currency.exponent();
        let sign = if self.amount < 0 { "-" } else { "" };
        let minor = self.amount.unsigned_abs();
        let scale = 10_u64.pow(exponent);
        let code = self.currency.code().to_ascii_uppercase();
        if exponent == 0 {
            write!(f, "{sign}{minor} {code}")
        } else {
            let (major, cents) = (minor / scale, minor % scale);
            let width = exponent as usize;
            write!(f, "{sign}{major}.{cents:0width$} {code}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_in_any_case_and_print_lower_case() {
        assert_eq!(Currency::from_code("usd"), Some(Currency::Usd));
        assert_eq!(Currency::from_code("JPY"), Some(Currency::Jpy));
        assert_eq!(Currency::from_code("xxx"), None);
        assert_eq!(Currency::from_code(""), None);
        assert_eq!(Currency::Eur.to_string(), "eur");
        for c in Currency::ALL {
            assert_eq!(Currency::from_code(c.code()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.code());
        }
    }

    #[test]
    fn amounts_print_in_major_units_with_the_currency_digits() {
        assert_eq!(Money::new(18_000, Currency::Usd).to_string(), "180.00 USD");
        assert_eq!(Money::new(5, Currency::Eur).to_string(), "0.05 EUR");
        assert_eq!(Money::new(-905, Currency::Gbp).to_string(), "-9.05 GBP");
        assert_eq!(Money::new(5_000, Currency::Jpy).to_string(), "5000 JPY");
    }

    #[test]
    fn minimum_charges_follow_each_minor_unit() {
        assert_eq!(Currency::Usd.minimum_charge_minor(), 50);
        assert_eq!(Currency::Gbp.minimum_charge_minor(), 30);
        assert_eq!(Currency::Jpy.minimum_charge_minor(), 50);
        assert_eq!(Currency::Czk.minimum_charge_minor(), 1_500);
    }

    #[test]
    fn rate_caps_are_in_minor_units() {
        assert_eq!(Currency::Usd.max_hourly_rate_minor(), 1_000_000);
        assert_eq!(Currency::Jpy.max_hourly_rate_minor(), 1_500_000);
        for c in Currency::ALL {
            assert!(c.max_hourly_rate_minor() > c.minimum_charge_minor());
        }
    }
}
