//! The calendar-sync Lambda: wires settings and clients, then handles SQS batches of sync jobs.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use marketplace::config::Settings;
use marketplace::services::Services;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    marketplace::telemetry::init();
    let settings = Settings::from_env()?;
    let services = Services::from_settings(&settings).await?;
    let calendars = services
        .calendars
        .ok_or("CALENDAR_KEY_ID and CALENDAR_SYNC_QUEUE_URL must be set")?;
    let calendars = &calendars;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(calendar_sync::handle(calendars, event.payload).await)
    }))
    .await
}
