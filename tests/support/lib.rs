//! End-to-end test support: a dev server on a free port over a fresh table in moto, and a
//! real HTTP client with minted dev tokens.

use std::time::Duration;

use local_stack::bootstrap;
use local_stack::dev_jwt;
use local_stack::dev_server::{DevServer, DevServerOptions};
use reqwest::{Client, RequestBuilder};

const SECRET: &str = "e2e-secret";

pub struct Stack {
    pub base_url: String,
    pub http: Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Stack {
    /// Starts the dev server exactly as `make dev` does, but on port 0 and a table of its own.
    pub async fn start() -> Stack {
        let (client, table) = bootstrap::fresh_table("e2e")
            .await
            .expect("a fresh table on moto (run the tests with `make test`)");
        let sdk = marketplace::config::aws_sdk_config().await;
        let server = DevServer::bind(&sdk, client, &table, DevServerOptions::for_tests(SECRET))
            .await
            .expect("dev server");
        let base_url = format!("http://{}", server.address);
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));
        Stack {
            base_url,
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            _shutdown: shutdown,
        }
    }

    pub fn token(&self, sub: &str, groups: &[&str]) -> String {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        dev_jwt::mint(
            SECRET,
            sub,
            Some(&format!("{sub}@example.com")),
            &groups,
            Duration::from_secs(600),
        )
        .expect("mint")
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.base_url))
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.http.put(format!("{}{path}", self.base_url))
    }
}
