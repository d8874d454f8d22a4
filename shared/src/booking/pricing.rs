//! Pricing: hourly rate x duration, the platform's 10% and the expert's 90%, all in integer
//! minor units of one currency.

use serde::Serialize;

use crate::money::Money;

/// The platform's share of every consultation, in percent.
pub const PLATFORM_FEE_PERCENT: i64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Price {
    pub total: Money,
    pub platform_fee: Money,
    pub expert_earnings: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("{total} {currency} is below the minimum charge of {minimum} {currency}")]
    BelowMinimumCharge {
        total: i64,
        minimum: i64,
        currency: crate::money::Currency,
    },
}

/// `rate x minutes / 60`, rounded half up to the minor unit; the fee is 10% of that total,
/// rounded half up; the expert gets the rest, so fee + earnings = total exactly.
pub fn price(hourly_rate: Money, duration_minutes: u32) -> Result<Price, PricingError> {
    let currency = hourly_rate.currency;
    let total = round_div(hourly_rate.amount * i64::from(duration_minutes), 60);
    if total < currency.minimum_charge_minor() {
        return Err(PricingError::BelowMinimumCharge {
            total,
            minimum: currency.minimum_charge_minor(),
            currency,
        });
    }
    let fee = platform_fee(total);
    Ok(Price {
        total: Money::new(total, currency),
        platform_fee: Money::new(fee, currency),
        expert_earnings: Money::new(total - fee, currency),
    })
}

/// 10% of a non-negative amount, rounded half up. Also used to recompute the fee of a partial
/// capture, since Stripe caps but does not pro-rate it.
pub fn platform_fee(amount: i64) -> i64 {
    round_div(amount * PLATFORM_FEE_PERCENT, 100)
}

impl Price {
    /// What the expert keeps once `refund` went back to the client: the rest, less the
    /// platform's share recomputed on the rest (as the capture or refund charged it).
    pub fn expert_keeps_after(&self, refund: Money) -> Money {
        let kept = self.total.amount - refund.amount;
        Money::new(kept - platform_fee(kept), self.total.currency)
    }
}

/// `numerator / denominator` rounded half up, for non-negative numerators.
fn round_div(numerator: i64, denominator: i64) -> i64 {
    (numerator + denominator / 2) / denominator
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn after_a_refund_the_expert_keeps_ninety_percent_of_the_rest() {
        let price = price(Money::new(18_000, Currency::Usd), 60).unwrap();
        let keeps = |refund| {
            price
                .expert_keeps_after(Money::new(refund, Currency::Usd))
                .amount
        };
        assert_eq!(keeps(0), price.expert_earnings.amount);
        assert_eq!(keeps(9_000), 8_100);
        assert_eq!(keeps(18_000), 0);
    }

    #[test]
    fn prices_split_ninety_ten_and_add_up() {
        let cases = [
            // (rate, minutes, total, fee)
            (Money::new(15_000, Currency::Usd), 60, 15_000, 1_500),
            (Money::new(15_000, Currency::Usd), 30, 7_500, 750),
            (Money::new(9_999, Currency::Usd), 45, 7_499, 750),
            (Money::new(12_345, Currency::Eur), 50, 10_288, 1_029),
            (Money::new(12_000, Currency::Jpy), 90, 18_000, 1_800),
            (Money::new(5_555, Currency::Jpy), 30, 2_778, 278),
        ];
        for (rate, minutes, total, fee) in cases {
            let price = price(rate, minutes).unwrap();
            assert_eq!(price.total.amount, total, "{rate:?} x {minutes}");
            assert_eq!(price.platform_fee.amount, fee, "{rate:?} x {minutes}");
            assert_eq!(
                price.total.amount,
                price.platform_fee.amount + price.expert_earnings.amount
            );
            assert_eq!(price.total.currency, rate.currency);
        }
    }

    #[test]
    fn exact_half_units_round_up_in_two_and_zero_decimal_currencies() {
        let cases = [
            // (rate, minutes, total, fee): each a tie somewhere.
            // 12,345 x 60 / 60: the fee is 1,234.5 cents.
            (Money::new(12_345, Currency::Usd), 60, 12_345, 1_235),
            // 9,999 x 30 / 60 = 4,999.5 cents; its fee is then exactly 500.
            (Money::new(9_999, Currency::Usd), 30, 5_000, 500),
            // 6,175 yen: the fee is 617.5 yen.
            (Money::new(6_175, Currency::Jpy), 60, 6_175, 618),
            // 2,469 x 30 / 60 = 1,234.5 yen; its fee 123.5 yen.
            (Money::new(2_469, Currency::Jpy), 30, 1_235, 124),
        ];
        for (rate, minutes, total, fee) in cases {
            let price = price(rate, minutes).unwrap();
            assert_eq!(
                (price.total.amount, price.platform_fee.amount),
                (total, fee),
                "{rate:?} x {minutes}"
            );
            assert_eq!(price.expert_earnings.amount, total - fee);
        }
        // A partial capture's fee, recomputed: 10% of 4,445 is 444.5.
        assert_eq!(platform_fee(4_445), 445);
    }

    #[test]
    fn a_price_below_stripes_minimum_is_refused() {
        assert!(matches!(
            price(Money::new(100, Currency::Usd), 15),
            Err(PricingError::BelowMinimumCharge {
                total: 25,
                minimum: 50,
                ..
            })
        ));
        assert!(price(Money::new(200, Currency::Usd), 15).is_ok());
    }
}
