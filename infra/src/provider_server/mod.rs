//! Our Google Calendar and Microsoft Graph test server: stateful stand-ins for the subset of
//! both providers the calendar sync uses, one server with two route families (`/google/...`,
//! `/microsoft/...`), built like the Stripe test server.
//!
//! * OAuth 2.0: the authorization endpoint consents at once as the account chosen with
//!   [`ProviderServer::consent_as`] (a test-only auto-consent; a default account otherwise, so
//!   the connect flow works in a browser), the token endpoint checks the client, the
//!   redirect URI and the PKCE S256 verifier, takes each code once, refreshes (Microsoft
//!   answers a new refresh token on every use without revoking the one used, and wants the
//!   scopes again), and Google's revocation endpoint revokes.
//! * Calendar lists, events insert / patch / delete / get / list with Google's sync tokens
//!   (410 `fullSyncRequired` once expired) and Graph's `calendarView/delta` links (410
//!   `syncStateNotFound`), paging, ETags and `If-Match`, Google's client-supplied ids (409
//!   `duplicate`) and Graph's `transactionId`, Meet links created asynchronously and Teams links.
//! * Push: Google `events.watch` channels get the documented `X-Goog-*` headers and no body;
//!   Graph subscriptions are validated with the `validationToken` handshake first, then get
//!   change notifications (and lifecycle notifications on request) as JSON.
//! * Error injection: the next matching request answers a status (429 with Retry-After, 500,
//!   410, `invalid_grant` on the token endpoint).
//!
//! Answers follow the documented shapes (Google Calendar API v3 discovery document, Microsoft
//! Graph v1.0); production code talks to it through its real clients, only base URLs differ.

mod google;
mod microsoft;
mod oauth;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use self::oauth::Client;

/// The default port under `make dev`.
pub const DEFAULT_PORT: u16 = 12112;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Google,
    Microsoft,
}

/// Where each endpoint of a family is, as the marketplace's settings name them.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub auth_url: String,
    pub token_url: String,
    /// Google only.
    pub revoke_url: Option<String>,
    pub api_base: String,
}

/// A failure to inject: the next request of `method` whose path starts with `path` answers it.
#[derive(Clone, Debug)]
pub struct Injected {
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub retry_after: Option<u64>,
    /// The provider's error code or reason (`rateLimitExceeded`, `invalid_grant`,
    /// `fullSyncRequired`, `syncStateNotFound` ...).
    pub reason: String,
}

/// One event as the provider holds it: its provider-shaped JSON and when it last changed.
#[derive(Clone, Debug)]
struct StoredEvent {
    json: Value,
    /// The calendar's change counter at its last change.
    changed: u64,
    deleted: bool,
}

#[derive(Clone, Debug)]
struct Calendar {
    id: String,
    name: String,
    writable: bool,
    primary: bool,
    /// Google: `hangoutsMeet` allowed; Microsoft: `teamsForBusiness` allowed.
    conferencing: bool,
    events: Vec<StoredEvent>,
    counter: u64,
    /// Sync tokens / delta links issued before this counter are refused (410).
    valid_from: u64,
}

#[derive(Clone, Debug)]
struct Account {
    email: String,
    id: String,
    calendars: Vec<Calendar>,
}

/// A Google channel or a Graph subscription.
#[derive(Clone, Debug)]
pub struct Watch {
    pub family: Family,
    pub id: String,
    pub account: String,
    /// Google: the watched calendar; Graph: every calendar of the account.
    pub calendar: Option<String>,
    pub address: String,
    pub lifecycle_address: Option<String>,
    /// Google's channel token or Graph's clientState.
    pub secret: Option<String>,
    pub resource_id: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub messages: u64,
}

#[derive(Default)]
struct World {
    /// The server's clock at the current request (the marketplace's clock in tests).
    now: chrono::DateTime<chrono::Utc>,
    accounts: HashMap<(Family, String), Account>,
    oauth: oauth::Grants,
    watches: Vec<Watch>,
    failures: Vec<Injected>,
    /// Every request: (method, path).
    requests: Vec<(Method, String)>,
    /// Whom the next authorization signs in as, per family.
    consent: HashMap<Family, String>,
    deny_next: HashMap<Family, bool>,
    refuse_conferencing: HashMap<Family, bool>,
    serial: u64,
}

impl World {
    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }
}

pub struct ProviderServer {
    clients: HashMap<Family, Client>,
    clock: Arc<dyn marketplace::clock::Clock>,
    world: Mutex<World>,
    deliveries: Mutex<Vec<JoinHandle<()>>>,
    push: reqwest::Client,
    base: Mutex<String>,
    /// Pages hold at most this many items (0: what the caller asks), so paging is exercised.
    page_limit: std::sync::atomic::AtomicUsize,
}

/// The account a browser flow signs in as when no test chose one.
pub const DEFAULT_ACCOUNT: &str = "expert@calendar.test";

impl ProviderServer {
    /// A server that knows the marketplace's OAuth client of each family and keeps time by
    /// `clock` (the marketplace's own in tests, so expiries agree).
    pub fn new(
        google: Client,
        microsoft: Client,
        clock: Arc<dyn marketplace::clock::Clock>,
    ) -> Arc<ProviderServer> {
        Arc::new(ProviderServer {
            clients: HashMap::from([(Family::Google, google), (Family::Microsoft, microsoft)]),
            clock,
            world: Mutex::new(World::default()),
            deliveries: Mutex::new(Vec::new()),
            push: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            base: Mutex::new(String::new()),
            page_limit: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Serves on `listener` until the task is dropped; returns the bound address.
    pub fn spawn(self: &Arc<Self>, listener: TcpListener) -> std::io::Result<SocketAddr> {
        let address = listener.local_addr()?;
        *self.base.lock().unwrap_or_else(|p| p.into_inner()) = format!("http://{address}");
        let router = Router::new().fallback(dispatch).with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(address)
    }

    fn base(&self) -> String {
        self.base.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The family's endpoints on this server.
    pub fn endpoints(&self, family: Family) -> Endpoints {
        let base = self.base();
        match family {
            Family::Google => Endpoints {
                auth_url: format!("{base}/google/o/oauth2/v2/auth"),
                token_url: format!("{base}/google/token"),
                revoke_url: Some(format!("{base}/google/revoke")),
                api_base: format!("{base}/google/calendar/v3"),
            },
            Family::Microsoft => Endpoints {
                auth_url: format!("{base}/microsoft/common/oauth2/v2.0/authorize"),
                token_url: format!("{base}/microsoft/common/oauth2/v2.0/token"),
                revoke_url: None,
                api_base: format!("{base}/microsoft/v1.0"),
            },
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        let mut world = self.world.lock().unwrap_or_else(|p| p.into_inner());
        world.now = self.clock.now();
        world
    }

    /// Creates the account (with its primary calendar, writable, conferencing allowed) if
    /// needed; answers the primary calendar's id.
    pub fn add_account(&self, family: Family, email: &str) -> String {
        let mut world = self.world();
        ensure_account(&mut world, family, email)
            .calendars
            .iter()
            .find(|c| c.primary)
            .map(|c| c.id.clone())
            .unwrap_or_default()
    }

    /// Adds a secondary calendar to the account; answers its id.
    pub fn add_calendar(
        &self,
        family: Family,
        email: &str,
        name: &str,
        writable: bool,
        conferencing: bool,
    ) -> String {
        let mut world = self.world();
        let serial = world.next_serial();
        let account = ensure_account(&mut world, family, email);
        let id = match family {
            Family::Google => format!("c{serial}_{name}@group.calendar.google.com"),
            Family::Microsoft => format!("AAMkAGcal{serial}{name}"),
        };
        account.calendars.push(Calendar {
            id: id.clone(),
            name: name.to_owned(),
            writable,
            primary: false,
            conferencing,
            events: Vec::new(),
            counter: 1,
            valid_from: 0,
        });
        id
    }

    /// Lists answer at most `items` per page from now on, whatever the caller asks.
    pub fn limit_pages(&self, items: usize) {
        self.page_limit
            .store(items, std::sync::atomic::Ordering::SeqCst);
    }

    /// The next authorization of `family` signs in as `email` (created if needed).
    pub fn consent_as(&self, family: Family, email: &str) {
        let mut world = self.world();
        ensure_account(&mut world, family, email);
        world.consent.insert(family, email.to_owned());
    }

    /// The next authorization of `family` is refused by the user (`error=access_denied`).
    pub fn deny_next(&self, family: Family) {
        self.world().deny_next.insert(family, true);
    }

    /// Meet (or Teams) links cannot be created from now on (or again).
    pub fn refuse_conferencing(&self, family: Family, refuse: bool) {
        self.world().refuse_conferencing.insert(family, refuse);
    }

    /// Every grant of the account is revoked (as by the user in their account settings).
    pub fn revoke_grants(&self, family: Family, email: &str) {
        self.world().oauth.revoke_account(family, email);
    }

    /// Every refresh and access token issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.world().oauth.issued()
    }

    /// Access tokens expire now (refresh tokens stay).
    pub fn expire_access_tokens(&self) {
        let mut world = self.world();
        let now = world.now;
        world.oauth.expire_access_tokens(now);
    }

    /// Sync tokens and delta links issued so far for the calendar are refused (410).
    pub fn expire_sync_state(&self, family: Family, email: &str, calendar: &str) {
        let mut world = self.world();
        if let Some(calendar) = calendar_mut(&mut world, family, email, calendar) {
            calendar.counter += 1;
            calendar.valid_from = calendar.counter;
        }
    }

    pub fn inject(&self, failure: Injected) {
        self.world().failures.push(failure);
    }

    /// How many requests so far had `method` and a path containing `fragment`.
    pub fn requests(&self, method: &Method, fragment: &str) -> usize {
        self.world()
            .requests
            .iter()
            .filter(|(m, p)| m == method && p.contains(fragment))
            .count()
    }

    /// Every request so far, `METHOD /path`.
    pub fn request_log(&self) -> Vec<String> {
        self.world()
            .requests
            .iter()
            .map(|(m, p)| format!("{m} {p}"))
            .collect()
    }

    /// Removes a channel or subscription on the provider's side (Graph does so before it
    /// sends `subscriptionRemoved`).
    pub fn drop_watch(&self, id: &str) {
        self.world().watches.retain(|w| w.id != id);
    }

    /// The channels and subscriptions that exist now.
    pub fn watches(&self) -> Vec<Watch> {
        self.world().watches.clone()
    }

    /// The live (not deleted) events of a calendar, as the provider shows them.
    pub fn events(&self, family: Family, email: &str, calendar: &str) -> Vec<Value> {
        let mut world = self.world();
        calendar_mut(&mut world, family, email, calendar)
            .map(|c| {
                c.events
                    .iter()
                    .filter(|e| !e.deleted)
                    .map(|e| e.json.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Creates or replaces an event as the account's owner would in their calendar app
    /// (provider-shaped JSON; an `id` is made up when absent), and notifies the watchers.
    /// Answers the event's id.
    pub fn put_event(&self, family: Family, email: &str, calendar: &str, event: Value) -> String {
        let (id, notices) = {
            let mut world = self.world();
            let serial = world.next_serial();
            let now = world.now;
            let Some(target) = calendar_mut(&mut world, family, email, calendar) else {
                return String::new();
            };
            let stored = match family {
                Family::Google => google::external(event, serial, now),
                Family::Microsoft => microsoft::external(event, serial, now),
            };
            let id = stored["id"].as_str().unwrap_or_default().to_owned();
            upsert(target, stored);
            let notices = changed(&mut world, family, email, calendar, &id, "updated");
            (id, notices)
        };
        self.deliver(notices);
        id
    }

    /// Deletes an event as its owner would; notifies the watchers.
    pub fn delete_event(&self, family: Family, email: &str, calendar: &str, id: &str) -> bool {
        let notices = {
            let mut world = self.world();
            let Some(target) = calendar_mut(&mut world, family, email, calendar) else {
                return false;
            };
            if !remove(target, id) {
                return false;
            }
            changed(&mut world, family, email, calendar, id, "deleted")
        };
        self.deliver(notices);
        true
    }

    /// Sends a Graph lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`,
    /// `missed`) for a subscription.
    pub fn lifecycle(&self, subscription: &str, event: &str) {
        let notice = {
            let world = self.world();
            world
                .watches
                .iter()
                .find(|w| w.id == subscription)
                .and_then(|w| microsoft::lifecycle_notice(w, event))
        };
        self.deliver(notice.into_iter().collect());
    }

    /// Waits until every push delivery started so far has finished.
    pub async fn settle(&self) {
        loop {
            let pending: Vec<JoinHandle<()>> =
                std::mem::take(&mut *self.deliveries.lock().unwrap_or_else(|p| p.into_inner()));
            if pending.is_empty() {
                return;
            }
            for handle in pending {
                let _ = handle.await;
            }
        }
    }

    fn deliver(&self, notices: Vec<Notice>) {
        let mut handles = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        for notice in notices {
            let http = self.push.clone();
            handles.push(tokio::spawn(async move {
                let mut request = http.post(&notice.url).body(notice.body);
                for (name, value) in &notice.headers {
                    request = request.header(name.as_str(), value.as_str());
                }
                if let Err(error) = request.send().await {
                    tracing::warn!(error = %error, "push delivery failed");
                }
            }));
        }
    }
}

/// A push notification to send.
#[derive(Clone, Debug)]
struct Notice {
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn ensure_account<'w>(world: &'w mut World, family: Family, email: &str) -> &'w mut Account {
    let serial = world.serial + 1;
    world.serial = serial;
    world
        .accounts
        .entry((family, email.to_lowercase()))
        .or_insert_with(|| {
            let (id, primary) = match family {
                Family::Google => (format!("1{serial:020}"), email.to_owned()),
                Family::Microsoft => (
                    format!("{serial:08x}-0000-4000-8000-000000000000"),
                    format!("AAMkAGdefault{serial}"),
                ),
            };
            Account {
                email: email.to_owned(),
                id,
                calendars: vec![Calendar {
                    id: primary,
                    name: match family {
                        Family::Google => email.to_owned(),
                        Family::Microsoft => "Calendar".to_owned(),
                    },
                    writable: true,
                    primary: true,
                    conferencing: true,
                    events: Vec::new(),
                    counter: 1,
                    valid_from: 0,
                }],
            }
        })
}

fn calendar_mut<'w>(
    world: &'w mut World,
    family: Family,
    email: &str,
    calendar: &str,
) -> Option<&'w mut Calendar> {
    world
        .accounts
        .get_mut(&(family, email.to_lowercase()))?
        .calendars
        .iter_mut()
        .find(|c| c.id == calendar)
}

/// Stores (or replaces) `json`, moving the calendar's change counter on.
fn upsert(calendar: &mut Calendar, json: Value) {
    calendar.counter += 1;
    let changed = calendar.counter;
    let id = json["id"].clone();
    match calendar.events.iter_mut().find(|e| e.json["id"] == id) {
        Some(stored) => {
            stored.json = json;
            stored.changed = changed;
            stored.deleted = false;
        }
        None => calendar.events.push(StoredEvent {
            json,
            changed,
            deleted: false,
        }),
    }
}

/// Marks an event deleted; false when there is no live one.
fn remove(calendar: &mut Calendar, id: &str) -> bool {
    calendar.counter += 1;
    let changed = calendar.counter;
    match calendar
        .events
        .iter_mut()
        .find(|e| e.json["id"] == id && !e.deleted)
    {
        Some(stored) => {
            stored.deleted = true;
            stored.changed = changed;
            true
        }
        None => false,
    }
}

/// The notifications an event change sends to the watchers of its calendar.
fn changed(
    world: &mut World,
    family: Family,
    email: &str,
    calendar: &str,
    event: &str,
    change: &str,
) -> Vec<Notice> {
    let account_id = world
        .accounts
        .get(&(family, email.to_lowercase()))
        .map(|a| a.id.clone())
        .unwrap_or_default();
    let mut notices = Vec::new();
    for watch in world.watches.iter_mut().filter(|w| {
        w.family == family
            && w.account.eq_ignore_ascii_case(email)
            && w.calendar.as_deref().is_none_or(|c| c == calendar)
    }) {
        watch.messages += 1;
        notices.push(match family {
            Family::Google => google::notice(watch, "exists"),
            Family::Microsoft => microsoft::notice(watch, &account_id, event, change),
        });
    }
    notices
}

/// An answer: status and JSON body (or an empty body for `Value::Null` with 204).
type Answer = (StatusCode, Value);

/// The documented error document of each family.
fn error(family: Family, status: StatusCode, reason: &str, message: &str) -> Answer {
    let body = match family {
        Family::Google => json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
        }}),
        Family::Microsoft => json!({"error": {"code": reason, "message": message}}),
    };
    (status, body)
}

/// What a handler sees of a request.
struct Call<'a> {
    method: &'a Method,
    /// The most items a page may hold, when the test set a limit.
    page_limit: Option<usize>,
    segments: Vec<&'a str>,
    query: HashMap<String, String>,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

impl Call<'_> {
    fn json(&self) -> Value {
        serde_json::from_slice(self.body).unwrap_or(Value::Null)
    }

    fn form(&self) -> HashMap<String, String> {
        form_urlencoded::parse(self.body).into_owned().collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }
}

/// A reply: JSON (with a Retry-After when throttling), or a redirect (the authorization
/// endpoint).
enum Reply {
    Json(Answer),
    Throttled(Answer, u64),
    Redirect(String),
}

/// A path segment, percent-decoded (calendar ids hold `@`).
/// Both providers deliver notifications over HTTPS only; plain HTTP is taken for a loopback
/// host alone, the local stack (which has no certificate to show).
fn deliverable(address: &str) -> bool {
    reqwest::Url::parse(address).is_ok_and(|url| match url.scheme() {
        "https" => true,
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    })
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

async fn dispatch(State(server): State<Arc<ProviderServer>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 4 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let call = Call {
        page_limit: Some(server.page_limit.load(std::sync::atomic::Ordering::SeqCst))
            .filter(|n| *n > 0),
        method: &parts.method,
        segments: path.trim_matches('/').split('/').collect(),
        query,
        headers: &parts.headers,
        body: &body,
    };
    let family = match call.segments.first() {
        Some(&"google") => Family::Google,
        Some(&"microsoft") => Family::Microsoft,
        _ => return (StatusCode::NOT_FOUND, "no such route").into_response(),
    };
    // Graph validates a new subscription's URLs before it answers: the handshake runs
    // outside the lock, since the endpoint may call back.
    if family == Family::Microsoft
        && parts.method == Method::POST
        && call.segments.ends_with(&["v1.0", "subscriptions"])
    {
        let authorized = call.bearer().is_some_and(|t| {
            let world = server.world();
            world.oauth.account_of(family, t, world.now).is_some()
        });
        if authorized && let Err(refusal) = server.validate_subscription(&call).await {
            return (refusal.0, axum::Json(refusal.1)).into_response();
        }
    }
    let (reply, notices) = {
        let mut world = server.world();
        world.requests.push((parts.method.clone(), path.clone()));
        let injected = world
            .failures
            .iter()
            .position(|f| f.method == parts.method && path.starts_with(&f.path));
        match injected {
            Some(index) => {
                let failure = world.failures.remove(index);
                (injected_reply(family, &failure), Vec::new())
            }
            None => route(&server, &mut world, family, &call),
        }
    };
    server.deliver(notices);
    match reply {
        Reply::Redirect(location) => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        Reply::Json((status, Value::Null)) => status.into_response(),
        Reply::Json((status, body)) => (status, axum::Json(body)).into_response(),
        Reply::Throttled((status, body), seconds) => (
            status,
            [(header::RETRY_AFTER, seconds.to_string())],
            axum::Json(body),
        )
            .into_response(),
    }
}

impl ProviderServer {
    /// Graph's validation handshake: each URL must echo a fresh `validationToken` as
    /// `text/plain` with 200 within 10 seconds.
    async fn validate_subscription(&self, call: &Call<'_>) -> Result<(), Answer> {
        let request = microsoft::subscription_request(call, self.clock.now())?;
        for url in std::iter::once(request.notification_url).chain(request.lifecycle_url) {
            let token = format!(
                "Validation: Testing client application {}",
                ulid::Ulid::new()
            );
            let refused = || {
                error(
                    Family::Microsoft,
                    StatusCode::BAD_REQUEST,
                    "ValidationError",
                    "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
                )
            };
            let Ok(mut target) = reqwest::Url::parse(&url) else {
                return Err(refused());
            };
            target
                .query_pairs_mut()
                .append_pair("validationToken", &token);
            let answer = self
                .push
                .post(target)
                .header("content-type", "text/plain; charset=utf-8")
                .timeout(std::time::Duration::from_secs(10))
                .send()
                .await
                .map_err(|_| refused())?;
            let plain = answer
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/plain"));
            if answer.status() != StatusCode::OK
                || !plain
                || answer.text().await.ok() != Some(token)
            {
                return Err(refused());
            }
        }
        Ok(())
    }
}

fn injected_reply(family: Family, failure: &Injected) -> Reply {
    let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if failure.reason == "invalid_grant" {
        return Reply::Json((
            status,
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        ));
    }
    let answer = error(family, status, &failure.reason, "injected failure");
    match failure.retry_after {
        Some(seconds) => Reply::Throttled(answer, seconds),
        None => Reply::Json(answer),
    }
}

fn route(
    server: &ProviderServer,
    world: &mut World,
    family: Family,
    call: &Call<'_>,
) -> (Reply, Vec<Notice>) {
    let rest = &call.segments[1..];
    if let Some(reply) = oauth::route(server, world, family, rest, call) {
        return (reply, Vec::new());
    }
    let Some(account) = call
        .bearer()
        .and_then(|token| world.oauth.account_of(family, token, world.now))
    else {
        let reason = match family {
            Family::Google => "authError",
            Family::Microsoft => "InvalidAuthenticationToken",
        };
        return (
            Reply::Json(error(
                family,
                StatusCode::UNAUTHORIZED,
                reason,
                "Access token is missing, invalid or expired.",
            )),
            Vec::new(),
        );
    };
    let base = server.base();
    let (answer, notices) = match family {
        Family::Google => google::route(world, &base, &account, rest, call),
        Family::Microsoft => microsoft::route(world, &base, &account, rest, call),
    };
    (Reply::Json(answer), notices)
}
