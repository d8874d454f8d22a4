//! Our Stripe test server: a stateful stand-in for the subset of Stripe's API the marketplace
//! uses (Connect Express accounts and account links, PaymentIntents with manual capture and
//! destination charges, refunds, transfers, disputes), answering with objects shaped like
//! Stripe's published fixtures and Stripe's error format (`code`, `param`), keeping
//! Idempotency-Keys as Stripe does (`idempotency`), and sending signed webhook events in a
//! configurable API version. Production code talks to it through the real Stripe client; only
//! the base URL and the keys differ.
//!
//! It runs on the marketplace's clock: advance the clock and uncaptured authorisations lapse
//! after 7 days, keys are forgotten after 24 hours. Test-only controls live under `/_test/`, a
//! path Stripe does not use, and as methods on [`StripeServer`].

mod idempotency;
mod objects;
mod params;
mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use marketplace::clock::Clock;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use self::idempotency::{IdempotencyKeys, Lookup};
pub use self::objects::AUTHORIZATION_DAYS;
use self::objects::Objects;
use self::params::Params;
pub use self::webhooks::{WebhookEndpoint, sign};

/// The default port, as Stripe's own mock uses.
pub const DEFAULT_PORT: u16 = 12111;

/// How often the server looks for authorisations that lapsed (Stripe does it on its own).
const EXPIRY_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct StripeServerConfig {
    /// The secret key callers must present (`Authorization: Bearer sk_test_...`).
    pub secret_key: String,
    /// Where PaymentIntent, charge and dispute events go (the platform's endpoint).
    pub platform_endpoint: Option<WebhookEndpoint>,
    /// Where events of connected accounts (`account.updated`) go.
    pub connect_endpoint: Option<WebhookEndpoint>,
    /// The marketplace's clock: creation times, lapsing authorisations and forgotten keys
    /// follow it. (Webhook signatures carry the real time, as the receiver checks them so.)
    pub clock: Arc<dyn Clock>,
    /// The API version events are rendered in, as Stripe renders them in the endpoint's;
    /// `None`: the client library's.
    pub event_api_version: Option<String>,
}

/// An answer: status and Stripe's JSON body.
type Answer = (StatusCode, Value);

struct Ledger {
    objects: Objects,
    keys: IdempotencyKeys,
    /// Requests served, by "METHOD /path-template".
    requests: HashMap<String, u64>,
    /// Failures to inject: (method, path prefix, status), used once each.
    failures: Vec<(Method, String, StatusCode)>,
    /// Failures to answer after the request ran: (method, path prefix, status), once each.
    failures_after: Vec<(Method, String, StatusCode)>,
    /// Requests answered 409 because their key was in flight.
    conflicts: u64,
    /// Requests held in flight before they run: (method, path prefix, how long), once each.
    delays: Vec<(Method, String, Duration)>,
}

pub struct StripeServer {
    config: StripeServerConfig,
    ledger: Mutex<Ledger>,
    deliveries: webhooks::Deliveries,
}

impl StripeServer {
    pub fn new(config: StripeServerConfig) -> Arc<StripeServer> {
        let version = config
            .event_api_version
            .clone()
            .unwrap_or_else(|| marketplace::payments::api_version().to_owned());
        Arc::new(StripeServer {
            ledger: Mutex::new(Ledger {
                objects: Objects::new(config.clock.clone(), version),
                keys: IdempotencyKeys::default(),
                requests: HashMap::new(),
                failures: Vec::new(),
                failures_after: Vec::new(),
                conflicts: 0,
                delays: Vec::new(),
            }),
            config,
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
        let server = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(EXPIRY_EVERY);
            loop {
                ticks.tick().await;
                match server.upgrade() {
                    Some(server) => {
                        server.expire_authorizations();
                    }
                    None => return,
                }
            }
        });
        Ok(address)
    }

    /// Cancels the authorisations whose deadline passed on the clock, with their events, as
    /// Stripe does by itself; answers how many. (Also run every few seconds and before every
    /// request.)
    pub fn expire_authorizations(&self) -> usize {
        let mut events = Vec::new();
        let lapsed = self.ledger().objects.expire_authorizations(&mut events);
        self.deliver(events);
        lapsed
    }

    /// Finishes the account's onboarding (its requested capabilities turn active) and sends
    /// `account.updated` to the Connect endpoint. False for an unknown account.
    pub fn onboard_account(&self, account: &str) -> bool {
        let event = self.ledger().objects.onboard(account);
        self.account_event(event)
    }

    /// Stripe needs `requirement` from the expert and disables the account until then.
    pub fn restrict_account(&self, account: &str, requirement: &str) -> bool {
        let event = self.ledger().objects.restrict(account, requirement);
        self.account_event(event)
    }

    fn account_event(&self, event: Option<Value>) -> bool {
        match event {
            Some(event) => {
                self.deliver(vec![(true, event)]);
                true
            }
            None => false,
        }
    }

    /// Authorisations made from now on lapse after `window` (Stripe's default is 7 days; some
    /// card networks allow less, which the charge's `capture_before` then says).
    pub fn set_authorization_window(&self, window: chrono::Duration) {
        self.ledger()
            .objects
            .set_authorization_window(window.num_seconds());
    }

    /// The cardholder disputes the intent's charge; answers the dispute.
    pub fn open_dispute(&self, payment_intent: &str, reason: &str) -> Answer {
        self.act(|objects, events| objects.open_dispute(payment_intent, reason, events))
    }

    /// Moves a dispute to `under_review`, `won` or `lost`.
    pub fn settle_dispute(&self, dispute: &str, status: &str) -> Answer {
        self.act(|objects, events| objects.settle_dispute(dispute, status, events))
    }

    /// The client passes (or fails) the 3-D Secure challenge of a `requires_action` intent.
    pub fn authenticate(&self, payment_intent: &str, passed: bool) -> Answer {
        self.act(|objects, events| objects.authenticate(payment_intent, passed, events))
    }

    /// The intent's next confirmation stays `processing` until [`Self::finish_processing`].
    pub fn process_next_confirmation(&self, payment_intent: &str) -> bool {
        self.ledger()
            .objects
            .process_next_confirmation(payment_intent)
    }

    pub fn finish_processing(&self, payment_intent: &str) -> Answer {
        self.act(|objects, events| objects.finish_processing(payment_intent, events))
    }

    fn act(&self, change: impl FnOnce(&mut Objects, &mut Raised) -> Answer) -> Answer {
        let mut events = Vec::new();
        let answer = change(&mut self.ledger().objects, &mut events);
        self.deliver(events);
        answer
    }

    /// The next request of `method` whose path starts with `path` fails with `status` (and,
    /// like any answer, is kept under its Idempotency-Key).
    pub fn fail_next(&self, method: Method, path: &str, status: StatusCode) {
        self.ledger()
            .failures
            .push((method, path.to_owned(), status));
    }

    /// The next request of `method` whose path starts with `path` runs, and then answers
    /// `status` (kept under its key like any answer): a 5xx whose effect happened.
    pub fn fail_after_next(&self, method: Method, path: &str, status: StatusCode) {
        self.ledger()
            .failures_after
            .push((method, path.to_owned(), status));
    }

    /// How many requests were answered 409 `idempotency_key_in_use`.
    pub fn key_conflicts(&self) -> u64 {
        self.ledger().conflicts
    }

    /// The next request of `method` whose path starts with `path` stays in flight for `delay`
    /// before it runs: another request with its Idempotency-Key meanwhile gets 409.
    pub fn delay_next(&self, method: Method, path: &str, delay: Duration) {
        self.ledger().delays.push((method, path.to_owned(), delay));
    }

    /// The status kept under an Idempotency-Key (what a request with it gets again).
    pub fn kept_answer(&self, key: &str) -> Option<StatusCode> {
        self.ledger().keys.kept(key)
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

    /// Sends an event again, to the endpoint it belongs to (as Stripe's retries do), signed
    /// now; answers when it was delivered.
    pub fn redeliver(&self, event: Value) -> Option<tokio::task::JoinHandle<()>> {
        let connect = event.get("account").is_some_and(|a| !a.is_null());
        self.deliveries.send(self.endpoint(connect), event)
    }

    /// Every refund made, with what it moved (`test_transfer_reversed`,
    /// `test_application_fee_refunded`).
    pub fn refunds(&self) -> Vec<Value> {
        self.ledger().objects.refunds()
    }

    /// Every transfer to a connected account.
    pub fn transfers(&self) -> Vec<Value> {
        self.ledger().objects.transfers()
    }

    /// A PaymentIntent as the server holds it now.
    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.ledger().objects.payment_intent(id)
    }

    /// A charge as the server holds it now.
    pub fn charge(&self, id: &str) -> Option<Value> {
        self.ledger().objects.charge(id)
    }

    /// Every event raised so far, delivered or not.
    pub fn events(&self) -> Vec<Value> {
        self.deliveries.sent()
    }

    /// Waits until every webhook delivery started so far has finished.
    pub async fn settle(&self) {
        self.deliveries.settle().await;
    }

    fn endpoint(&self, connect: bool) -> Option<WebhookEndpoint> {
        if connect {
            self.config.connect_endpoint.clone()
        } else {
            self.config.platform_endpoint.clone()
        }
    }

    /// Starts delivering `events`; answers the deliveries under way.
    fn deliver(&self, events: Raised) -> Vec<tokio::task::JoinHandle<()>> {
        events
            .into_iter()
            .filter_map(|(connect, event)| self.deliveries.send(self.endpoint(connect), event))
            .collect()
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock would be a bug in this test server; keep serving.
        self.ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Stripe's error document.
fn stripe_error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Answer {
    (
        status,
        json!({"error": {"type": kind, "code": code, "message": message}}),
    )
}

fn invalid(message: &str) -> Answer {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
    )
}

fn parameter_missing(param: &str) -> Answer {
    let (status, mut body) = stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("parameter_missing"),
        &format!("Missing required param: {param}."),
    );
    body["error"]["param"] = json!(param);
    (status, body)
}

fn invalid_integer(param: &str, value: &str) -> Answer {
    let (status, mut body) = stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("parameter_invalid_integer"),
        &format!("Invalid integer: {value}"),
    );
    body["error"]["param"] = json!(param);
    (status, body)
}

/// A PaymentIntent asked to do what its status does not allow; the error carries the intent.
fn unexpected_state(intent: &Value, message: &str) -> Answer {
    let (status, mut body) = stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("payment_intent_unexpected_state"),
        message,
    );
    body["error"]["payment_intent"] = intent.clone();
    (status, body)
}

fn missing(kind: &str, id: &str) -> Answer {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
    )
}

fn key_in_use() -> Answer {
    stripe_error(
        StatusCode::CONFLICT,
        "idempotency_error",
        Some("idempotency_key_in_use"),
        "There is currently another in-progress request using this Stripe API Key and Idempotency Key. Please try again later.",
    )
}

/// Which of `list` the request matches, taken out.
fn take_matching<T>(list: &mut Vec<(Method, String, T)>, method: &Method, path: &str) -> Option<T> {
    let index = list
        .iter()
        .position(|(m, prefix, _)| m == method && path.starts_with(prefix.as_str()))?;
    Some(list.remove(index).2)
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
    server.expire_authorizations();
    let params = Params::parse(&body, parts.uri.query());
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
    let (lookup, delay) = {
        let mut ledger = server.ledger();
        *ledger
            .requests
            .entry(route_template(&parts.method, &segments))
            .or_default() += 1;
        let now = server.config.clock.now().timestamp();
        let lookup = match &idempotency_key {
            Some(key) => ledger.keys.begin(key, &fingerprint, now),
            None => Lookup::New,
        };
        let delay = take_matching(&mut ledger.delays, &parts.method, &path);
        (lookup, delay)
    };
    let answer = match lookup {
        Lookup::InFlight => {
            server.ledger().conflicts += 1;
            key_in_use()
        }
        Lookup::Replay(status, body) => (status, body),
        Lookup::Mismatch => stripe_error(
            StatusCode::BAD_REQUEST,
            "idempotency_error",
            None,
            "Keys for idempotent requests can only be used with the same parameters they were first used with.",
        ),
        // Run apart from the caller's connection, as at Stripe: a caller that gives up (a
        // timeout) does not stop the request, and its key still gets its answer.
        Lookup::New => {
            let running = tokio::spawn(execute(
                server.clone(),
                parts.method.clone(),
                path,
                params,
                idempotency_key,
                delay,
            ));
            running.await.unwrap_or_else(|_| {
                stripe_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    None,
                    "The test server failed",
                )
            })
        }
    };
    json_response(answer)
}

/// Runs one new request (after its delay, if any), keeps its answer under its key and sends
/// its events.
async fn execute(
    server: Arc<StripeServer>,
    method: Method,
    path: String,
    params: Params,
    idempotency_key: Option<String>,
    delay: Option<Duration>,
) -> Answer {
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut events = Vec::new();
    let answer = {
        let mut ledger = server.ledger();
        let mut answer = match take_matching(&mut ledger.failures, &method, &path) {
            Some(status) => stripe_error(status, "api_error", None, "Injected failure"),
            None => route(
                &mut ledger.objects,
                &method,
                &segments,
                &params,
                &mut events,
            ),
        };
        // The request ran, but its answer is lost to a failure (the caller cannot tell).
        if let Some(status) = take_matching(&mut ledger.failures_after, &method, &path) {
            answer = stripe_error(
                status,
                "api_error",
                None,
                "Injected failure after the request ran",
            );
        }
        if let Some(key) = &idempotency_key {
            ledger.keys.finish(key, answer.0, &answer.1);
        }
        answer
    };
    let deliveries = server.deliver(events);
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
    answer
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

fn json_response((status, body): Answer) -> Response {
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
) -> Answer {
    let found = |kind: &str, id: &str, object: Option<Value>| {
        object.map_or_else(|| missing(kind, id), |o| (StatusCode::OK, o))
    };
    let (status, body) = match (method, segments) {
        (&Method::POST, ["v1", "accounts"]) => objects.create_account(params),
        (&Method::GET, ["v1", "accounts", id]) => found("account", id, objects.account(id)),
        (&Method::POST, ["v1", "account_links"]) => objects.create_account_link(params),
        (&Method::POST, ["v1", "payment_intents"]) => objects.create_payment_intent(params, events),
        (&Method::GET, ["v1", "payment_intents", id]) => {
            found("payment_intent", id, objects.payment_intent(id))
        }
        (&Method::POST, ["v1", "payment_intents", id, "confirm"]) => {
            objects.confirm_payment_intent(id, params, events)
        }
        (&Method::POST, ["v1", "payment_intents", id, "capture"]) => {
            objects.capture_payment_intent(id, params, events)
        }
        (&Method::POST, ["v1", "payment_intents", id, "cancel"]) => {
            objects.cancel_payment_intent(id, params.get("cancellation_reason"), events)
        }
        (&Method::POST, ["v1", "refunds"]) => objects.create_refund(params, events),
        (&Method::GET, ["v1", "refunds"]) => objects.list_refunds(params),
        (&Method::GET, ["v1", "charges", id]) => found("charge", id, objects.charge(id)),
        (&Method::GET, ["v1", "disputes", id]) => found("dispute", id, objects.dispute(id)),
        _ => stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            None,
            &format!(
                "Unrecognized request URL ({method} /{}).",
                segments.join("/")
            ),
        ),
    };
    // `expand[]=latest_charge` on any PaymentIntent answer, as Stripe does.
    let expand = params.list("expand");
    if status.is_success()
        && body["object"] == "payment_intent"
        && let Some(id) = body["id"].as_str()
        && let Some(expanded) = objects.payment_intent_expanded(id, &expand)
    {
        return (status, expanded);
    }
    (status, body)
}

/// `/_test/...`: controls for tests and the local stack, never part of Stripe's API.
async fn test_control(
    server: &Arc<StripeServer>,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Response {
    let params = Params::parse(body, None);
    let done = |ok: bool, kind: &str, id: &str| {
        if ok {
            StatusCode::NO_CONTENT.into_response()
        } else {
            json_response(missing(kind, id))
        }
    };
    match (method, segments) {
        // Finish onboarding: the requested capabilities turn active, then `account.updated`.
        (&Method::POST, ["accounts", id, "onboard"]) => {
            done(server.onboard_account(id), "account", id)
        }
        // Stripe wants `requirement` (default: an identity document) and disables the account.
        (&Method::POST, ["accounts", id, "restrict"]) => done(
            server.restrict_account(
                id,
                params
                    .get("requirement")
                    .unwrap_or("individual.verification.document"),
            ),
            "account",
            id,
        ),
        (&Method::POST, ["payment_intents", id, "dispute"]) => {
            json_response(server.open_dispute(id, params.get("reason").unwrap_or("fraudulent")))
        }
        (&Method::POST, ["disputes", id, status]) => {
            json_response(server.settle_dispute(id, status))
        }
        (&Method::POST, ["payment_intents", id, "authenticate"]) => {
            json_response(server.authenticate(id, params.get("outcome") != Some("fail")))
        }
        (&Method::POST, ["payment_intents", id, "process_next_confirmation"]) => {
            done(server.process_next_confirmation(id), "payment_intent", id)
        }
        (&Method::POST, ["payment_intents", id, "finish_processing"]) => {
            json_response(server.finish_processing(id))
        }
        (&Method::POST, ["expire_authorizations"]) => json_response((
            StatusCode::OK,
            json!({"expired": server.expire_authorizations()}),
        )),
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
