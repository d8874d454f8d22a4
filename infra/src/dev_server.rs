//! The dev server: bootstraps the table from `template.yaml`, starts our Stripe test server
//! unless a real Stripe test key is set, optionally seeds demo data, and serves every HTTP
//! function of the template through the API Gateway stand-in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use marketplace::calendar::guard::StaticLookup;
use marketplace::calendar::service::CalendarClients;
use marketplace::clock::{Clock, SystemClock};
use marketplace::config::{CalendarSettings, OAuthProviderSettings};
use marketplace::payments::{StripeGateway, StripeSettings};
use marketplace::services::{Links, Outbound, Services};
use marketplace::store::dynamo::DynamoStore;
use tokio::net::TcpListener;

use crate::bootstrap::{self, BoxError};
use crate::dev_jwt;
use crate::gateway::Gateway;
use crate::provider_server::{Client, Family, ProviderServer};
use crate::stripe_server::{StripeServer, StripeServerConfig, WebhookEndpoint};
use crate::template::Template;

/// The template's logical names of the HTTP functions.
pub const BOOKING_API_FUNCTION: &str = "BookingApiFunction";
pub const STRIPE_WEBHOOK_FUNCTION: &str = "StripeWebhookFunction";

/// The secret key our Stripe test server expects.
pub const LOCAL_STRIPE_KEY: &str = "sk_test_local";

#[derive(Clone)]
pub struct DevServerOptions {
    /// 0 picks a free port.
    pub port: u16,
    pub jwt_secret: String,
    /// Stripe's test mode when set; otherwise our Stripe test server runs on `stripe_port`.
    pub stripe: Option<StripeSettings>,
    pub stripe_port: u16,
    /// Signs our test server's webhooks; with real Stripe, the endpoint's signing secret.
    pub webhook_secret: String,
    pub frontend_url: String,
    pub clock: Arc<dyn Clock>,
    /// How often the reminders function runs (its EventBridge schedule in AWS).
    pub sweep_every: Option<std::time::Duration>,
    /// Calendar hosts allowed over http on local addresses (the development setting).
    pub calendar_local_hosts: Vec<String>,
    /// Resolves calendar servers' names in place of the system resolver (tests).
    pub calendar_lookup: Option<StaticLookup>,
    /// Our Google and Microsoft test server's port (0: a free one).
    pub providers_port: u16,
    /// The API version our Stripe test server renders events in (`None`: the client
    /// library's), as Stripe renders them in the webhook endpoint's.
    pub stripe_event_api_version: Option<String>,
}

impl DevServerOptions {
    /// `make dev`: port from `--port`/`DEV_SERVER_PORT`; Stripe's test mode if
    /// `STRIPE_SECRET_KEY` is set, else our server on `STRIPE_PORT` (12111).
    pub fn from_env(port: u16) -> DevServerOptions {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        DevServerOptions {
            port,
            jwt_secret: dev_jwt::secret_from_env(),
            stripe: env("STRIPE_SECRET_KEY").map(|secret_key| StripeSettings {
                secret_key: secret_key.into(),
                api_base: env("STRIPE_API_BASE"),
            }),
            stripe_port: env("STRIPE_PORT")
                .and_then(|p| p.parse().ok())
                .unwrap_or(crate::stripe_server::DEFAULT_PORT),
            webhook_secret: env("STRIPE_WEBHOOK_SECRET")
                .unwrap_or_else(|| "whsec_local_dev".to_owned()),
            frontend_url: env("FRONTEND_URL").unwrap_or_else(|| "http://localhost:5173".to_owned()),
            clock: Arc::new(SystemClock),
            sweep_every: Some(std::time::Duration::from_secs(60)),
            calendar_local_hosts: local_calendar_hosts(),
            calendar_lookup: None,
            providers_port: env("PROVIDERS_PORT")
                .and_then(|p| p.parse().ok())
                .unwrap_or(crate::provider_server::DEFAULT_PORT),
            stripe_event_api_version: env("STRIPE_EVENT_API_VERSION"),
        }
    }

    /// Free ports, our Stripe test server, fresh secrets.
    pub fn for_tests(jwt_secret: &str) -> DevServerOptions {
        DevServerOptions {
            port: 0,
            jwt_secret: jwt_secret.to_owned(),
            stripe: None,
            stripe_port: 0,
            webhook_secret: format!("whsec_{}", ulid::Ulid::new()),
            frontend_url: "http://localhost:5173".to_owned(),
            clock: Arc::new(SystemClock),
            // Tests run the sweep themselves, when they mean to.
            sweep_every: None,
            calendar_local_hosts: local_calendar_hosts(),
            calendar_lookup: None,
            providers_port: 0,
            stripe_event_api_version: None,
        }
    }
}

/// Hosts the local stack may call over http on local addresses (the development setting that
/// template.yaml leaves empty): Radicale and the tests' servers listen on loopback.
pub const LOCAL_CALENDAR_HOSTS: [&str; 2] = ["127.0.0.1", "localhost"];

fn local_calendar_hosts() -> Vec<String> {
    LOCAL_CALENDAR_HOSTS.iter().map(|h| h.to_string()).collect()
}

pub struct DevServer {
    pub address: SocketAddr,
    pub services: Services,
    pub store: DynamoStore,
    /// Our Stripe test server, when no real key was given.
    pub stripe: Option<Arc<StripeServer>>,
    /// Where the Stripe API is (ours or Stripe's).
    pub stripe_url: String,
    /// The bus and queues made from the template.
    pub messaging: bootstrap::LocalMessaging,
    /// Our Google and Microsoft test server.
    pub providers: Arc<ProviderServer>,
    /// What the calendar clients were built from (a test builds a second instance from it).
    pub calendar_settings: CalendarSettings,
    listener: TcpListener,
    router: Router,
}

impl DevServer {
    /// Creates the table, bus, queues and rules if needed and binds `127.0.0.1:<port>`.
    pub async fn bind(
        sdk: &aws_config::SdkConfig,
        client: aws_sdk_dynamodb::Client,
        table: &str,
        options: DevServerOptions,
    ) -> Result<DevServer, BoxError> {
        let template = Template::load(&crate::template_path())?;
        bootstrap::create_table(&client, table, &template.table()?).await?;
        let messaging = bootstrap::create_messaging(sdk, &template, table).await?;
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let address = listener.local_addr()?;
        let (stripe_settings, stripe) = match options.stripe.clone() {
            Some(settings) => (settings, None),
            None => {
                let endpoint = WebhookEndpoint {
                    url: format!("http://{address}{}", stripe_webhook::PATH),
                    secrets: vec![options.webhook_secret.clone()],
                };
                let server = StripeServer::new(StripeServerConfig {
                    secret_key: LOCAL_STRIPE_KEY.to_owned(),
                    platform_endpoint: Some(endpoint.clone()),
                    connect_endpoint: Some(endpoint),
                    clock: options.clock.clone(),
                    event_api_version: options.stripe_event_api_version.clone(),
                });
                let stripe_listener = TcpListener::bind(("127.0.0.1", options.stripe_port)).await?;
                let stripe_address = server.spawn(stripe_listener)?;
                let settings = StripeSettings {
                    secret_key: LOCAL_STRIPE_KEY.to_owned().into(),
                    api_base: Some(format!("http://{stripe_address}")),
                };
                (settings, Some(server))
            }
        };
        let stripe_url = stripe_settings
            .api_base
            .clone()
            .unwrap_or_else(|| "https://api.stripe.com".to_owned());
        let store = DynamoStore::new(client, table);
        let (providers, google, microsoft) =
            provider_server(options.providers_port, options.clock.clone()).await?;
        let calendar_settings = CalendarSettings {
            key_id: bootstrap::create_calendar_key(sdk).await?,
            sync_queue_url: messaging
                .queue_urls
                .get("CalendarSyncQueue")
                .cloned()
                .ok_or("template.yaml declares no CalendarSyncQueue")?,
            allowed_local_hosts: options.calendar_local_hosts.clone(),
            google: Some(google),
            microsoft: Some(microsoft),
            // The providers call us back here: the OAuth callback and push notifications.
            public_api_url: Some(format!("http://{address}")),
        };
        let built_from = calendar_settings.clone();
        let calendars = match options.calendar_lookup.clone() {
            Some(lookup) => CalendarClients::with_lookup(sdk, &calendar_settings, lookup)?,
            None => CalendarClients::from_settings(sdk, &calendar_settings)?,
        };
        let services = Services::new(
            store.clone(),
            StripeGateway::new(&stripe_settings)?,
            options.clock.clone(),
            Links {
                frontend_url: options.frontend_url.clone(),
                meeting_base_url: marketplace::config::DEFAULT_MEETING_BASE_URL.to_owned(),
                mail_from: marketplace::config::DEFAULT_MAIL_FROM.to_owned(),
                operations_email: Some(marketplace::config::LOCAL_OPERATIONS_EMAIL.to_owned()),
            },
            Outbound {
                event_bus: messaging
                    .bus_name
                    .clone()
                    .map(|bus| (aws_sdk_eventbridge::Client::new(sdk), bus)),
                ses: aws_sdk_ses::Client::new(sdk),
                sns: aws_sdk_sns::Client::new(sdk),
            },
            Some(calendars),
        );
        if let Some(every) = options.sweep_every {
            let sqs = aws_sdk_sqs::Client::new(sdk);
            let notifications = messaging.queue_urls.get("NotificationsQueue").cloned();
            let syncs = messaging.queue_urls.get("CalendarSyncQueue").cloned();
            // Lambda's SQS trigger runs a pushed sync within seconds; so does this.
            if let (Some(queue), Some(calendars)) = (syncs, services.calendars.clone()) {
                let sqs = sqs.clone();
                tokio::spawn(async move {
                    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(3));
                    loop {
                        ticks.tick().await;
                        drain("calendar sync", || {
                            crate::queue_pump::calendar_syncs(&sqs, &queue, &calendars)
                        })
                        .await;
                    }
                });
            }
            let services = services.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                loop {
                    ticks.tick().await;
                    if let Err(error) = reminders::run(&services).await {
                        tracing::error!(error = %error, "scheduled sweep failed");
                    }
                    // The SQS triggers: drain what the sweep and the relay just queued.
                    if let Some(queue) = &notifications {
                        drain("notifier", || {
                            crate::queue_pump::notifications(&sqs, queue, &services)
                        })
                        .await;
                    }
                }
            });
        }
        let router = gateway(&template, &services, &options)?.into_router();
        Ok(DevServer {
            address,
            services,
            store,
            stripe,
            stripe_url,
            messaging,
            providers,
            calendar_settings: built_from,
            listener,
            router,
        })
    }

    /// The API Gateway stand-in, for in-process requests.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Starts our Google and Microsoft test server with a fresh OAuth client for each, and answers
/// the settings that point the marketplace at it.
async fn provider_server(
    port: u16,
    clock: Arc<dyn Clock>,
) -> Result<
    (
        Arc<ProviderServer>,
        OAuthProviderSettings,
        OAuthProviderSettings,
    ),
    BoxError,
> {
    let client = |name: &str| Client {
        id: format!("{name}-client.local"),
        secret: format!("{name}-secret-{}", ulid::Ulid::new()),
    };
    let (google, microsoft) = (client("google"), client("microsoft"));
    let server = ProviderServer::new(google.clone(), microsoft.clone(), clock);
    server.spawn(TcpListener::bind(("127.0.0.1", port)).await?)?;
    let settings = |family: Family, client: Client| {
        let endpoints = server.endpoints(family);
        OAuthProviderSettings {
            client_id: client.id,
            client_secret: client.secret.into(),
            auth_url: endpoints.auth_url,
            token_url: endpoints.token_url,
            revoke_url: endpoints.revoke_url,
            api_base: endpoints.api_base,
        }
    };
    let google = settings(Family::Google, google);
    let microsoft = settings(Family::Microsoft, microsoft);
    Ok((server, google, microsoft))
}

/// The API Gateway stand-in for the template's routes, each served by its function's handler.
fn gateway(
    template: &Template,
    services: &Services,
    options: &DevServerOptions,
) -> Result<Gateway, BoxError> {
    let functions = HashMap::from([
        (
            BOOKING_API_FUNCTION.to_owned(),
            booking_api::router(services.clone()),
        ),
        (
            STRIPE_WEBHOOK_FUNCTION.to_owned(),
            stripe_webhook::router(
                services.clone(),
                vec![options.webhook_secret.clone().into()],
            )?,
        ),
    ]);
    Ok(Gateway::new(
        template.api_routes()?,
        functions,
        options.jwt_secret.clone(),
    ))
}

/// Runs `batch` until the queue it reads is empty (failed messages stay hidden until their
/// visibility timeout, as with Lambda's trigger).
async fn drain<F, B>(what: &str, mut batch: B)
where
    B: FnMut() -> F,
    F: Future<Output = Result<(usize, usize), BoxError>>,
{
    loop {
        match batch().await {
            Ok((0, 0)) => return,
            Ok(_) => {}
            Err(error) => {
                tracing::error!(error = %error, "{what} run failed");
                return;
            }
        }
    }
}
