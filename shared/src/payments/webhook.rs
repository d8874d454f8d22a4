//! Stripe webhooks: the signature checked on the raw bytes (any `v1` under any configured
//! secret, timestamp within 300 s), then the event reduced to the object it is about.
//!
//! Events are triggers, not truth: the payment service reads the object back from Stripe
//! before acting, so their order, duplicates and stale copies do not matter. Only the few
//! fields needed to know what to read back are parsed here, by us: Stripe renders an event in
//! its endpoint's API version, and a version that changed some field we never read must not
//! stop the ones we do.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use stripe_webhook::{Webhook, WebhookError};

#[derive(Debug, thiserror::Error)]
pub enum WebhookRejection {
    #[error("the Stripe-Signature header is missing")]
    MissingSignature,
    #[error("no configured secret verifies this signature, or its timestamp is outside 300 s")]
    BadSignature,
    /// Signed by Stripe, but not an event we can read.
    #[error("the event could not be read: {0}")]
    Unparseable(String),
}

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentEvent {
    /// A PaymentIntent (or its charge's refunds) changed.
    PaymentIntent { payment_intent: String },
    /// A dispute was opened, moved or closed.
    Dispute { dispute: String },
    /// A connected account's capabilities or requirements changed.
    AccountUpdated { account: String },
    /// Anything else: acknowledged, not acted on.
    Ignored,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEvent {
    pub id: String,
    pub kind: String,
    /// Stripe's creation time (epoch seconds).
    pub created: i64,
    /// The version it was rendered in (the endpoint's).
    pub api_version: Option<String>,
    pub event: PaymentEvent,
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    #[serde(default)]
    api_version: Option<String>,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: Value,
}

/// Verifies `payload` against every secret (the platform's and the Connect endpoint's, and an
/// old one during rotation), then reads it.
pub fn verify(
    payload: &str,
    signature: Option<&str>,
    secrets: &[SecretString],
) -> Result<VerifiedEvent, WebhookRejection> {
    let signature = signature.ok_or(WebhookRejection::MissingSignature)?;
    // The library checks signature and timestamp before it parses: a parse failure means the
    // bytes are Stripe's, only in a shape its types do not know.
    let verified = secrets.iter().any(|secret| {
        matches!(
            Webhook::construct_event(payload, signature, secret.expose_secret()),
            Ok(_) | Err(WebhookError::BadParse(_))
        )
    });
    if !verified {
        return Err(WebhookRejection::BadSignature);
    }
    read(payload)
}

/// The event's id, type, version and the object it names.
fn read(payload: &str) -> Result<VerifiedEvent, WebhookRejection> {
    let envelope: Envelope =
        serde_json::from_str(payload).map_err(|e| WebhookRejection::Unparseable(e.to_string()))?;
    let object = &envelope.data.object;
    let field = |name: &str| -> Result<String, WebhookRejection> {
        object[name].as_str().map(str::to_owned).ok_or_else(|| {
            WebhookRejection::Unparseable(format!("{} has no `{name}`", envelope.kind))
        })
    };
    let event = match envelope.kind.as_str() {
        "payment_intent.amount_capturable_updated"
        | "payment_intent.succeeded"
        | "payment_intent.payment_failed"
        | "payment_intent.canceled"
        | "payment_intent.processing"
        | "payment_intent.requires_action" => PaymentEvent::PaymentIntent {
            payment_intent: field("id")?,
        },
        // Refunds change no PaymentIntent field, only its charge.
        "charge.refunded" => match object["payment_intent"].as_str() {
            Some(intent) => PaymentEvent::PaymentIntent {
                payment_intent: intent.to_owned(),
            },
            None => PaymentEvent::Ignored,
        },
        kind if kind.starts_with("charge.dispute.") => PaymentEvent::Dispute {
            dispute: field("id")?,
        },
        "account.updated" => PaymentEvent::AccountUpdated {
            account: field("id")?,
        },
        _ => PaymentEvent::Ignored,
    };
    if let Some(version) = &envelope.api_version
        && version != super::api_version()
    {
        tracing::debug!(
            event_id = envelope.id,
            version,
            "event in another API version; only its object id is read"
        );
    }
    Ok(VerifiedEvent {
        id: envelope.id,
        kind: envelope.kind,
        created: envelope.created,
        api_version: envelope.api_version,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, object: Value) -> String {
        serde_json::json!({"id": "evt_1", "object": "event", "type": kind, "created": 1,
                           "api_version": "2019-02-19", "data": {"object": object}})
        .to_string()
    }

    #[test]
    fn each_kind_names_the_object_to_read_back() {
        let cases = [
            (
                "payment_intent.succeeded",
                serde_json::json!({"id": "pi_1"}),
                PaymentEvent::PaymentIntent {
                    payment_intent: "pi_1".into(),
                },
            ),
            (
                "charge.refunded",
                serde_json::json!({"id": "ch_1", "payment_intent": "pi_2"}),
                PaymentEvent::PaymentIntent {
                    payment_intent: "pi_2".into(),
                },
            ),
            (
                "charge.dispute.funds_withdrawn",
                serde_json::json!({"id": "dp_1"}),
                PaymentEvent::Dispute {
                    dispute: "dp_1".into(),
                },
            ),
            (
                "account.updated",
                serde_json::json!({"id": "acct_1"}),
                PaymentEvent::AccountUpdated {
                    account: "acct_1".into(),
                },
            ),
            (
                "payment_intent.created",
                serde_json::json!({"id": "pi_1"}),
                PaymentEvent::Ignored,
            ),
            (
                "charge.refunded",
                serde_json::json!({"id": "ch_1", "payment_intent": null}),
                PaymentEvent::Ignored,
            ),
            (
                "customer.created",
                serde_json::json!({}),
                PaymentEvent::Ignored,
            ),
        ];
        for (kind, object, expected) in cases {
            assert_eq!(
                read(&event(kind, object)).unwrap().event,
                expected,
                "{kind}"
            );
        }
    }

    #[test]
    fn a_signed_event_the_library_cannot_type_is_still_read_by_its_ids() {
        // An older version's PaymentIntent, without a field today's typed object requires.
        let fixtures: serde_json::Value =
            serde_json::from_str(include_str!("../../../infra/stripe/fixtures.json")).unwrap();
        let mut object = fixtures["resources"]["payment_intent"].clone();
        object
            .as_object_mut()
            .unwrap()
            .remove("confirmation_method");
        object["id"] = "pi_old".into();
        let payload = event("payment_intent.succeeded", object);
        let header = Webhook::generate_test_header(&payload, "whsec_test", None);
        assert!(matches!(
            Webhook::construct_event(&payload, &header, "whsec_test"),
            Err(WebhookError::BadParse(_))
        ));
        let verified = verify(&payload, Some(&header), &["whsec_test".to_owned().into()]).unwrap();
        assert_eq!(
            verified.event,
            PaymentEvent::PaymentIntent {
                payment_intent: "pi_old".into()
            }
        );
        assert_eq!(verified.api_version.as_deref(), Some("2019-02-19"));
        // The same bytes under another secret are refused.
        assert!(matches!(
            verify(&payload, Some(&header), &["whsec_other".to_owned().into()]),
            Err(WebhookRejection::BadSignature)
        ));
    }

    #[test]
    fn an_event_without_the_id_it_is_about_is_unreadable() {
        assert!(matches!(
            read(&event(
                "payment_intent.succeeded",
                serde_json::json!({"amount": 1})
            )),
            Err(WebhookRejection::Unparseable(_))
        ));
        assert!(matches!(read("{}"), Err(WebhookRejection::Unparseable(_))));
    }
}
