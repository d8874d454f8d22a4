//! An appointment's payment, as rules: which PaymentIntent is its own, when its authorisation
//! must be captured, what a cancelled payment or a dispute means for it. Pure; the booking
//! service applies them to what Stripe reads back.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::Appointment;
use crate::money::Money;
use crate::payments::{DisputeSummary, PaymentIntentSummary};

/// An authorisation is captured this long before its deadline at the latest, leaving the
/// sweeps (every few minutes) hours of retries before Stripe lets it lapse.
pub const CAPTURE_MARGIN_HOURS: i64 = 6;

/// Why a PaymentIntent does not belong to the appointment its metadata names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForeignPayment {
    #[error("the appointment stores no PaymentIntent")]
    NoneStored,
    #[error("the appointment stores another PaymentIntent")]
    OtherIntent,
    #[error("the amount differs from the appointment's total")]
    Amount,
    #[error("the currency differs from the appointment's")]
    Currency,
    #[error("the money goes to another account than the expert's")]
    Destination,
}

/// What happened to a confirmed booking's payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// Stripe cancelled the authorisation at its deadline, uncaptured.
    AuthorizationLapsed,
    /// Someone cancelled the PaymentIntent at Stripe (the dashboard, support).
    CanceledAtStripe,
}

/// A confirmed booking whose payment Stripe cancelled. The booking stays confirmed (the
/// session is on, or took place); the expert and the operators are told, and decide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIncident {
    pub kind: IncidentKind,
    pub payment_intent: String,
    pub at: DateTime<Utc>,
}

/// A dispute on the booking's charge, as Stripe last described it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeState {
    pub id: String,
    /// Stripe's status (`needs_response`, `under_review`, `won`, `lost`, `warning_*` for an
    /// inquiry).
    pub status: String,
    pub reason: String,
    pub amount: Money,
    pub opened_at: DateTime<Utc>,
    /// Taken from the platform's balance, and given back after a win, in minor units.
    pub withdrawn: i64,
    pub reinstated: i64,
}

impl DisputeState {
    pub fn from_summary(dispute: &DisputeSummary, amount: Money) -> DisputeState {
        DisputeState {
            id: dispute.id.clone(),
            status: dispute.status.clone(),
            reason: dispute.reason.clone(),
            amount,
            opened_at: DateTime::from_timestamp(dispute.created, 0).unwrap_or_default(),
            withdrawn: dispute.withdrawn,
            reinstated: dispute.reinstated,
        }
    }

    pub fn is_open(&self) -> bool {
        crate::payments::dispute::is_open(&self.status)
    }

    pub fn rank(&self) -> i64 {
        crate::payments::dispute::rank(&self.status)
    }

    /// While a dispute is being decided, and after it was lost, the bank decides where the
    /// money goes: we neither capture nor refund (Stripe would refuse a refund anyway).
    pub fn blocks_money(&self) -> bool {
        !matches!(self.status.as_str(), "won" | "warning_closed" | "prevented")
    }
}

/// The incident as the two parties see it: what and when, no Stripe ids.
pub fn show_incident<S: serde::Serializer>(
    incident: &Option<PaymentIncident>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    match incident {
        None => serializer.serialize_none(),
        Some(incident) => {
            let mut shown = serializer.serialize_struct("PaymentIncident", 2)?;
            shown.serialize_field("kind", &incident.kind)?;
            shown.serialize_field("at", &incident.at)?;
            shown.end()
        }
    }
}

/// The dispute as the two parties see it: everything but Stripe's id.
pub fn show_dispute<S: serde::Serializer>(
    dispute: &Option<DisputeState>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    match dispute {
        None => serializer.serialize_none(),
        Some(dispute) => {
            let mut shown = serializer.serialize_struct("Dispute", 6)?;
            shown.serialize_field("status", &dispute.status)?;
            shown.serialize_field("reason", &dispute.reason)?;
            shown.serialize_field("amount", &dispute.amount)?;
            shown.serialize_field("opened_at", &dispute.opened_at)?;
            shown.serialize_field("withdrawn", &dispute.withdrawn)?;
            shown.serialize_field("reinstated", &dispute.reinstated)?;
            shown.end()
        }
    }
}

impl Appointment {
    /// Whether `intent` is this appointment's own: the id stored when it was created, for
    /// exactly its total, in its currency, paying its expert.
    pub fn owns_payment(&self, intent: &PaymentIntentSummary) -> Result<(), ForeignPayment> {
        match &self.payment_intent {
            None => return Err(ForeignPayment::NoneStored),
            Some(own) if *own != intent.id => return Err(ForeignPayment::OtherIntent),
            Some(_) => {}
        }
        if intent.amount != self.price.total.amount {
            return Err(ForeignPayment::Amount);
        }
        if intent.currency != self.price.total.currency.code() {
            return Err(ForeignPayment::Currency);
        }
        match (&self.payment_destination, &intent.destination) {
            (Some(ours), Some(theirs)) if ours == theirs => Ok(()),
            // Booked before destinations were stored: the intent's own id and amount decide.
            (None, Some(_)) => Ok(()),
            _ => Err(ForeignPayment::Destination),
        }
    }

    /// When the sweep must capture the authorisation ahead of completion: a margin before its
    /// deadline. `None` when nothing is held (charged at booking, captured, cancelled at
    /// Stripe, disputed) or no deadline is known.
    pub fn capture_due(&self) -> Option<DateTime<Utc>> {
        if self.charged_at_booking
            || self.captured_at.is_some()
            || self.payment_incident.is_some()
            || self.dispute.is_some()
        {
            return None;
        }
        self.capture_deadline
            .map(|deadline| deadline - Duration::hours(CAPTURE_MARGIN_HOURS))
    }

    /// Whether our own code may capture or refund this booking's money now.
    pub fn money_may_move(&self) -> bool {
        !self
            .dispute
            .as_ref()
            .is_some_and(DisputeState::blocks_money)
    }

    /// What a cancelled intent means for this confirmed booking.
    pub fn incident_for(
        &self,
        intent: &PaymentIntentSummary,
        now: DateTime<Utc>,
    ) -> PaymentIncident {
        PaymentIncident {
            kind: if intent.cancellation_reason.as_deref() == Some("automatic") {
                IncidentKind::AuthorizationLapsed
            } else {
                IncidentKind::CanceledAtStripe
            },
            payment_intent: intent.id.clone(),
            at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::availability::AvailabilitySettings;
    use crate::booking::{BookingRequest, price};
    use crate::ids::{ExpertId, UserId};
    use crate::money::Currency;
    use crate::payments::PaymentIntentState;

    fn booked() -> Appointment {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let request = BookingRequest {
            expert_id: ExpertId::new(),
            start: now + Duration::days(5),
            duration_minutes: 60,
            notes: String::new(),
        };
        let mut appointment = Appointment::hold(
            &request,
            UserId::parse("bob").unwrap(),
            None,
            &AvailabilitySettings::closed(),
            price(Money::new(18_000, Currency::Usd), 60).unwrap(),
            "acct_1".into(),
            now,
        );
        appointment.payment_intent = Some("pi_1".into());
        appointment
    }

    fn intent() -> PaymentIntentSummary {
        crate::payments::intent::sample(PaymentIntentState::Authorized)
    }

    #[test]
    fn only_the_stored_intent_for_the_whole_total_to_the_expert_is_the_appointments() {
        let appointment = booked();
        assert_eq!(appointment.owns_payment(&intent()), Ok(()));
        type Case = (&'static str, fn(&mut PaymentIntentSummary), ForeignPayment);
        let cases: &[Case] = &[
            (
                "another intent",
                |i| i.id = "pi_2".into(),
                ForeignPayment::OtherIntent,
            ),
            ("1.00 USD", |i| i.amount = 100, ForeignPayment::Amount),
            (
                "another currency",
                |i| i.currency = "eur".into(),
                ForeignPayment::Currency,
            ),
            (
                "another account",
                |i| i.destination = Some("acct_2".into()),
                ForeignPayment::Destination,
            ),
            (
                "no destination",
                |i| i.destination = None,
                ForeignPayment::Destination,
            ),
        ];
        for (name, change, reason) in cases {
            let mut foreign = intent();
            change(&mut foreign);
            assert_eq!(appointment.owns_payment(&foreign), Err(*reason), "{name}");
        }
        let mut unpaid = booked();
        unpaid.payment_intent = None;
        assert_eq!(
            unpaid.owns_payment(&intent()),
            Err(ForeignPayment::NoneStored)
        );
    }

    #[test]
    fn a_held_payment_is_captured_before_its_deadline_and_never_twice() {
        let mut appointment = booked();
        appointment.status = crate::booking::AppointmentStatus::Confirmed;
        let deadline = appointment.created_at + Duration::days(7);
        appointment.capture_deadline = Some(deadline);
        assert_eq!(
            appointment.capture_due(),
            Some(deadline - Duration::hours(CAPTURE_MARGIN_HOURS))
        );
        // The session (5 days ahead, completes 24 h after its end) is swept at the earlier
        // of the two.
        assert_eq!(
            appointment.sweep_due(),
            Some(crate::booking::SweepDue::Session(
                appointment.end + Duration::hours(24)
            ))
        );
        appointment.capture_deadline = Some(appointment.start);
        assert_eq!(
            appointment.sweep_due(),
            Some(crate::booking::SweepDue::Session(
                appointment.start - Duration::hours(CAPTURE_MARGIN_HOURS)
            )),
            "a deadline before the session is met before the session"
        );
        appointment.captured_at = Some(appointment.start);
        assert_eq!(appointment.capture_due(), None);
        appointment.captured_at = None;
        appointment.charged_at_booking = true;
        assert_eq!(appointment.capture_due(), None, "nothing held");
    }

    #[test]
    fn a_lapsed_authorisation_and_a_cancellation_at_stripe_are_told_apart() {
        let appointment = booked();
        let now = appointment.created_at;
        let mut canceled = crate::payments::intent::sample(PaymentIntentState::Canceled);
        canceled.cancellation_reason = Some("automatic".into());
        assert_eq!(
            appointment.incident_for(&canceled, now).kind,
            IncidentKind::AuthorizationLapsed
        );
        canceled.cancellation_reason = Some("requested_by_customer".into());
        assert_eq!(
            appointment.incident_for(&canceled, now).kind,
            IncidentKind::CanceledAtStripe
        );
    }

    #[test]
    fn an_open_or_lost_dispute_stops_our_money_moves() {
        let mut appointment = booked();
        assert!(appointment.money_may_move());
        for (status, blocks) in [
            ("warning_needs_response", true),
            ("needs_response", true),
            ("under_review", true),
            ("lost", true),
            ("won", false),
            ("warning_closed", false),
        ] {
            appointment.dispute = Some(DisputeState {
                id: "dp_1".into(),
                status: status.into(),
                reason: "fraudulent".into(),
                amount: appointment.price.total,
                opened_at: appointment.created_at,
                withdrawn: 0,
                reinstated: 0,
            });
            assert_eq!(appointment.money_may_move(), !blocks, "{status}");
        }
    }
}
