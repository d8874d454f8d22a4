//! Webhook delivery, signed as Stripe signs: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256
//! of "<t>.<payload>" under the endpoint's secret>`. Deliveries run in the background, like
//! Stripe's; tests wait for them with `/_test/settle`.

use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use serde_json::Value;
use tokio::sync::Notify;

#[derive(Clone, Debug)]
pub struct WebhookEndpoint {
    pub url: String,
    /// Each secret signs the payload: more than one during a rotation.
    pub secrets: Vec<String>,
}

/// The `Stripe-Signature` header for `payload` at `timestamp`.
pub fn sign(payload: &str, secrets: &[String], timestamp: i64) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let tag = hmac::sign(&key, format!("{timestamp}.{payload}").as_bytes());
        header.push_str(",v1=");
        for byte in tag.as_ref() {
            header.push_str(&format!("{byte:02x}"));
        }
    }
    header
}

pub struct Deliveries {
    /// While set, events are recorded but not sent: a webhook outage.
    pub paused: std::sync::atomic::AtomicBool,
    /// While set, an API request answers only after its webhooks were delivered: the order in
    /// which a fast network can bring them to us.
    pub ahead_of_answers: std::sync::atomic::AtomicBool,
    sent: Arc<Mutex<Vec<Value>>>,
    in_flight: Arc<(Mutex<usize>, Notify)>,
    http: reqwest::Client,
}

impl Default for Deliveries {
    fn default() -> Self {
        Deliveries {
            paused: std::sync::atomic::AtomicBool::new(false),
            ahead_of_answers: std::sync::atomic::AtomicBool::new(false),
            sent: Arc::default(),
            in_flight: Arc::default(),
            // Stripe gives up on an endpoint after a few seconds too.
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }
}

impl Deliveries {
    /// Starts delivering `event`; the handle finishes when the endpoint answered.
    pub fn send(
        &self,
        endpoint: Option<WebhookEndpoint>,
        event: Value,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        let endpoint = endpoint?;
        if self.paused.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let in_flight = self.in_flight.clone();
        *in_flight.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let http = self.http.clone();
        Some(tokio::spawn(async move {
            let payload = event.to_string();
            let signature = sign(&payload, &endpoint.secrets, chrono::Utc::now().timestamp());
            let result = http
                .post(&endpoint.url)
                .header("content-type", "application/json")
                .header("stripe-signature", signature)
                .body(payload)
                .send()
                .await;
            if let Err(error) = result {
                tracing::warn!(error = %error, "webhook delivery failed");
            }
            let mut count = in_flight.0.lock().unwrap_or_else(|p| p.into_inner());
            *count -= 1;
            if *count == 0 {
                in_flight.1.notify_waiters();
            }
        }))
    }

    pub fn sent(&self) -> Vec<Value> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub async fn settle(&self) {
        loop {
            let notified = self.in_flight.1.notified();
            if *self.in_flight.0.lock().unwrap_or_else(|p| p.into_inner()) == 0 {
                return;
            }
            notified.await;
        }
    }
}
