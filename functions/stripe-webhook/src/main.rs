//! The Stripe webhook Lambda: wires settings, clients and the router, then serves events.

use marketplace::config::Settings;
use marketplace::services::Services;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    marketplace::telemetry::init();
    let settings = Settings::from_env()?;
    let services = Services::from_settings(&settings).await?;
    let router = stripe_webhook::router(services, settings.stripe_webhook_secrets)?;
    lambda_http::run(router).await
}
