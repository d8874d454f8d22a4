//! JSON over HTTPS with a bearer token: the transport of the Google Calendar and Microsoft
//! Graph clients. One reqwest client (built once per cold start, hard timeouts, no redirects
//! followed), and one classification of the providers' failures: 401 means the access token
//! was refused (refresh it), 429/503 and Google's 403 `rateLimitExceeded` ask for patience
//! (a short Retry-After is waited out here, a long one goes back to the queue), 410 means
//! the sync state expired (Google's `fullSyncRequired`, Graph's `syncStateNotFound`) or the
//! event is gone.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Retry-After this short is waited out in place, at most [`INLINE_RETRIES`] times; longer
/// waits are the queue's (the job comes back after it).
const INLINE_WAIT: Duration = Duration::from_secs(2);
const INLINE_RETRIES: u32 = 2;
/// The largest answer read.
const MAX_BODY_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// 401: the access token was refused (expired early, or the grant was revoked).
    #[error("the provider refused the access token")]
    Unauthorized,
    #[error("the provider asked us to slow down (HTTP {status})")]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("the provider failed (HTTP {0})")]
    Server(u16),
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// 410 on a sync token or delta link: start again with a full read.
    #[error("the provider's sync state expired")]
    SyncStateExpired,
    /// 404, or 410 on an event: it is not there (any more).
    #[error("not found")]
    NotFound,
    #[error("the event changed since it was read")]
    PreconditionFailed,
    /// 409 on a create with our own id: it exists already.
    #[error("it exists already")]
    Duplicate,
    #[error("the provider refused the request (HTTP {status}): {reason}")]
    Refused { status: u16, reason: String },
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

impl ProviderError {
    /// The server's requested wait, when it throttled us.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The JSON client of the providers; cheap to clone.
#[derive(Clone, Debug)]
pub struct RestClient {
    http: reqwest::Client,
}

/// An answer: its ETag header (Graph puts the event's in the body) and JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl RestClient {
    /// `timeout` bounds every request.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(RestClient {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
                .connect_timeout(timeout)
                .no_proxy()
                .tls_backend_rustls()
                .build()?,
        })
    }

    /// The plain HTTP client, for the OAuth endpoints.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// GET `url` and read the JSON answer as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        token: &str,
        url: Url,
        headers: &[(&str, &str)],
    ) -> Result<T, ProviderError> {
        let answer = self.send(Method::GET, token, url, None, headers).await?;
        parse(answer.body)
    }

    /// A request with an optional JSON body; the answer's body is `Value::Null` when empty.
    pub async fn send(
        &self,
        method: Method,
        token: &str,
        url: Url,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, ProviderError> {
        let mut attempt = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token)
                .header("accept", "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = request.send().await.map_err(unreachable)?;
            let status = response.status();
            let response_headers = response.headers().clone();
            let bytes = read_limited(response, MAX_BODY_BYTES)
                .await
                .map_err(|failure| match failure {
                    ReadFailure::Network(error) => unreachable(error),
                    ReadFailure::TooLarge(limit) => {
                        ProviderError::Protocol(format!("answer larger than {limit} bytes"))
                    }
                })?;
            let value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            if status.is_success() {
                return Ok(Answer {
                    status,
                    body: value,
                });
            }
            let error = classify(status, &response_headers, &value);
            match error.retry_after() {
                Some(wait) if wait <= INLINE_WAIT && attempt < INLINE_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(error),
            }
        }
    }
}

/// `base` with `segments` appended, each percent-encoded (calendar ids hold `@` and `#`).
pub fn endpoint(base: &str, segments: &[&str]) -> Result<Url, ProviderError> {
    let mut url = Url::parse(base).map_err(|e| ProviderError::Protocol(e.to_string()))?;
    url.path_segments_mut()
        .map_err(|()| ProviderError::Protocol("base URL".into()))?
        .extend(segments);
    Ok(url)
}

pub fn parse<T: DeserializeOwned>(body: Value) -> Result<T, ProviderError> {
    serde_json::from_value(body).map_err(|e| ProviderError::Protocol(e.to_string()))
}

/// The reason a provider gave: Google's `error.errors[0].reason`, Graph's `error.code`, an
/// OAuth `error`.
fn reason_of(body: &Value) -> String {
    body["error"]["errors"][0]["reason"]
        .as_str()
        .or_else(|| body["error"]["code"].as_str())
        .or_else(|| body["error"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn classify(status: StatusCode, headers: &HeaderMap, body: &Value) -> ProviderError {
    let reason = reason_of(body);
    let retry_after = retry_after(headers);
    match status.as_u16() {
        401 => ProviderError::Unauthorized,
        403 if matches!(
            reason.as_str(),
            "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded"
        ) =>
        {
            ProviderError::Throttled {
                status: 403,
                // Google sends none: exponential backoff is the queue's.
                retry_after,
            }
        }
        404 => ProviderError::NotFound,
        409 => ProviderError::Duplicate,
        410 if matches!(
            reason.as_str(),
            "fullSyncRequired" | "syncStateNotFound" | "resyncRequired" | "syncStateInvalid"
        ) =>
        {
            ProviderError::SyncStateExpired
        }
        410 => ProviderError::NotFound,
        412 => ProviderError::PreconditionFailed,
        429 | 503 => ProviderError::Throttled {
            status: status.as_u16(),
            retry_after,
        },
        status @ 500..=599 => ProviderError::Server(status),
        status => ProviderError::Refused { status, reason },
    }
}

/// `Retry-After` in seconds (the form calendar providers send).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn unreachable(error: reqwest::Error) -> ProviderError {
    ProviderError::Unreachable(network_failure(&error))
}

/// A network error or timeout in words, with its innermost cause; never a URL's credentials
/// or a header (reqwest prints neither).
pub fn network_failure(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

/// What a too large answer is called.
#[derive(Debug)]
pub enum ReadFailure {
    Network(reqwest::Error),
    TooLarge(usize),
}

/// The body, refused beyond `limit` bytes.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ReadFailure> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadFailure::Network)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadFailure::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn classified(status: u16, body: Value, retry_after: Option<&str>) -> ProviderError {
        let mut headers = HeaderMap::new();
        if let Some(seconds) = retry_after {
            headers.insert("retry-after", seconds.parse().unwrap());
        }
        classify(StatusCode::from_u16(status).unwrap(), &headers, &body)
    }

    #[test]
    fn provider_failures_are_told_apart_by_status_and_reason() {
        let google = |reason: &str| json!({"error": {"errors": [{"reason": reason}]}});
        let graph = |code: &str| json!({"error": {"code": code}});
        assert!(matches!(
            classified(401, Value::Null, None),
            ProviderError::Unauthorized
        ));
        assert!(matches!(
            classified(403, google("rateLimitExceeded"), None),
            ProviderError::Throttled {
                status: 403,
                retry_after: None
            }
        ));
        assert!(matches!(
            classified(403, google("forbidden"), None),
            ProviderError::Refused { status: 403, .. }
        ));
        assert!(matches!(
            classified(429, graph("TooManyRequests"), Some("7")),
            ProviderError::Throttled { status: 429, retry_after: Some(d) } if d.as_secs() == 7
        ));
        assert!(matches!(
            classified(410, google("fullSyncRequired"), None),
            ProviderError::SyncStateExpired
        ));
        assert!(matches!(
            classified(410, graph("syncStateNotFound"), None),
            ProviderError::SyncStateExpired
        ));
        assert!(matches!(
            classified(410, google("deleted"), None),
            ProviderError::NotFound
        ));
        assert!(matches!(
            classified(409, google("duplicate"), None),
            ProviderError::Duplicate
        ));
        assert!(matches!(
            classified(412, google("conditionNotMet"), None),
            ProviderError::PreconditionFailed
        ));
        assert!(matches!(
            classified(502, Value::Null, None),
            ProviderError::Server(502)
        ));
    }
}
