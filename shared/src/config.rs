//! Settings read once per cold start from the environment into a typed struct. In AWS the
//! Stripe secrets come from Secrets Manager through the template; there are no defaults for
//! secrets.

use thiserror::Error;

use crate::payments::StripeSettings;

#[derive(Clone, Debug)]
pub struct Settings {
    /// The single DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// `STRIPE_SECRET_KEY`, and `STRIPE_API_BASE` for our Stripe test server.
    pub stripe: StripeSettings,
    /// `STRIPE_WEBHOOK_SECRETS`: comma-separated signing secrets (the platform endpoint's, the
    /// Connect endpoint's, and an old one while rotating). Only the webhook function needs them.
    pub stripe_webhook_secrets: Vec<String>,
    /// `FRONTEND_URL`: where Stripe sends experts back after onboarding.
    pub frontend_url: String,
    /// `MEETING_BASE_URL`: the video provider's room URL prefix (Jitsi Meet by default).
    pub meeting_base_url: String,
    /// `MAIL_FROM`: the sender of invites and emails.
    pub mail_from: String,
    /// `EVENT_BUS_NAME`: where the relay publishes domain events (the reminders function).
    pub event_bus_name: Option<String>,
    /// Present where the function manages calendar connections.
    pub calendars: Option<CalendarSettings>,
}

/// Calendar connections: the key that seals their secrets, the sync queue, and (development
/// only) the hosts that may be called over http and on local addresses.
#[derive(Clone, Debug)]
pub struct CalendarSettings {
    pub key_id: String,
    pub sync_queue_url: String,
    pub allowed_local_hosts: Vec<String>,
}

pub const DEFAULT_MEETING_BASE_URL: &str = "https://meet.jit.si";
pub const DEFAULT_MAIL_FROM: &str = "bookings@example.com";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
}

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        Ok(Settings {
            table_name: required("TABLE_NAME")?,
            stripe: StripeSettings {
                secret_key: required("STRIPE_SECRET_KEY")?,
                api_base: optional("STRIPE_API_BASE"),
            },
            stripe_webhook_secrets: list("STRIPE_WEBHOOK_SECRETS"),
            frontend_url: optional("FRONTEND_URL")
                .unwrap_or_else(|| "http://localhost:5173".to_owned()),
            meeting_base_url: optional("MEETING_BASE_URL")
                .unwrap_or_else(|| DEFAULT_MEETING_BASE_URL.to_owned()),
            mail_from: optional("MAIL_FROM").unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned()),
            event_bus_name: optional("EVENT_BUS_NAME"),
            calendars: match (
                optional("CALENDAR_KEY_ID"),
                optional("CALENDAR_SYNC_QUEUE_URL"),
            ) {
                (Some(key_id), Some(sync_queue_url)) => Some(CalendarSettings {
                    key_id,
                    sync_queue_url,
                    allowed_local_hosts: list("CALENDAR_ALLOWED_LOCAL_HOSTS"),
                }),
                _ => None,
            },
        })
    }
}

fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A comma-separated list; empty when unset.
fn list(name: &'static str) -> Vec<String> {
    optional(name)
        .map(|all| {
            all.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    optional(name).ok_or(ConfigError::Missing(name))
}

/// The AWS SDK configuration from the standard chain. `AWS_ENDPOINT_URL` points every client
/// at the local emulator without any code knowing about it.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
