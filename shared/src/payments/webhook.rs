//! Stripe webhooks: the signature checked on the raw bytes (any `v1` under any configured
//! secret, timestamp within 300 s), then the event reduced to the few kinds we act on.

use stripe_webhook::{EventObject, Webhook, WebhookError};

use super::PaymentIntentSummary;
use crate::ids::AppointmentId;

#[derive(Debug, thiserror::Error)]
pub enum WebhookRejection {
    #[error("the Stripe-Signature header is missing")]
    MissingSignature,
    #[error("no configured secret verifies this signature, or its timestamp is outside 300 s")]
    BadSignature,
    #[error("the event could not be parsed: {0}")]
    Unparseable(String),
}

/// What an event means to us.
#[derive(Clone, Debug, PartialEq)]
pub enum PaymentEvent {
    /// A PaymentIntent of one of our appointments changed.
    PaymentIntent {
        appointment_id: AppointmentId,
        intent: PaymentIntentSummary,
        kind: String,
    },
    /// Money went back to the client for one of our appointments.
    ChargeRefunded {
        appointment_id: AppointmentId,
        amount_refunded: i64,
    },
    /// A connected account's capabilities changed.
    AccountUpdated {
        account: String,
        charges_enabled: bool,
        payouts_enabled: bool,
    },
    /// Anything else: acknowledged, not acted on.
    Ignored { kind: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedEvent {
    pub id: String,
    /// Stripe's creation time (epoch seconds): orders events that arrive out of order.
    pub created: i64,
    pub event: PaymentEvent,
}

/// Verifies `payload` against every secret (the platform's and the Connect endpoint's, and an
/// old one during rotation) and parses it.
pub fn verify(
    payload: &str,
    signature: Option<&str>,
    secrets: &[String],
) -> Result<VerifiedEvent, WebhookRejection> {
    let signature = signature.ok_or(WebhookRejection::MissingSignature)?;
    let mut last = WebhookRejection::BadSignature;
    for secret in secrets {
        match Webhook::construct_event(payload, signature, secret) {
            Ok(event) => {
                return Ok(VerifiedEvent {
                    id: event.id.as_str().to_owned(),
                    created: event.created,
                    event: meaning(event.type_.as_str(), event.data.object),
                });
            }
            Err(WebhookError::BadParse(reason)) => last = WebhookRejection::Unparseable(reason),
            Err(_) => {}
        }
    }
    Err(last)
}

fn meaning(kind: &str, object: EventObject) -> PaymentEvent {
    match object {
        EventObject::PaymentIntentAmountCapturableUpdated(intent)
        | EventObject::PaymentIntentSucceeded(intent)
        | EventObject::PaymentIntentPaymentFailed(intent)
        | EventObject::PaymentIntentCanceled(intent) => {
            let appointment = intent
                .metadata
                .get("appointment_id")
                .and_then(|id| id.parse().ok());
            match appointment {
                Some(appointment_id) => PaymentEvent::PaymentIntent {
                    appointment_id,
                    intent: (*intent).into(),
                    kind: kind.to_owned(),
                },
                None => PaymentEvent::Ignored {
                    kind: kind.to_owned(),
                },
            }
        }
        EventObject::ChargeRefunded(charge) => {
            match charge
                .metadata
                .get("appointment_id")
                .and_then(|id| id.parse().ok())
            {
                Some(appointment_id) => PaymentEvent::ChargeRefunded {
                    appointment_id,
                    amount_refunded: charge.amount_refunded,
                },
                None => PaymentEvent::Ignored {
                    kind: kind.to_owned(),
                },
            }
        }
        EventObject::AccountUpdated(account) => PaymentEvent::AccountUpdated {
            account: account.id.as_str().to_owned(),
            charges_enabled: account.charges_enabled.unwrap_or(false),
            payouts_enabled: account.payouts_enabled.unwrap_or(false),
        },
        _ => PaymentEvent::Ignored {
            kind: kind.to_owned(),
        },
    }
}
