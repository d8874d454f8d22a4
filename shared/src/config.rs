//! Settings read once per cold start from the environment into a typed struct. In AWS the
//! Stripe secrets come from Secrets Manager through the template; there are no defaults for
//! secrets, and every secret is a `SecretString`: printing the settings (their `Debug`, a
//! log line) shows `[REDACTED]`, never the value.

use secrecy::SecretString;
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
    pub stripe_webhook_secrets: Vec<SecretString>,
    /// `FRONTEND_URL`: where Stripe sends experts back after onboarding.
    pub frontend_url: String,
    /// `MEETING_BASE_URL`: the video provider's room URL prefix (Jitsi Meet by default).
    pub meeting_base_url: String,
    /// `MAIL_FROM`: the sender of invites and emails.
    pub mail_from: String,
    /// `OPERATIONS_EMAIL`: where payment incidents and disputes are reported.
    pub operations_email: Option<String>,
    /// `EVENT_BUS_NAME`: where the relay publishes domain events (the reminders function).
    pub event_bus_name: Option<String>,
    /// Present where the function manages calendar connections.
    pub calendars: Option<CalendarSettings>,
}

/// Calendar connections: the key that seals their secrets, the sync queue, (development only)
/// the hosts that may be called over http and on local addresses, and the OAuth providers.
#[derive(Clone, Debug)]
pub struct CalendarSettings {
    pub key_id: String,
    pub sync_queue_url: String,
    pub allowed_local_hosts: Vec<String>,
    /// `GOOGLE_CLIENT_ID`, `GOOGLE_CLIENT_SECRET` (and the endpoints, for our test server).
    pub google: Option<OAuthProviderSettings>,
    /// `MICROSOFT_CLIENT_ID`, `MICROSOFT_CLIENT_SECRET` (and the endpoints).
    pub microsoft: Option<OAuthProviderSettings>,
    /// `PUBLIC_API_URL`: where the providers reach us (OAuth callbacks, push notifications).
    pub public_api_url: Option<String>,
}

/// One OAuth provider: our client's credentials and where its endpoints are. Only the
/// endpoints differ between the real providers and our test server.
#[derive(Clone, Debug)]
pub struct OAuthProviderSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub auth_url: String,
    pub token_url: String,
    /// Google's revocation endpoint; Microsoft offers none per token.
    pub revoke_url: Option<String>,
    pub api_base: String,
}

impl OAuthProviderSettings {
    /// `<PREFIX>_CLIENT_ID` and `<PREFIX>_CLIENT_SECRET`, endpoints from `<PREFIX>_AUTH_URL`,
    /// `_TOKEN_URL`, `_REVOKE_URL`, `_API_BASE` or the provider's own; `None` without a client.
    fn from_env(prefix: &str, defaults: [Option<&str>; 4]) -> Option<Self> {
        let var = |suffix: &str| optional_owned(&format!("{prefix}_{suffix}"));
        let [auth, token, revoke, api] = defaults;
        Some(OAuthProviderSettings {
            client_id: var("CLIENT_ID")?,
            client_secret: var("CLIENT_SECRET")?.into(),
            auth_url: var("AUTH_URL").or(auth.map(str::to_owned))?,
            token_url: var("TOKEN_URL").or(token.map(str::to_owned))?,
            revoke_url: var("REVOKE_URL").or(revoke.map(str::to_owned)),
            api_base: var("API_BASE").or(api.map(str::to_owned))?,
        })
    }
}

pub const GOOGLE_ENDPOINTS: [Option<&str>; 4] = [
    Some("https://accounts.google.com/o/oauth2/v2/auth"),
    Some("https://oauth2.googleapis.com/token"),
    Some("https://oauth2.googleapis.com/revoke"),
    Some("https://www.googleapis.com/calendar/v3"),
];

pub const MICROSOFT_ENDPOINTS: [Option<&str>; 4] = [
    Some("https://login.microsoftonline.com/common/oauth2/v2.0/authorize"),
    Some("https://login.microsoftonline.com/common/oauth2/v2.0/token"),
    None,
    Some("https://graph.microsoft.com/v1.0"),
];

pub const DEFAULT_MEETING_BASE_URL: &str = "https://meet.jit.si";
pub const DEFAULT_MAIL_FROM: &str = "bookings@example.com";
/// Where the local stack reports payment incidents and disputes.
pub const LOCAL_OPERATIONS_EMAIL: &str = "operations@example.com";

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
                secret_key: required("STRIPE_SECRET_KEY")?.into(),
                api_base: optional("STRIPE_API_BASE"),
            },
            stripe_webhook_secrets: list("STRIPE_WEBHOOK_SECRETS")
                .into_iter()
                .map(SecretString::from)
                .collect(),
            frontend_url: optional("FRONTEND_URL")
                .unwrap_or_else(|| "http://localhost:5173".to_owned()),
            meeting_base_url: optional("MEETING_BASE_URL")
                .unwrap_or_else(|| DEFAULT_MEETING_BASE_URL.to_owned()),
            mail_from: optional("MAIL_FROM").unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned()),
            operations_email: optional("OPERATIONS_EMAIL"),
            event_bus_name: optional("EVENT_BUS_NAME"),
            calendars: match (
                optional("CALENDAR_KEY_ID"),
                optional("CALENDAR_SYNC_QUEUE_URL"),
            ) {
                (Some(key_id), Some(sync_queue_url)) => Some(CalendarSettings {
                    key_id,
                    sync_queue_url,
                    allowed_local_hosts: list("CALENDAR_ALLOWED_LOCAL_HOSTS"),
                    google: OAuthProviderSettings::from_env("GOOGLE", GOOGLE_ENDPOINTS),
                    microsoft: OAuthProviderSettings::from_env("MICROSOFT", MICROSOFT_ENDPOINTS),
                    public_api_url: optional("PUBLIC_API_URL"),
                }),
                _ => None,
            },
        })
    }
}

fn optional(name: &'static str) -> Option<String> {
    optional_owned(name)
}

fn optional_owned(name: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_the_settings_shows_no_secret() {
        let oauth = OAuthProviderSettings {
            client_id: "client-id".into(),
            client_secret: "oauth-client-secret-value".to_owned().into(),
            auth_url: "https://auth".into(),
            token_url: "https://token".into(),
            revoke_url: None,
            api_base: "https://api".into(),
        };
        let settings = Settings {
            table_name: "table".into(),
            stripe: StripeSettings {
                secret_key: "sk_live_secret_value".to_owned().into(),
                api_base: None,
            },
            stripe_webhook_secrets: vec!["whsec_secret_value".to_owned().into()],
            frontend_url: "https://app".into(),
            meeting_base_url: DEFAULT_MEETING_BASE_URL.into(),
            mail_from: DEFAULT_MAIL_FROM.into(),
            operations_email: None,
            event_bus_name: None,
            calendars: Some(CalendarSettings {
                key_id: "key".into(),
                sync_queue_url: "queue".into(),
                allowed_local_hosts: Vec::new(),
                google: Some(oauth.clone()),
                microsoft: Some(oauth),
                public_api_url: None,
            }),
        };
        let printed = format!("{settings:?} {settings:#?}");
        for secret in [
            "sk_live_secret_value",
            "whsec_secret_value",
            "oauth-client-secret-value",
        ] {
            assert!(!printed.contains(secret), "{secret} printed: {printed}");
        }
        assert!(printed.contains("REDACTED"));
    }
}
