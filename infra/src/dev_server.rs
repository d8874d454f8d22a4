//! The dev server: bootstraps the table from `template.yaml`, optionally seeds demo data, and
//! serves every HTTP function of the template through the API Gateway stand-in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use marketplace::clock::SystemClock;
use marketplace::services::Services;
use marketplace::store::dynamo::DynamoStore;
use tokio::net::TcpListener;

use crate::bootstrap::{self, BoxError};
use crate::gateway::Gateway;
use crate::template::Template;
use crate::{dev_jwt, seed};

/// The template's logical name of the booking API function.
pub const BOOKING_API_FUNCTION: &str = "BookingApiFunction";

pub struct DevServer {
    pub address: SocketAddr,
    pub services: Services,
    listener: TcpListener,
    gateway: Gateway,
}

impl DevServer {
    /// Creates the table if needed and binds `127.0.0.1:port` (0 picks a free port).
    pub async fn bind(
        client: aws_sdk_dynamodb::Client,
        table: &str,
        port: u16,
        jwt_secret: String,
    ) -> Result<DevServer, BoxError> {
        let template = Template::load(&crate::template_path())?;
        bootstrap::create_table(&client, table, &template.table()?).await?;
        let services = Services::new(DynamoStore::new(client, table), Arc::new(SystemClock));
        let gateway = gateway(&template, &services, jwt_secret)?;
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        Ok(DevServer {
            address: listener.local_addr()?,
            services,
            listener,
            gateway,
        })
    }

    pub async fn seed(&self) -> Result<(), BoxError> {
        for expert in seed::demo_experts(&self.services).await? {
            tracing::info!(expert_id = %expert.id, name = expert.display_name, "seeded demo expert");
        }
        Ok(())
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.gateway.into_router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// The API Gateway stand-in for the template's routes, each served by its function's handler.
pub fn gateway(
    template: &Template,
    services: &Services,
    jwt_secret: String,
) -> Result<Gateway, BoxError> {
    let functions = HashMap::from([(
        BOOKING_API_FUNCTION.to_owned(),
        booking_api::router(services.clone()),
    )]);
    Ok(Gateway::new(template.api_routes()?, functions, jwt_secret))
}

/// The dev secret, for callers that mint tokens for this server.
pub fn jwt_secret() -> String {
    dev_jwt::secret_from_env()
}
