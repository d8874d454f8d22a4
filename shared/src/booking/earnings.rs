//! Earnings: what the payments of an expert's sessions came to, by currency. Pure: computed
//! from the payment records the webhooks keep, so the totals reconcile with Stripe to the cent.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Currency;
use crate::validation::ValidationErrors;

/// One appointment's money as Stripe last reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PaymentRecord {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub currency: Option<Currency>,
    #[serde(default)]
    pub amount_received: i64,
    /// The platform's fee on what was captured.
    #[serde(default, rename = "application_fee_amount")]
    pub application_fee: Option<i64>,
    #[serde(default)]
    pub amount_refunded: i64,
    /// Stripe's status of a dispute on the charge, if one was opened.
    #[serde(default)]
    pub dispute_status: Option<String>,
    #[serde(default)]
    pub dispute_amount: i64,
    /// What the dispute took from the platform's balance, and gave back.
    #[serde(default)]
    pub dispute_withdrawn: i64,
    #[serde(default)]
    pub dispute_reinstated: i64,
}

/// `GET /v1/experts/me/earnings?from=&to=` as sent: sessions starting in the window.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarningsInput {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A window of session starts; either end may be open.
pub type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

impl EarningsInput {
    pub fn parse(&self) -> Result<Window, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut instant = |name: &str, raw: &Option<String>| {
            let raw = raw.as_deref()?;
            let parsed = DateTime::parse_from_rfc3339(raw).map(|t| t.to_utc()).ok();
            if parsed.is_none() {
                errors.add(format!("/{name}"), "must be an RFC 3339 instant");
            }
            parsed
        };
        let from = instant("from", &self.from);
        let to = instant("to", &self.to);
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            errors.add("/to", "must be after from");
        }
        errors.finish((from, to))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EarningsLine {
    pub currency: Option<Currency>,
    /// Money captured from clients.
    pub gross: i64,
    /// The platform's 10%, less what refunds gave back.
    pub platform_fees: i64,
    /// Money returned to clients.
    pub refunds: i64,
    /// What the expert keeps: gross - refunds - platform fees.
    pub net: i64,
    /// Money withdrawn in disputes still being decided (an inquiry withdraws nothing).
    pub disputed: i64,
    /// Money lost in disputes decided for the cardholder (the platform's balance paid it).
    pub lost: i64,
}

impl PaymentRecord {
    /// The fee left after refunds: Stripe returns a refund's share of the fee in proportion
    /// (`refund_application_fee`), rounded half up.
    pub fn fee_kept(&self) -> i64 {
        let fee = self.application_fee.unwrap_or(0);
        if self.amount_received == 0 {
            return 0;
        }
        let returned =
            (fee * self.amount_refunded * 2 + self.amount_received) / (self.amount_received * 2);
        fee - returned
    }
}

/// Totals by currency, in currency order.
pub fn summarize(
    payments: impl IntoIterator<Item = (Currency, PaymentRecord)>,
) -> Vec<EarningsLine> {
    let mut lines: Vec<EarningsLine> = Vec::new();
    for (currency, record) in payments {
        let index = match lines.iter().position(|l| l.currency == Some(currency)) {
            Some(index) => index,
            None => {
                lines.push(EarningsLine {
                    currency: Some(currency),
                    ..EarningsLine::default()
                });
                lines.len() - 1
            }
        };
        let line = &mut lines[index];
        line.gross += record.amount_received;
        line.refunds += record.amount_refunded;
        line.platform_fees += record.fee_kept();
        line.net = line.gross - line.refunds - line.platform_fees;
        let withheld = record.dispute_withdrawn - record.dispute_reinstated;
        match record.dispute_status.as_deref() {
            Some("lost") => line.lost += withheld,
            Some(status) if crate::payments::dispute::is_open(status) => line.disputed += withheld,
            _ => {}
        }
    }
    lines.sort_by_key(|l| l.currency.map(Currency::code));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(received: i64, fee: i64, refunded: i64) -> PaymentRecord {
        PaymentRecord {
            state: "captured".into(),
            currency: Some(Currency::Usd),
            amount_received: received,
            application_fee: Some(fee),
            amount_refunded: refunded,
            dispute_status: None,
            dispute_amount: 0,
            dispute_withdrawn: 0,
            dispute_reinstated: 0,
        }
    }

    #[test]
    fn totals_add_up_by_currency() {
        let lines = summarize([
            (Currency::Usd, record(18_000, 1_800, 0)),
            (Currency::Usd, record(9_000, 900, 0)),
            (Currency::Usd, record(18_000, 1_800, 9_000)),
            (Currency::Usd, record(18_000, 1_800, 18_000)),
            (Currency::Jpy, record(6_173, 617, 0)),
            (Currency::Usd, PaymentRecord::default()),
        ]);
        assert_eq!(lines.len(), 2);
        let jpy = &lines[0];
        assert_eq!(
            (jpy.gross, jpy.platform_fees, jpy.refunds, jpy.net),
            (6_173, 617, 0, 5_556)
        );
        let usd = &lines[1];
        assert_eq!(
            (usd.gross, usd.platform_fees, usd.refunds, usd.net),
            (63_000, 3_600, 27_000, 32_400)
        );
    }

    #[test]
    fn disputed_and_lost_money_is_shown_apart() {
        let disputed = |status: &str, withdrawn: i64, reinstated: i64| PaymentRecord {
            dispute_status: Some(status.into()),
            dispute_amount: 18_000,
            dispute_withdrawn: withdrawn,
            dispute_reinstated: reinstated,
            ..record(18_000, 1_800, 0)
        };
        let lines = summarize([
            (Currency::Usd, disputed("needs_response", 18_000, 0)),
            (Currency::Usd, disputed("under_review", 18_000, 0)),
            (Currency::Usd, disputed("warning_needs_response", 0, 0)),
            (Currency::Usd, disputed("lost", 18_000, 0)),
            (Currency::Usd, disputed("won", 18_000, 18_000)),
            (Currency::Usd, record(18_000, 1_800, 0)),
        ]);
        assert_eq!(
            (lines[0].disputed, lines[0].lost),
            (36_000, 18_000),
            "an inquiry withdraws nothing; a won dispute gives it back"
        );
        assert_eq!(lines[0].gross, 108_000, "a dispute is not a refund");
    }
}
