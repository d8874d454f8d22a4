//! The reminders Lambda: wires settings and clients, then runs one sweep per scheduled event.

use lambda_runtime::{LambdaEvent, service_fn};
use marketplace::config::Settings;
use marketplace::services::Services;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    marketplace::telemetry::init();
    let settings = Settings::from_env()?;
    let services = Services::from_settings(&settings).await?;
    let services = &services;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            reminders::run(services)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
