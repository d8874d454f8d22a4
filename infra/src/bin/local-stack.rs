//! `local-stack serve [--port N] [--seed]` | `local-stack seed` | `local-stack bootstrap` |
//! `local-stack token --sub S [--email E] [--group G]... [--hours H]`

use std::time::Duration;

use local_stack::bootstrap::{self, BoxError};
use local_stack::dev_jwt;
use local_stack::dev_server::{self, DevServer};

const USAGE: &str = "usage: local-stack serve [--port N] [--seed] | seed | bootstrap | \
token --sub SUB [--email EMAIL] [--group GROUP]... [--hours H]";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, flags) = args.split_first().ok_or(USAGE)?;
    match command.as_str() {
        "token" => token(flags),
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

async fn stack(command: &str, flags: &[String]) -> Result<(), BoxError> {
    marketplace::telemetry::init();
    bootstrap::require_local_endpoint()?;
    let settings = marketplace::config::Settings::from_env()?;
    let sdk = marketplace::config::aws_sdk_config().await;
    let port: u16 = flag(flags, "--port")
        .map(str::to_owned)
        .or_else(|| std::env::var("DEV_SERVER_PORT").ok())
        .unwrap_or_else(|| "3000".into())
        .parse()?;
    let server = DevServer::bind(
        aws_sdk_dynamodb::Client::new(&sdk),
        &settings.table_name,
        if command == "serve" { port } else { 0 },
        dev_server::jwt_secret(),
    )
    .await?;
    if command == "seed" || flags.iter().any(|f| f == "--seed") {
        server.seed().await?;
    }
    if command != "serve" {
        return Ok(());
    }
    tracing::info!(address = %server.address, table = settings.table_name, "dev server listening");
    server
        .serve(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
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
