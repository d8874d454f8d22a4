//! The HTTP transport of the app's DynamoDB client in tests: it records the operations sent
//! (retries included) and, when a test asks, plays what moto never does. moto serialises
//! requests, so there a transaction never meets another in flight: the probe answers chosen
//! transactions with DynamoDB's `TransactionConflict` (without sending them), holds
//! transactions until several are in flight (every read done before any write), or strips the
//! claim days' conditions (to show that they, not the service's own check, keep bookings
//! apart). Requests go out with reqwest; the product's code is the same either way.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::RuntimeComponents;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// How long a held transaction waits for the others before it goes on alone.
const HOLD_AT_MOST: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default)]
pub struct DynamoProbe(Arc<State>);

#[derive(Debug, Default)]
struct State {
    http: reqwest::Client,
    operations: Mutex<Vec<String>>,
    conflicts: AtomicUsize,
    strip_claim_conditions: AtomicBool,
    /// Transactions still to hold, and how many are held now.
    gate: Mutex<(usize, usize)>,
    opened: Notify,
}

impl DynamoProbe {
    /// The operations sent since the last call, in order (`["Query", "TransactWriteItems"]`).
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.operations.lock().unwrap())
    }

    /// The next `n` transactions are cancelled for `TransactionConflict` on every item from
    /// the fourth on (a booking's claim days), and reach nothing.
    pub fn conflict_next(&self, n: usize) {
        self.0.conflicts.store(n, Ordering::SeqCst);
    }

    /// Transactions keep the claim days' items but lose their conditions.
    pub fn strip_claim_conditions(&self) {
        self.0.strip_claim_conditions.store(true, Ordering::SeqCst);
    }

    /// The next `n` transactions wait until all `n` are in flight, then go at once.
    pub fn hold_transactions(&self, n: usize) {
        *self.0.gate.lock().unwrap() = (n, 0);
    }

    async fn pass_gate(&self) {
        let opened = self.0.opened.notified();
        {
            let mut gate = self.0.gate.lock().unwrap();
            if gate.0 == 0 {
                return;
            }
            gate.1 += 1;
            if gate.1 == gate.0 {
                *gate = (0, 0);
                self.0.opened.notify_waiters();
                return;
            }
        }
        let _ = tokio::time::timeout(HOLD_AT_MOST, opened).await;
    }

    fn take_conflict(&self) -> bool {
        self.0
            .conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
            .unwrap_or_default()
            .to_owned();
        let mut body = request.body().bytes().unwrap_or_default().to_vec();
        if operation == "TransactWriteItems" {
            self.pass_gate().await;
            if self.take_conflict() {
                self.0.operations.lock().unwrap().push(operation);
                return Ok(conflict(&body));
            }
            if self.0.strip_claim_conditions.load(Ordering::SeqCst) {
                body = without_claim_conditions(&body);
            }
        }
        self.0.operations.lock().unwrap().push(operation);
        let method = reqwest::Method::from_bytes(request.method().as_bytes())
            .map_err(|e| ConnectorError::other(e.into(), None))?;
        let mut outgoing = self.0.http.request(method, request.uri());
        for (name, value) in request.headers().iter() {
            if !name.eq_ignore_ascii_case("content-length") {
                outgoing = outgoing.header(name, value);
            }
        }
        let answer = outgoing
            .body(body)
            .send()
            .await
            .map_err(|e| ConnectorError::io(e.into()))?;
        let status = answer.status().as_u16();
        let headers: Vec<(String, String)> = answer
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_owned())))
            .collect();
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| ConnectorError::io(e.into()))?;
        let mut response = HttpResponse::new(
            status
                .try_into()
                .map_err(|e: aws_smithy_runtime_api::http::HttpError| {
                    ConnectorError::other(e.into(), None)
                })?,
            SdkBody::from(bytes.to_vec()),
        );
        for (name, value) in headers {
            response.headers_mut().insert(name, value);
        }
        Ok(response)
    }
}

/// DynamoDB's answer to a transaction that met another on its items.
fn conflict(request: &[u8]) -> HttpResponse {
    let items = serde_json::from_slice::<Value>(request)
        .ok()
        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(0);
    let reasons: Vec<Value> = (0..items)
        .map(|i| {
            if i >= 3 {
                json!({"Code": "TransactionConflict",
                       "Message": "Transaction is ongoing for the item"})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    });
    let mut response = HttpResponse::new(
        400.try_into().expect("a status"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

/// The transaction with its claim days' conditions removed.
fn without_claim_conditions(request: &[u8]) -> Vec<u8> {
    let Ok(mut transaction) = serde_json::from_slice::<Value>(request) else {
        return request.to_vec();
    };
    for item in transaction["TransactItems"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(fields) = item.get_mut("Put").and_then(Value::as_object_mut)
            && fields
                .get("Item")
                .is_some_and(|put| put["entity"]["S"] == "claims")
        {
            for field in [
                "ConditionExpression",
                "ExpressionAttributeValues",
                "ExpressionAttributeNames",
            ] {
                fields.remove(field);
            }
        }
    }
    transaction.to_string().into_bytes()
}

impl HttpConnector for DynamoProbe {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let probe = self.clone();
        HttpConnectorFuture::new(async move { probe.send(request).await })
    }
}

impl HttpClient for DynamoProbe {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
