//! The local stack: everything that stands in for AWS around our functions on a developer's
//! machine and in CI. Resources come from `template.yaml` (so local and cloud cannot drift),
//! the dev server plays API Gateway (routes, JWT authorizer) and the Lambda runtime, and the
//! handlers it calls are the functions' own.

pub mod bootstrap;
pub mod dev_jwt;
pub mod dev_server;
pub mod email_preview;
pub mod fault_proxy;
pub mod gateway;
pub mod lambda;
pub mod provider_server;
pub mod queue_pump;
pub mod radicale;
pub mod seed;
pub mod stripe_server;
pub mod template;

use std::path::PathBuf;

/// The repository's `template.yaml`, found from this crate's manifest directory.
pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("template.yaml")
}
