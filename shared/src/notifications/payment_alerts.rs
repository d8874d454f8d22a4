//! The emails about money that went wrong: a confirmed booking whose payment Stripe cancelled,
//! a dispute opened or closed, an expert whose account Stripe stopped. The expert reads what
//! it means for them; the operators read the ids they need to act at Stripe.

use chrono::{DateTime, Utc};

use super::email::Email;
use super::templates::{email, local};
use crate::booking::{DisputeState, IncidentKind, Party, PaymentIncident, Price};
use crate::ids::AppointmentId;

/// What happened to a booking's payment.
#[derive(Clone, Copy, Debug)]
pub enum PaymentAlert<'a> {
    Incident(&'a PaymentIncident),
    Disputed(&'a DisputeState),
    DisputeClosed(&'a DisputeState),
}

/// The booking an alert is about.
#[derive(Clone, Copy, Debug)]
pub struct AlertedBooking<'a> {
    pub id: AppointmentId,
    pub start: DateTime<Utc>,
    pub price: Price,
    pub payment_intent: Option<&'a str>,
}

/// An alert's email for one reader: (alert, booking, expert, client, address).
pub type AlertTemplate = fn(PaymentAlert, &AlertedBooking, &Party, &Party, &str) -> Email;

/// The expert's email: what happened to the money of their session and what happens next.
pub fn expert_alert_email(
    alert: PaymentAlert,
    booking: &AlertedBooking,
    expert: &Party,
    client: &Party,
    address: &str,
) -> Email {
    let when = local(booking.start, expert.zone);
    let (subject, what, next) = match alert {
        PaymentAlert::Incident(incident) => (
            format!("The payment of your session on {when} did not go through"),
            match incident.kind {
                IncidentKind::AuthorizationLapsed => format!(
                    "the card authorisation for your consultation with {} on {when} lapsed \
                     before it could be captured, so the {} it held were released to the client.",
                    client.name, booking.price.total
                ),
                IncidentKind::CanceledAtStripe => format!(
                    "the payment of {} for your consultation with {} on {when} was cancelled \
                     at Stripe.",
                    booking.price.total, client.name
                ),
            },
            "The session stays booked. Our team has been told and will contact you about \
             your earnings; you do not need to do anything."
                .to_owned(),
        ),
        PaymentAlert::Disputed(dispute) => (
            format!("A payment of yours is disputed: the session on {when}"),
            format!(
                "{}'s bank disputes the payment of {} for your consultation on {when} \
                 (reason given: {}).",
                client.name,
                dispute.amount,
                dispute.reason.replace('_', " ")
            ),
            "While the bank decides, the payment is neither captured nor refunded by us. We \
             answer the bank with the booking's records; if you can add anything (messages, \
             what was delivered), reply to this email."
                .to_owned(),
        ),
        PaymentAlert::DisputeClosed(dispute) => (
            format!("The dispute about your session on {when} is closed"),
            format!(
                "the bank closed the dispute about the payment of {} for your consultation \
                 with {} on {when}: {}.",
                dispute.amount,
                client.name,
                match dispute.status.as_str() {
                    "won" => "it was decided in our favour and the money stays paid",
                    "lost" => "it was decided for the cardholder and the money went back to them",
                    // An inquiry closed, or a dispute prevented, before any chargeback.
                    _ => "it ended without a chargeback and the money stays paid",
                }
            ),
            "Your earnings statement shows the outcome.".to_owned(),
        ),
    };
    let lines = [
        format!("Hello {},", expert.name),
        String::new(),
        format!("{}{}", what[..1].to_uppercase(), &what[1..]),
        next,
    ];
    email(address, subject, &lines, None)
}

/// The operators' email: the ids and amounts to act on at Stripe.
pub fn operations_alert_email(
    alert: PaymentAlert,
    booking: &AlertedBooking,
    expert: &Party,
    client: &Party,
    address: &str,
) -> Email {
    let (subject, status) = match alert {
        PaymentAlert::Incident(incident) => (
            format!("Payment incident: {}", booking.id),
            format!(
                "Stripe cancelled the payment of a confirmed booking ({:?}); the booking stays \
                 confirmed and nothing was captured.",
                incident.kind
            ),
        ),
        PaymentAlert::Disputed(dispute) => (
            format!("Dispute opened: {}", booking.id),
            format!(
                "Dispute {} ({}, {}) over {}; {} minor units withdrawn so far. Submit evidence \
                 at Stripe before the due date.",
                dispute.id, dispute.status, dispute.reason, dispute.amount, dispute.withdrawn
            ),
        ),
        PaymentAlert::DisputeClosed(dispute) => (
            format!("Dispute {}: {}", dispute.status, booking.id),
            format!(
                "Dispute {} closed as {}; {} minor units withdrawn, {} reinstated.",
                dispute.id, dispute.status, dispute.withdrawn, dispute.reinstated
            ),
        ),
    };
    let lines = [
        status,
        format!("Appointment: {}", booking.id),
        format!(
            "PaymentIntent: {}",
            booking.payment_intent.unwrap_or("(none stored)")
        ),
        format!(
            "Amount: {} (platform fee {})",
            booking.price.total, booking.price.platform_fee
        ),
        format!("Session: {} UTC", booking.start.format("%Y-%m-%d %H:%M")),
        format!(
            "Expert: {} <{}>",
            expert.name,
            expert.email.as_deref().unwrap_or("no address")
        ),
        format!(
            "Client: {} <{}>",
            client.name,
            client.email.as_deref().unwrap_or("no address")
        ),
    ];
    email(address, subject, &lines, None)
}

/// Tells the expert that Stripe stopped their account taking charges until it gets what it
/// asked for. The link opens our payouts page, which makes a fresh Stripe onboarding link
/// when it is opened: Stripe's links are single-use, expire in minutes, and Stripe asks
/// platforms never to send them by email.
pub fn payouts_restricted_email(
    expert: &str,
    past_due: &[String],
    continue_url: &str,
    address: &str,
) -> Email {
    let needed = if past_due.is_empty() {
        "more information about you or your business".to_owned()
    } else {
        past_due
            .iter()
            .map(|r| r.replace(['_', '.'], " "))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lines = [
        format!("Hello {expert},"),
        String::new(),
        format!(
            "Stripe, who pays out your earnings, needs the following before your account can \
             take payments again: {needed}."
        ),
        "Until then clients cannot book new sessions with you. Sessions already booked are \
         not affected: they keep their payments."
            .to_owned(),
        format!("Continue your Stripe onboarding here: {continue_url}"),
    ];
    email(
        address,
        "Stripe needs more information before you can take bookings".to_owned(),
        &lines,
        None,
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::money::{Currency, Money};

    fn party(name: &str) -> Party {
        Party {
            name: name.into(),
            email: Some(format!("{}@example.com", name.to_lowercase())),
            zone: chrono_tz::Europe::London,
            sms: None,
        }
    }

    fn booking() -> AlertedBooking<'static> {
        AlertedBooking {
            id: AppointmentId::new(),
            start: Utc.with_ymd_and_hms(2026, 3, 30, 13, 0, 0).unwrap(),
            price: crate::booking::price(Money::new(18_000, Currency::Usd), 60).unwrap(),
            payment_intent: Some("pi_123"),
        }
    }

    #[test]
    fn the_expert_reads_what_it_means_and_the_operators_read_the_ids() {
        let incident = PaymentIncident {
            kind: IncidentKind::AuthorizationLapsed,
            payment_intent: "pi_123".into(),
            at: booking().start,
        };
        let alert = PaymentAlert::Incident(&incident);
        let (ada, bob) = (party("Ada"), party("Bob"));
        let to_expert = expert_alert_email(alert, &booking(), &ada, &bob, "ada@example.com");
        assert!(to_expert.text.contains("lapsed"), "{}", to_expert.text);
        assert!(to_expert.text.contains("The session stays booked"));
        assert!(
            !to_expert.text.contains("pi_123"),
            "no Stripe ids for the expert"
        );
        assert!(to_expert.text.contains("14:00 (BST)"));
        let to_operations =
            operations_alert_email(alert, &booking(), &ada, &bob, "ops@example.com");
        assert!(to_operations.text.contains("PaymentIntent: pi_123"));
        assert!(to_operations.text.contains("bob@example.com"));
    }

    #[test]
    fn a_restricted_expert_is_sent_to_our_page_not_to_a_stripe_link() {
        let email = payouts_restricted_email(
            "Ada",
            &["individual.verification.document".into()],
            "https://app.example/payouts/refresh",
            "ada@example.com",
        );
        assert!(email.text.contains("individual verification document"));
        assert!(email.text.contains("https://app.example/payouts/refresh"));
        assert!(!email.text.contains("connect.stripe"));
    }
}
