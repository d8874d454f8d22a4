//! `POST /v1/webhooks/stripe`: the raw body's signature is checked against the configured
//! secrets before anything is parsed; a bad or stale signature is a 400 and changes nothing.
//! A verified event is applied once; a failure answers 500 so that Stripe delivers it again.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use http_problem::{error_chain, problem};
use marketplace::payments::webhook::{self, WebhookRejection};
use marketplace::services::Services;
use secrecy::SecretString;

pub const PATH: &str = "/v1/webhooks/stripe";

/// Larger bodies are refused (413 problem+json) before they are read; Stripe's events are a
/// few kilobytes.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[derive(Debug)]
pub struct NoSecrets;

impl std::fmt::Display for NoSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("STRIPE_WEBHOOK_SECRETS is empty: refusing to accept unverifiable webhooks")
    }
}

impl std::error::Error for NoSecrets {}

struct Webhook {
    services: Services,
    secrets: Vec<SecretString>,
}

/// The webhook router. Without a signing secret it refuses to be built: there is no default.
pub fn router(services: Services, secrets: Vec<SecretString>) -> Result<Router, NoSecrets> {
    if secrets.is_empty() {
        return Err(NoSecrets);
    }
    Ok(Router::new()
        .route(PATH, post(receive))
        .layer(DefaultBodyLimit::max(MAX_EVENT_BYTES))
        .with_state(Arc::new(Webhook { services, secrets })))
}

async fn receive(
    State(webhook): State<Arc<Webhook>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "The body is too large",
                &format!("Events are limited to {MAX_EVENT_BYTES} bytes."),
                &[],
            );
        }
        Err(rejection) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "malformed-event",
                "Body unreadable",
                &rejection.body_text(),
                &[],
            );
        }
    };
    let Ok(payload) = std::str::from_utf8(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "malformed-event",
            "Not UTF-8",
            "The body is not text.",
            &[],
        );
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let event = match webhook::verify(payload, signature, &webhook.secrets) {
        Ok(event) => event,
        Err(rejection @ WebhookRejection::Unparseable(_)) => {
            tracing::warn!(reason = %rejection, "signed webhook unreadable");
            return problem(
                StatusCode::BAD_REQUEST,
                "malformed-event",
                "Event unreadable",
                &rejection.to_string(),
                &[],
            );
        }
        Err(rejection) => {
            tracing::warn!(reason = %rejection, "webhook refused");
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid-signature",
                "Webhook refused",
                &rejection.to_string(),
                &[],
            );
        }
    };
    match webhook.services.payments.apply(&event).await {
        Ok(outcome) => {
            tracing::info!(
                event_id = event.id,
                kind = event.kind,
                outcome = outcome.name(),
                "webhook handled"
            );
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({"received": true})),
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(event_id = event.id, error = %error_chain(&error), "webhook failed; Stripe will retry");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "The event was not applied; deliver it again.",
                &[],
            )
        }
    }
}
