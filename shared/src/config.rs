//! Settings read once per cold start from the environment into a typed struct.

use thiserror::Error;

#[derive(Clone, Debug)]
pub struct Settings {
    /// The single DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
}

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        Ok(Settings {
            table_name: required("TABLE_NAME")?,
        })
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// The AWS SDK configuration from the standard chain. `AWS_ENDPOINT_URL` points every client
/// at the local emulator without any code knowing about it.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
