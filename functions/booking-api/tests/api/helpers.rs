//! `spawn_app()` and typed request helpers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use local_stack::dev_server::{DevServer, DevServerOptions};
use local_stack::stripe_server::StripeServer;
use local_stack::{bootstrap, dev_jwt};
use marketplace::clock::OffsetClock;
use marketplace::store::dynamo::DynamoStore;
use serde_json::Value;
use tower::ServiceExt;

pub use crate::dynamo_probe::DynamoProbe;

const SECRET: &str = "api-test-secret";

#[derive(Clone)]
pub struct TestApp {
    /// What a client reaches: API Gateway stand-in + Lambda adapter + handler.
    pub gateway: Router,
    /// The handler alone, for requests API Gateway would never pass (no authorizer context).
    pub handler: Router,
    pub store: DynamoStore,
    /// What the app's DynamoDB client sent, and the faults it is to meet.
    pub dynamo: DynamoProbe,
    pub stripe: Arc<StripeServer>,
    pub stripe_url: String,
    /// The local notifications queue (fed by the bus's rule from the template).
    pub notifications_queue: String,
    /// Its dead-letter queue.
    pub notifications_dead_letters: String,
    /// The calendar-sync function's queue.
    pub calendar_sync_queue: String,
    pub services: marketplace::services::Services,
    /// The services' clock: `advance` it to let holds expire.
    pub clock: Arc<OffsetClock>,
    /// The secret the Stripe test server signs webhooks with.
    pub webhook_secret: String,
    /// Our Google and Microsoft test server.
    pub providers: Arc<local_stack::provider_server::ProviderServer>,
    /// The dev server's address (the providers call it back).
    pub address: std::net::SocketAddr,
    /// What its calendar clients were built from.
    pub calendar_settings: marketplace::config::CalendarSettings,
}

#[derive(Clone)]
pub struct User {
    token: String,
}

impl User {
    /// The bearer token, for requests built by hand.
    pub fn token_for_tests(&self) -> &str {
        &self.token
    }
}

pub struct TestResponse {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_counting(DynamoProbe::default()).await
}

/// Everything the tests' code logged, JSON lines, from our crates and the HTTP client at debug
/// level (what could carry a secret), kept for the whole test binary.
pub static CAPTURED_LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURED_LOGS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs of failing tests are shown with their output (`RUST_LOG=info` for all of them), and
/// a second layer captures what secrets could leak through.
fn install_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let shown = tracing_subscriber::fmt::layer()
        .with_test_writer()
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()));
    let captured = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(|| Capture)
        .with_filter(EnvFilter::new(
            "info,marketplace=debug,booking_api=debug,calendar_sync=debug,reqwest=debug,hyper_util=debug",
        ));
    let _ = tracing_subscriber::registry()
        .with(shown)
        .with(captured)
        .try_init();
}

pub async fn spawn_app_counting(counter: DynamoProbe) -> TestApp {
    spawn_app_with(counter, |_| {}).await
}

/// An app whose dev-server options `adjust` changes first (the calendar guard's settings).
pub async fn spawn_app_with(
    counter: DynamoProbe,
    adjust: impl FnOnce(&mut DevServerOptions),
) -> TestApp {
    install_logging();
    let (_, table) = bootstrap::fresh_table("api")
        .await
        .expect("a fresh table on moto (run the tests with `make test`)");
    let sdk = marketplace::config::aws_sdk_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .http_client(counter.clone())
            // The probe sends the body whole rather than streaming it: upload throughput
            // is not watched.
            .stalled_stream_protection(
                aws_sdk_dynamodb::config::StalledStreamProtectionConfig::enabled()
                    .upload_enabled(false)
                    .build(),
            )
            .build(),
    );
    let clock = Arc::new(OffsetClock::default());
    let mut options = DevServerOptions {
        clock: clock.clone(),
        ..DevServerOptions::for_tests(SECRET)
    };
    adjust(&mut options);
    let webhook_secret = options.webhook_secret.clone();
    let server = DevServer::bind(&sdk, client, &table, options)
        .await
        .expect("dev server");
    let app = TestApp {
        gateway: server.router(),
        handler: booking_api::router(server.services.clone()),
        store: server.store.clone(),
        dynamo: counter,
        stripe: server.stripe.clone().expect("our Stripe test server"),
        stripe_url: server.stripe_url.clone(),
        notifications_queue: server.messaging.queue_urls["NotificationsQueue"].clone(),
        notifications_dead_letters: server.messaging.queue_urls["NotificationsDeadLetterQueue"]
            .clone(),
        calendar_sync_queue: server.messaging.queue_urls["CalendarSyncQueue"].clone(),
        services: server.services.clone(),
        clock,
        webhook_secret,
        providers: server.providers.clone(),
        address: server.address,
        calendar_settings: server.calendar_settings.clone(),
    };
    // Served over HTTP too, so that the Stripe test server can deliver its webhooks.
    tokio::spawn(server.serve(std::future::pending()));
    app
}

impl TestApp {
    /// The calendar service as another Lambda instance would build it (its own caches), on
    /// the same table, queue, KMS key and providers.
    pub async fn another_calendar_instance(
        &self,
    ) -> marketplace::calendar::service::CalendarService {
        let sdk = marketplace::config::aws_sdk_config().await;
        let clients = marketplace::calendar::service::CalendarClients::from_settings(
            &sdk,
            &self.calendar_settings,
        )
        .expect("calendar clients");
        marketplace::calendar::service::CalendarService::new(
            self.store.clone(),
            clients,
            (
                self.services.bookings.clone(),
                self.services.notifications.clone(),
            ),
            self.clock.clone(),
            "http://localhost:5173".to_owned(),
        )
    }

    pub fn user(&self, sub: &str, groups: &[&str]) -> User {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let email = format!("{sub}@example.com");
        User {
            token: dev_jwt::mint(SECRET, sub, Some(&email), &groups, Duration::from_secs(600))
                .expect("mint"),
        }
    }

    pub fn expert(&self, sub: &str) -> User {
        self.user(sub, &["experts"])
    }

    pub fn client(&self, sub: &str) -> User {
        self.user(sub, &["clients"])
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        self.send_request(request, user, body).await
    }

    pub async fn post(&self, path: &str, user: Option<&User>, body: &Value) -> TestResponse {
        self.send_json(Method::POST, path, user, body).await
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: &Value,
    ) -> TestResponse {
        self.send(
            method,
            path,
            user,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// Sends a request built by the caller (extra headers), as `user`.
    pub async fn send_request(
        &self,
        mut request: http::request::Builder,
        user: Option<&User>,
        body: Vec<u8>,
    ) -> TestResponse {
        if let Some(user) = user {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", user.token));
        }
        let request = request.body(Body::from(body)).expect("request");
        read(
            self.gateway
                .clone()
                .oneshot(request)
                .await
                .expect("infallible"),
        )
        .await
    }

    /// Takes the expert through payouts onboarding on the Stripe test server, as Stripe would
    /// after the expert filled in the form, and waits for the `account.updated` webhook.
    pub async fn onboard(&self, sub: &str) {
        let expert = self.expert(sub);
        self.send(
            Method::POST,
            "/v1/experts/me/payouts",
            Some(&expert),
            None,
            Vec::new(),
        )
        .await
        .ok(StatusCode::OK);
        let id = self
            .store
            .expert_id_of(&marketplace::ids::UserId::parse(sub).unwrap())
            .await
            .unwrap()
            .expect("an expert profile");
        let account = self
            .store
            .profile(id)
            .await
            .unwrap()
            .unwrap()
            .stripe_account
            .unwrap();
        assert!(self.stripe.onboard_account(&account));
        self.stripe.settle().await;
    }

    /// What Stripe.js does in the client's browser: confirms the PaymentIntent behind
    /// `client_secret` with a test card, then waits for the webhooks it causes.
    pub async fn pay(&self, client_secret: &str, payment_method: &str) -> u16 {
        let intent = client_secret.split("_secret_").next().unwrap();
        self.stripe_post(
            &format!("/v1/payment_intents/{intent}/confirm"),
            &[("payment_method", payment_method)],
        )
        .await
    }

    /// Cancels a PaymentIntent at Stripe as someone else would (the dashboard).
    pub async fn cancel_at_stripe(&self, intent: &str) -> u16 {
        self.stripe_post(&format!("/v1/payment_intents/{intent}/cancel"), &[])
            .await
    }

    /// A request to the Stripe test server as a browser or the dashboard sends it; waits for
    /// its webhooks and returns Stripe's status code.
    async fn stripe_post(&self, path: &str, form: &[(&str, &str)]) -> u16 {
        self.stripe_request(path, form, None).await.0
    }

    /// A POST to the Stripe test server's API (optionally with an Idempotency-Key), as anyone
    /// holding the key could send it; waits for its webhooks. Answers the status and body.
    pub async fn stripe_request(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.stripe_url))
            .bearer_auth(local_stack::dev_server::LOCAL_STRIPE_KEY)
            .form(form);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("Stripe test server");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        self.stripe.settle().await;
        (status, body)
    }

    /// The services' clock now.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use marketplace::clock::Clock;
        self.clock.now()
    }

    /// Moves the services' (and the Stripe test server's) clock to `instant`.
    pub fn travel_to(&self, instant: chrono::DateTime<chrono::Utc>) {
        use marketplace::clock::Clock;
        self.clock.advance(instant - self.clock.now());
    }

    /// Every item of the app's table, as JSON by (pk, sk): what a snapshot compares.
    pub async fn table_items(&self) -> std::collections::BTreeMap<(String, String), Value> {
        let mut pages = self
            .store
            .client()
            .scan()
            .table_name(self.store.table())
            .into_paginator()
            .items()
            .send();
        let mut items = std::collections::BTreeMap::new();
        while let Some(item) = pages.next().await {
            let item = item.expect("scan");
            let text = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let key = (text("pk"), text("sk"));
            let json: Value = serde_dynamo::from_item(item).expect("an item as JSON");
            items.insert(key, json);
        }
        items
    }

    /// Every message waiting on `queue` now, its body as JSON, taken off the queue.
    pub async fn drain_queue(&self, queue: &str) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&marketplace::config::aws_sdk_config().await);
        let mut received = Vec::new();
        loop {
            let output = sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                return received;
            }
            for message in messages {
                received.push(serde_json::from_str(message.body().unwrap()).unwrap());
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    pub async fn get(&self, path: &str, user: Option<&User>) -> TestResponse {
        self.send(Method::GET, path, user, None, Vec::new()).await
    }

    pub async fn put(&self, path: &str, user: Option<&User>, body: &Value) -> TestResponse {
        self.send_json(Method::PUT, path, user, body).await
    }
}

pub async fn read(response: http::Response<Body>) -> TestResponse {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    TestResponse {
        status,
        content_type,
        body,
    }
}

impl TestResponse {
    /// Asserts the status, then returns the body.
    pub fn ok(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        &self.body
    }

    /// Asserts an RFC 9457 problem of this status and type; returns the error pointers.
    pub fn problem(&self, status: StatusCode, slug: &str) -> Vec<String> {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("/problems/{slug}"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status.as_u16());
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["pointer"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn profile_body() -> Value {
    serde_json::json!({
        "display_name": "Ada Byron",
        "bio": "Numerical methods.",
        "specializations": ["Mathematics", "Machine Learning"],
        "hourly_rate": {"amount": 18000, "currency": "usd"},
        "time_zone": "Europe/London"
    })
}

pub fn availability_body() -> Value {
    serde_json::json!({
        "rules": [
            {"day": "mon", "start": "09:00", "end": "12:00"},
            {"day": "mon", "start": "13:00", "end": "17:30"},
            {"day": "fri", "start": "20:00", "end": "24:00"}
        ],
        "buffer_before_minutes": 10,
        "buffer_after_minutes": 5,
        "minimum_notice_minutes": 240,
        "horizon_days": 30,
        "slot_durations": [60, 30],
        "blocked": [{"start": "2026-12-24T00:00:00+01:00", "end": "2026-12-27T00:00:00Z"}]
    })
}
