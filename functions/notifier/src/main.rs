//! The notifier Lambda: wires settings and clients, then handles SQS batches.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use marketplace::config::Settings;
use marketplace::services::Services;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    marketplace::telemetry::init();
    let settings = Settings::from_env()?;
    let services = Services::from_settings(&settings).await?;
    let services = &services;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(notifier::handle(services, event.payload).await)
    }))
    .await
}
