//! A proxy in front of a real server (Radicale) that fails on command, for tests of what the
//! sync does when a provider goes away mid-sync, throttles, or answers corrupt data: it passes
//! requests through, then (after a given number) drops connections without an answer, as a
//! server that was stopped does, or answers a status with Retry-After; it can also rewrite
//! the answers' bodies.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::net::TcpListener;

/// How requests fail once the proxy is told to fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The connection is closed without an answer (a server that went down).
    Drop,
    /// This status, with `Retry-After: <seconds>` when given.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
}

#[derive(Default)]
struct Plan {
    /// Requests still passed through before `fault` applies; `None`: all of them.
    passes_left: Option<usize>,
    fault: Option<Fault>,
    /// (from, to) replacements in the answers' bodies.
    rewrites: Vec<(String, String)>,
    passed: usize,
    failed: usize,
}

pub struct FaultProxy {
    address: SocketAddr,
    plan: Arc<Mutex<Plan>>,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and passes everything to `upstream` (its scheme,
    /// host and port; request paths are kept).
    pub async fn start(upstream: Url) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let plan = Arc::new(Mutex::new(Plan::default()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let shared = plan.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (plan, http, upstream) = (shared.clone(), http.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        forward(plan.clone(), http.clone(), upstream.clone(), request)
                    });
                    // A dropped connection ends here with an error: that is the point.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy { address, plan })
    }

    /// The proxy's root, to use in place of the upstream's.
    pub fn url(&self) -> Url {
        let mut url = Url::parse("http://127.0.0.1/").expect("a valid URL");
        let _ = url.set_port(Some(self.address.port()));
        url
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every request from now on fails with `fault`.
    pub fn fail(&self, fault: Fault) {
        self.fail_after(0, fault);
    }

    /// The next `passes` requests go through, the ones after fail with `fault`.
    pub fn fail_after(&self, passes: usize, fault: Fault) {
        let mut plan = self.plan();
        plan.passes_left = Some(passes);
        plan.fault = Some(fault);
    }

    /// Everything goes through again.
    pub fn heal(&self) {
        let mut plan = self.plan();
        plan.passes_left = None;
        plan.fault = None;
    }

    /// Replaces `from` with `to` in every answer's body from now on.
    pub fn rewrite(&self, from: &str, to: &str) {
        self.plan().rewrites.push((from.to_owned(), to.to_owned()));
    }

    /// Requests passed through and failed so far.
    pub fn counts(&self) -> (usize, usize) {
        let plan = self.plan();
        (plan.passed, plan.failed)
    }
}

/// What to do with the next request: pass it (with the rewrites), or fail it.
fn decide(plan: &Mutex<Plan>) -> Result<Vec<(String, String)>, Fault> {
    let mut plan = plan.lock().unwrap_or_else(|p| p.into_inner());
    let fault = match (plan.passes_left, plan.fault.clone()) {
        (Some(0), Some(fault)) => Some(fault),
        (Some(left), Some(_)) => {
            plan.passes_left = Some(left - 1);
            None
        }
        _ => None,
    };
    match fault {
        Some(fault) => {
            plan.failed += 1;
            Err(fault)
        }
        None => {
            plan.passed += 1;
            Ok(plan.rewrites.clone())
        }
    }
}

async fn forward(
    plan: Arc<Mutex<Plan>>,
    http: reqwest::Client,
    upstream: Url,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let rewrites = match decide(&plan) {
        Ok(rewrites) => rewrites,
        Err(Fault::Drop) => return Err(std::io::Error::other("dropped by the fault proxy")),
        Err(Fault::Status {
            status,
            retry_after,
        }) => {
            let mut answer = Response::new(Full::new(Bytes::from_static(b"failing on purpose")));
            *answer.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            if let Some(seconds) = retry_after {
                answer
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(seconds));
            }
            return Ok(answer);
        }
    };
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = upstream.join(path).map_err(std::io::Error::other)?;
    let mut outgoing = http.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != http::header::HOST {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.send().await.map_err(std::io::Error::other)?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.map_err(std::io::Error::other)?;
    let body = if rewrites.is_empty() {
        bytes
    } else {
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        for (from, to) in &rewrites {
            text = text.replace(from, to);
        }
        Bytes::from(text)
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    for (name, value) in &headers {
        // The body's length may have changed; hyper frames it again.
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            response.headers_mut().append(name, value.clone());
        }
    }
    Ok(response)
}
