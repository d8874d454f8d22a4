//! A PaymentIntent as the marketplace sees it: its state, its amounts, where its money goes and
//! what became of its charge, read from Stripe's object; and the pure rules about it (when it
//! must be captured, what of it was refunded).

use chrono::{DateTime, Duration, Utc};
use stripe_core::{PaymentIntent, PaymentIntentStatus};
use stripe_types::Expandable;

/// Without the charge's own deadline, an authorisation is captured within this long of the
/// PaymentIntent's creation: a day inside the 7 days Stripe keeps one.
pub const FALLBACK_CAPTURE_DAYS: i64 = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentIntentState {
    /// Waiting for the client's card (or a retry after a decline).
    AwaitingPayment,
    /// The client must act (3-D Secure); a hold left like this lapses.
    AwaitingAction,
    /// The card network has not answered yet; it will, either way.
    Processing,
    /// Authorised; the money can be captured.
    Authorized,
    Captured,
    Canceled,
}

impl PaymentIntentState {
    /// States in the order a PaymentIntent passes through them; the record of a payment only
    /// moves forward in it, whatever order the events arrive in. Before an authorisation the
    /// intent goes back and forth (a failed 3-D Secure, a failed attempt after processing),
    /// so those states share a rank and the latest read wins.
    pub fn rank(self) -> i64 {
        match self {
            PaymentIntentState::AwaitingPayment
            | PaymentIntentState::AwaitingAction
            | PaymentIntentState::Processing => 0,
            PaymentIntentState::Authorized => 1,
            PaymentIntentState::Captured | PaymentIntentState::Canceled => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PaymentIntentState::AwaitingPayment => "awaiting_payment",
            PaymentIntentState::AwaitingAction => "awaiting_action",
            PaymentIntentState::Processing => "processing",
            PaymentIntentState::Authorized => "authorized",
            PaymentIntentState::Captured => "captured",
            PaymentIntentState::Canceled => "canceled",
        }
    }
}

/// The PaymentIntent's latest charge, when it was read with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeSummary {
    pub id: String,
    pub amount: i64,
    pub amount_captured: i64,
    /// As Stripe counts it: what a partial capture left and a released authorisation count
    /// as refunded too.
    pub amount_refunded: i64,
    /// The card network's capture deadline for an uncaptured charge (epoch seconds).
    pub capture_before: Option<i64>,
    pub disputed: bool,
}

impl ChargeSummary {
    /// What went back to the client of the money actually captured: Stripe's refunded amount
    /// less what was never captured (released with a partial capture or a cancellation).
    pub fn refunded_of_captured(&self) -> i64 {
        let released = self.amount - self.amount_captured;
        (self.amount_refunded - released).max(0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PaymentIntentSummary {
    pub id: String,
    pub client_secret: Option<String>,
    pub state: PaymentIntentState,
    pub amount: i64,
    /// ISO 4217, lower case, as Stripe writes it.
    pub currency: String,
    pub application_fee_amount: Option<i64>,
    pub amount_capturable: i64,
    pub amount_received: i64,
    /// The connected account a destination charge pays.
    pub destination: Option<String>,
    /// Epoch seconds.
    pub created: i64,
    /// `metadata.appointment_id`: which appointment it says it belongs to.
    pub appointment_id: Option<String>,
    /// `automatic` when Stripe let the authorisation lapse.
    pub cancellation_reason: Option<String>,
    /// The decline (or error) code of the last failed attempt.
    pub failure: Option<String>,
    pub charge: Option<ChargeSummary>,
}

impl PaymentIntentSummary {
    /// The last moment an authorisation can be captured: the charge's `capture_before` where
    /// Stripe gives it, else creation + [`FALLBACK_CAPTURE_DAYS`].
    pub fn capture_deadline(&self) -> Option<DateTime<Utc>> {
        if self.state != PaymentIntentState::Authorized {
            return None;
        }
        let fallback = self.created + Duration::days(FALLBACK_CAPTURE_DAYS).num_seconds();
        let deadline = self
            .charge
            .as_ref()
            .and_then(|c| c.capture_before)
            .unwrap_or(fallback);
        DateTime::from_timestamp(deadline, 0)
    }

    /// What the client got back of what was captured.
    pub fn refunded(&self) -> i64 {
        self.charge
            .as_ref()
            .map_or(0, ChargeSummary::refunded_of_captured)
    }

    pub fn disputed(&self) -> bool {
        self.charge.as_ref().is_some_and(|c| c.disputed)
    }
}

impl From<PaymentIntent> for PaymentIntentSummary {
    fn from(intent: PaymentIntent) -> Self {
        let state = match intent.status {
            PaymentIntentStatus::RequiresPaymentMethod
            | PaymentIntentStatus::RequiresConfirmation => PaymentIntentState::AwaitingPayment,
            PaymentIntentStatus::RequiresAction => PaymentIntentState::AwaitingAction,
            PaymentIntentStatus::RequiresCapture => PaymentIntentState::Authorized,
            PaymentIntentStatus::Succeeded => PaymentIntentState::Captured,
            PaymentIntentStatus::Canceled => PaymentIntentState::Canceled,
            _ => PaymentIntentState::Processing,
        };
        let charge = intent
            .latest_charge
            .and_then(Expandable::into_object)
            .map(|charge| ChargeSummary {
                id: charge.id.as_str().to_owned(),
                amount: charge.amount,
                amount_captured: charge.amount_captured,
                amount_refunded: charge.amount_refunded,
                capture_before: charge
                    .payment_method_details
                    .and_then(|d| d.card)
                    .and_then(|card| card.capture_before),
                disputed: charge.disputed,
            });
        let failure = intent.last_payment_error.and_then(|error| {
            let code = error.code.as_ref().map(|code| code.as_str().to_owned());
            error.decline_code.clone().or(code)
        });
        PaymentIntentSummary {
            id: intent.id.as_str().to_owned(),
            client_secret: intent.client_secret,
            state,
            amount: intent.amount,
            currency: intent.currency.to_string(),
            application_fee_amount: intent.application_fee_amount,
            amount_capturable: intent.amount_capturable,
            amount_received: intent.amount_received,
            destination: intent
                .transfer_data
                .map(|t| t.destination.id().as_str().to_owned()),
            created: intent.created,
            appointment_id: intent.metadata.get("appointment_id").cloned(),
            cancellation_reason: intent
                .cancellation_reason
                .map(|reason| reason.as_str().to_owned()),
            failure,
            charge,
        }
    }
}

#[cfg(test)]
pub(crate) fn sample(state: PaymentIntentState) -> PaymentIntentSummary {
    PaymentIntentSummary {
        id: "pi_1".into(),
        client_secret: None,
        state,
        amount: 18_000,
        currency: "usd".into(),
        application_fee_amount: Some(1_800),
        amount_capturable: 0,
        amount_received: 0,
        destination: Some("acct_1".into()),
        created: 1_800_000_000,
        appointment_id: None,
        cancellation_reason: None,
        failure: None,
        charge: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(amount: i64, captured: i64, refunded: i64) -> ChargeSummary {
        ChargeSummary {
            id: "ch_1".into(),
            amount,
            amount_captured: captured,
            amount_refunded: refunded,
            capture_before: None,
            disputed: false,
        }
    }

    #[test]
    fn the_capture_deadline_is_the_charges_own_else_six_days_after_creation() {
        let mut intent = sample(PaymentIntentState::Authorized);
        assert_eq!(
            intent.capture_deadline().map(|d| d.timestamp()),
            Some(1_800_000_000 + 6 * 86_400)
        );
        intent.charge = Some(ChargeSummary {
            capture_before: Some(1_800_000_000 + 4 * 86_400 + 18 * 3_600),
            ..charge(18_000, 0, 0)
        });
        assert_eq!(
            intent.capture_deadline().map(|d| d.timestamp()),
            Some(1_800_000_000 + 4 * 86_400 + 18 * 3_600),
            "a merchant-initiated Visa authorisation lapses sooner"
        );
        intent.state = PaymentIntentState::Captured;
        assert_eq!(intent.capture_deadline(), None, "nothing left to capture");
    }

    #[test]
    fn released_money_is_not_a_refund_of_captured_money() {
        // Captured in full, refunded 5,000.
        assert_eq!(charge(18_000, 18_000, 5_000).refunded_of_captured(), 5_000);
        // 9,000 captured of 18,000: Stripe shows the other 9,000 as refunded.
        assert_eq!(charge(18_000, 9_000, 9_000).refunded_of_captured(), 0);
        assert_eq!(charge(18_000, 9_000, 12_000).refunded_of_captured(), 3_000);
        // A released (or lapsed) authorisation.
        assert_eq!(charge(18_000, 0, 18_000).refunded_of_captured(), 0);
    }

    #[test]
    fn states_only_move_forward_in_rank() {
        use PaymentIntentState::*;
        assert!(AwaitingPayment.rank() < Authorized.rank());
        assert!(Authorized.rank() < Captured.rank());
        assert_eq!(Canceled.rank(), Captured.rank());
        assert_eq!(
            (AwaitingAction.rank(), Processing.rank()),
            (AwaitingPayment.rank(), AwaitingPayment.rank()),
            "a failed 3-D Secure goes back to awaiting payment"
        );
    }
}
