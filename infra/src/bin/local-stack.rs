//! `local-stack serve [--port N] [--seed]` | `local-stack seed` | `local-stack bootstrap` |
//! `local-stack token --sub S [--email E] [--group G]... [--hours H]` |
//! `local-stack emails [--out DIR]`

use std::time::Duration;

use local_stack::bootstrap::{self, BoxError};
use local_stack::dev_server::{DevServer, DevServerOptions};
use local_stack::{dev_jwt, email_preview, seed};

const USAGE: &str = "usage: local-stack serve [--port N] [--seed] | seed | bootstrap | \
token --sub SUB [--email EMAIL] [--group GROUP]... [--hours H] | emails [--out DIR]";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, flags) = args.split_first().ok_or(USAGE)?;
    match command.as_str() {
        "token" => token(flags),
        "emails" => emails(flags),
        "serve" | "seed" | "bootstrap" => stack(command, flags).await,
        _ => Err(USAGE.into()),
    }
}

fn token(flags: &[String]) -> Result<(), BoxError> {
    let sub = flag(flags, "--sub").ok_or(USAGE)?;
    let email = flag(flags, "--email");
    let groups: Vec<String> = values(flags, "--group").map(str::to_owned).collect();
    let hours: u64 = flag(flags, "--hours").unwrap_or("12").parse()?;
    let token = dev_jwt::mint(
        &dev_jwt::secret_from_env(),
        sub,
        email,
        &groups,
        Duration::from_secs(hours * 3600),
    )?;
    println!("{token}");
    Ok(())
}

/// Writes every email template, rendered with samples, for a look before they go out.
fn emails(flags: &[String]) -> Result<(), BoxError> {
    let out = std::path::PathBuf::from(flag(flags, "--out").unwrap_or("target/emails"));
    for file in email_preview::write_samples(&out)? {
        println!("{}", file.display());
    }
    Ok(())
}

async fn stack(command: &str, flags: &[String]) -> Result<(), BoxError> {
    marketplace::telemetry::init();
    bootstrap::require_local_endpoint()?;
    let sdk = marketplace::config::aws_sdk_config().await;
    let port: u16 = flag(flags, "--port")
        .map(str::to_owned)
        .or_else(|| std::env::var("DEV_SERVER_PORT").ok())
        .unwrap_or_else(|| "3000".into())
        .parse()?;
    let mut options = DevServerOptions::from_env(port);
    if command != "serve" {
        // A one-off command must not collide with a running stack's ports.
        (options.port, options.stripe_port) = (0, 0);
    }
    let server = DevServer::bind(
        &sdk,
        aws_sdk_dynamodb::Client::new(&sdk),
        &table_name(),
        options,
    )
    .await?;
    let (services, stripe, store) = (
        server.services.clone(),
        server.stripe.clone(),
        server.store.clone(),
    );
    tracing::info!(address = %server.address, table = table_name(), "dev server listening");
    tracing::info!(
        google = %server.providers.endpoints(local_stack::provider_server::Family::Google).auth_url,
        microsoft = %server.providers.endpoints(local_stack::provider_server::Family::Microsoft).auth_url,
        "Google and Microsoft test server listening (auto-consent as expert@calendar.test)"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Serving starts before seeding: the Stripe test server delivers onboarding webhooks to us.
    let serving = tokio::spawn(server.serve(async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stopped => {}
        }
    }));
    if command == "seed" || flags.iter().any(|f| f == "--seed") {
        for expert in seed::demo_experts(&services, stripe.as_deref(), &store).await? {
            tracing::info!(expert_id = %expert.id, name = expert.display_name, "seeded demo expert");
        }
        if let Some(account) = seed::demo_calendar(&services).await? {
            tracing::info!(
                calendar = %account.url("work/")?,
                user = account.username,
                "seeded demo calendar for Ada (a lunch next Monday 10:00, a weekly Wednesday stand-up)"
            );
        }
    }
    if command != "serve" {
        let _ = stop.send(());
    }
    serving.await??;
    Ok(())
}

fn values<'a>(flags: &'a [String], name: &'a str) -> impl Iterator<Item = &'a str> {
    flags
        .windows(2)
        .filter(move |pair| pair[0] == name)
        .map(|pair| pair[1].as_str())
}

fn flag<'a>(flags: &'a [String], name: &'a str) -> Option<&'a str> {
    values(flags, name).next()
}

fn table_name() -> String {
    std::env::var("TABLE_NAME").unwrap_or_else(|_| "expert-marketplace-local".to_owned())
}
