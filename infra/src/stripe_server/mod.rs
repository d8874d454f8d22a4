//! Our Stripe test server: a stateful stand-in for the subset of Stripe's API the marketplace
//! uses (Connect Express accounts and account links, PaymentIntents with manual capture and
//! destination charges, refunds), answering with objects shaped like Stripe's published
//! fixtures and Stripe's error format, replaying Idempotency-Keys, and sending signed webhook
//! events. Production code talks to it through the real Stripe client; only the base URL and
//! the keys differ.
//!
//! Test-only controls live under `/_test/`, a path Stripe does not use.

mod objects;
mod params;
mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use self::objects::Objects;
use self::params::Params;
pub use self::webhooks::{WebhookEndpoint, sign};

/// The default port, as Stripe's own mock uses.
pub const DEFAULT_PORT: u16 = 12111;

#[derive(Clone, Debug)]
pub struct StripeServerConfig {
    /// The secret key callers must present (`Authorization: Bearer sk_test_...`).
    pub secret_key: String,
    /// Where PaymentIntent and charge events go (the platform's endpoint).
    pub platform_endpoint: Option<WebhookEndpoint>,
    /// Where events of connected accounts (`account.updated`) go.
    pub connect_endpoint: Option<WebhookEndpoint>,
}

#[derive(Default)]
struct Ledger {
    objects: Objects,
    /// Idempotency-Key -> (request fingerprint, status, body).
    idempotency: HashMap<String, (String, StatusCode, Value)>,
    /// Requests served, by "METHOD /path-template".
    requests: HashMap<String, u64>,
    /// Failures to inject: (method, path prefix, status), used once each.
    failures: Vec<(Method, String, StatusCode)>,
}

pub struct StripeServer {
    config: StripeServerConfig,
    ledger: Mutex<Ledger>,
    deliveries: webhooks::Deliveries,
}

impl StripeServer {
    pub fn new(config: StripeServerConfig) -> Arc<StripeServer> {
        Arc::new(StripeServer {
            config,
            ledger: Mutex::new(Ledger::default()),
            deliveries: webhooks::Deliveries::default(),
        })
    }

    /// Serves on `listener` until the task is dropped; returns the bound address.
    pub fn spawn(self: &Arc<Self>, listener: TcpListener) -> std::io::Result<SocketAddr> {
        let address = listener.local_addr()?;
        let router = Router::new().fallback(dispatch).with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(address)
    }

    /// Finishes the account's onboarding (charges and payouts enabled) and sends
    /// `account.updated` to the Connect endpoint. False for an unknown account.
    pub fn onboard_account(&self, account: &str) -> bool {
        let updated = self.ledger().objects.onboard(account);
        match updated {
            Some((_, event)) => {
                self.deliveries
                    .send(self.config.connect_endpoint.clone(), event);
                true
            }
            None => false,
        }
    }

    /// The next request of `method` whose path starts with `path` fails with `status`.
    pub fn fail_next(&self, method: Method, path: &str, status: StatusCode) {
        self.ledger()
            .failures
            .push((method, path.to_owned(), status));
    }

    /// Requests served so far for a template such as `POST /v1/payment_intents`.
    pub fn request_count(&self, template: &str) -> u64 {
        self.ledger()
            .requests
            .get(template)
            .copied()
            .unwrap_or_default()
    }

    /// Stops (or resumes) sending webhooks, as during an outage of our endpoint; events are
    /// still recorded.
    pub fn pause_deliveries(&self, paused: bool) {
        self.deliveries
            .paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes every API request wait for its webhooks to be delivered before answering (or
    /// stops that): the webhook then races ahead of the caller's own next step.
    pub fn deliver_before_answering(&self, first: bool) {
        self.deliveries
            .ahead_of_answers
            .store(first, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sends an event again, to the endpoint it belongs to (as Stripe's retries do).
    pub fn redeliver(&self, event: Value) {
        let endpoint = if event.get("account").is_some_and(|a| !a.is_null()) {
            &self.config.connect_endpoint
        } else {
            &self.config.platform_endpoint
        };
        self.deliveries.send(endpoint.clone(), event);
    }

    /// Every refund made, with what was asked of it (`metadata.test_*`).
    pub fn refunds(&self) -> Vec<Value> {
        self.ledger().objects.refunds()
    }

    /// A PaymentIntent as the server holds it now.
    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.ledger().objects.payment_intent(id)
    }

    /// Every event raised so far, delivered or not.
    pub fn events(&self) -> Vec<Value> {
        self.deliveries.sent()
    }

    /// Waits until every webhook delivery started so far has finished.
    pub async fn settle(&self) {
        self.deliveries.settle().await;
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock would be a bug in this test server; keep serving.
        self.ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Stripe's error document.
fn stripe_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
) -> (StatusCode, Value) {
    (
        status,
        json!({"error": {"type": kind, "code": code, "message": message}}),
    )
}

fn invalid(message: &str) -> (StatusCode, Value) {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
    )
}

fn missing(kind: &str, id: &str) -> (StatusCode, Value) {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
    )
}

async fn dispatch(State(server): State<Arc<StripeServer>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.first() == Some(&"_test") {
        return test_control(&server, &parts.method, &segments[1..], &body)
            .await
            .into_response();
    }
    let authorized = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(secret_key_of)
        .is_some_and(|key| key == server.config.secret_key);
    if !authorized {
        return json_response(stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "Invalid API Key provided",
        ));
    }
    let params = Params::parse(&body, parts.uri.query());
    let template = route_template(&parts.method, &segments);
    let idempotency_key = (parts.method == Method::POST)
        .then(|| {
            parts
                .headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
        })
        .flatten()
        .map(str::to_owned);
    let fingerprint = format!("{} {} {}", parts.method, path, params.fingerprint());
    let mut events = Vec::new();
    let answer = {
        let mut ledger = server.ledger();
        *ledger.requests.entry(template).or_default() += 1;
        let cached = idempotency_key
            .as_ref()
            .and_then(|key| ledger.idempotency.get(key).cloned());
        match cached {
            Some((seen, status, body)) if seen == fingerprint => (status, body),
            Some(_) => stripe_error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                None,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            ),
            None => {
                let injected = ledger.failures.iter().position(|(method, prefix, _)| {
                    *method == parts.method && path.starts_with(prefix.as_str())
                });
                let answer = match injected {
                    Some(index) => {
                        let (_, _, status) = ledger.failures.remove(index);
                        stripe_error(status, "api_error", None, "Injected failure")
                    }
                    None => route(
                        &mut ledger.objects,
                        &parts.method,
                        &segments,
                        &params,
                        &mut events,
                    ),
                };
                // Stripe keeps the first answer, errors included (but not 5xx, which may be retried).
                if let Some(key) = idempotency_key
                    && !answer.0.is_server_error()
                {
                    ledger
                        .idempotency
                        .insert(key, (fingerprint, answer.0, answer.1.clone()));
                }
                answer
            }
        }
    };
    let mut deliveries = Vec::new();
    for (connect, event) in events {
        let endpoint = if connect {
            &server.config.connect_endpoint
        } else {
            &server.config.platform_endpoint
        };
        deliveries.extend(server.deliveries.send(endpoint.clone(), event));
    }
    if server
        .deliveries
        .ahead_of_answers
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        for delivery in deliveries {
            // A delivery that failed was logged where it ran.
            let _ = delivery.await;
        }
    }
    json_response(answer)
}

/// Stripe takes the key as a bearer token or as the Basic-auth user name (`curl -u sk_...:`).
fn secret_key_of(authorization: &str) -> Option<String> {
    use base64::Engine;
    if let Some(key) = authorization.strip_prefix("Bearer ") {
        return Some(key.to_owned());
    }
    let encoded = authorization.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split(':').next()?.to_owned())
}

fn json_response((status, body): (StatusCode, Value)) -> Response {
    (status, axum::Json(body)).into_response()
}

/// "POST /v1/payment_intents/{id}/confirm" for the request counters.
fn route_template(method: &Method, segments: &[&str]) -> String {
    let parts: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| if i == 2 { "{id}" } else { s })
        .collect();
    format!("{method} /{}", parts.join("/"))
}

/// Events raised by a request: (goes to the Connect endpoint, event object).
type Raised = Vec<(bool, Value)>;

fn route(
    objects: &mut Objects,
    method: &Method,
    segments: &[&str],
    params: &Params,
    events: &mut Raised,
) -> (StatusCode, Value) {
    match (method, segments) {
        (&Method::POST, ["v1", "accounts"]) => objects.create_account(params),
        (&Method::GET, ["v1", "accounts", id]) => objects
            .account(id)
            .map_or_else(|| missing("account", id), |a| (StatusCode::OK, a)),
        (&Method::POST, ["v1", "account_links"]) => objects.create_account_link(params),
        (&Method::POST, ["v1", "payment_intents"]) => objects.create_payment_intent(params),
        (&Method::GET, ["v1", "payment_intents", id]) => objects
            .payment_intent(id)
            .map_or_else(|| missing("payment_intent", id), |p| (StatusCode::OK, p)),
        (&Method::POST, ["v1", "payment_intents", id, "confirm"]) => {
            objects.confirm_payment_intent(id, params, events)
        }
        (&Method::POST, ["v1", "payment_intents", id, "capture"]) => {
            objects.capture_payment_intent(id, params, events)
        }
        (&Method::POST, ["v1", "payment_intents", id, "cancel"]) => {
            objects.cancel_payment_intent(id, params, events)
        }
        (&Method::POST, ["v1", "refunds"]) => objects.create_refund(params, events),
        _ => stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            None,
            &format!(
                "Unrecognized request URL ({method} /{}).",
                segments.join("/")
            ),
        ),
    }
}

/// `/_test/...`: controls for tests, never part of Stripe's API.
async fn test_control(
    server: &Arc<StripeServer>,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Response {
    let params = Params::parse(body, None);
    match (method, segments) {
        // Finish onboarding: charges and payouts enabled, then `account.updated`.
        (&Method::POST, ["accounts", id, "onboard"]) => {
            if server.onboard_account(id) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                json_response(missing("account", id))
            }
        }
        // The next matching request fails with this status: `method`, `path` (prefix), `status`.
        (&Method::POST, ["fail_next"]) => {
            let method = params
                .get("method")
                .and_then(|m| m.parse().ok())
                .unwrap_or(Method::POST);
            let status = params
                .get("status")
                .and_then(|s| s.parse().ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            server.fail_next(method, params.get("path").unwrap_or("/"), status);
            StatusCode::NO_CONTENT.into_response()
        }
        // Sends a raised event again, as Stripe's retries do.
        (&Method::POST, ["events", id, "redeliver"]) => {
            match server.events().into_iter().find(|e| e["id"] == *id) {
                Some(event) => {
                    server.redeliver(event);
                    StatusCode::NO_CONTENT.into_response()
                }
                None => json_response(missing("event", id)),
            }
        }
        (&Method::GET, ["requests"]) => {
            json_response((StatusCode::OK, json!(server.ledger().requests)))
        }
        (&Method::GET, ["events"]) => {
            json_response((StatusCode::OK, Value::Array(server.events())))
        }
        (&Method::POST, ["settle"]) => {
            server.settle().await;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_read_from_bearer_or_basic_auth() {
        assert_eq!(
            secret_key_of("Bearer sk_test_local").as_deref(),
            Some("sk_test_local")
        );
        // `curl -u sk_test_local:`
        assert_eq!(
            secret_key_of("Basic c2tfdGVzdF9sb2NhbDo=").as_deref(),
            Some("sk_test_local")
        );
        assert_eq!(secret_key_of("Basic !!!"), None);
        assert_eq!(secret_key_of("Token x"), None);
    }
}
