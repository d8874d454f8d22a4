//! The dev server's stand-in for API Gateway (HTTP API, payload format 2.0): routes from
//! `template.yaml`, the JWT authorizer (HS256 dev tokens), the v2 event, and the Lambda
//! invocation of the function that owns the route. Handlers cannot tell it from AWS.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::dev_jwt;
use crate::lambda;
use crate::template::ApiRoute;

/// API Gateway's own payload limit.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

pub struct Gateway {
    routes: Vec<ApiRoute>,
    functions: HashMap<String, Router>,
    jwt_secret: String,
}

impl Gateway {
    /// `functions` maps the template's logical function names to their handlers.
    pub fn new(
        routes: Vec<ApiRoute>,
        functions: HashMap<String, Router>,
        jwt_secret: String,
    ) -> Self {
        Gateway {
            routes,
            functions,
            jwt_secret,
        }
    }

    pub fn into_router(self) -> Router {
        Router::new().fallback(forward).with_state(Arc::new(self))
    }

    /// The most specific route for the request (literal segments beat `{params}`), with the
    /// path parameters it binds.
    fn route(&self, method: &str, path: &str) -> Option<(&ApiRoute, Map<String, Value>)> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.routes
            .iter()
            .filter(|r| r.method == method || r.method == "ANY")
            .filter_map(|route| {
                let pattern: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
                if pattern.len() != segments.len() {
                    return None;
                }
                let mut parameters = Map::new();
                let mut literals = 0;
                for (want, got) in pattern.iter().zip(&segments) {
                    match want.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                        Some(name) if !got.is_empty() => {
                            parameters.insert(name.to_owned(), Value::String((*got).to_owned()));
                        }
                        Some(_) => return None,
                        None if want == got => literals += 1,
                        None => return None,
                    }
                }
                Some((literals, route, parameters))
            })
            .max_by_key(|(literals, _, _)| *literals)
            .map(|(_, route, parameters)| (route, parameters))
    }
}

/// API Gateway's own answers carry `{"message": ...}`, not problem+json.
fn gateway_answer(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

async fn forward(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await else {
        return gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let method = parts.method.as_str();
    let Some((route, path_parameters)) = gateway.route(method, parts.uri.path()) else {
        return gateway_answer(StatusCode::NOT_FOUND, "Not Found");
    };
    let claims = if route.authorized {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim());
        match token.map(|t| dev_jwt::verify(&gateway.jwt_secret, t)) {
            Some(Ok(claims)) => Some(claims),
            _ => return gateway_answer(StatusCode::UNAUTHORIZED, "Unauthorized"),
        }
    } else {
        None
    };
    let Some(handler) = gateway.functions.get(&route.function) else {
        tracing::error!(
            function = route.function,
            "no handler for the template's function"
        );
        return gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let request_id = ulid::Ulid::new().to_string();
    let event = v2_event(&parts, &body, route, path_parameters, claims, &request_id);
    match lambda::invoke(handler.clone(), &event, &request_id).await {
        Ok(response) => http_response(response),
        Err(error) => {
            tracing::error!(error = %error, "invocation failed");
            gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// The payload format 2.0 event API Gateway would send for this request.
fn v2_event(
    parts: &http::request::Parts,
    body: &Bytes,
    route: &ApiRoute,
    path_parameters: Map<String, Value>,
    claims: Option<Map<String, Value>>,
    request_id: &str,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == header::COOKIE {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            // Repeated headers are joined with commas in format 2.0.
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let raw_query = parts.uri.query().unwrap_or("");
    let mut query = Map::new();
    for (key, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        match query.get_mut(key.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                query.insert(key.into_owned(), Value::String(value.into_owned()));
            }
        }
    }
    let route_key = format!("{} {}", route.method, route.path);
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (BASE64.encode(body), true),
    };
    let now = Utc::now();
    let authorizer =
        claims.map(|claims| json!({ "jwt": { "claims": flatten_claims(claims), "scopes": null } }));
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": parts.headers.get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": is_base64,
    });
    let object = event
        .as_object_mut()
        .expect("the event literal is an object");
    if !body.is_empty() {
        object.insert("body".into(), Value::String(body));
    }
    if !cookies.is_empty() {
        object.insert("cookies".into(), Value::Array(cookies));
    }
    if !query.is_empty() {
        object.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !path_parameters.is_empty() {
        object.insert("pathParameters".into(), Value::Object(path_parameters));
    }
    if let Some(authorizer) = authorizer {
        object["requestContext"]["authorizer"] = authorizer;
    }
    event
}

/// HTTP APIs hand claims to the function as strings: arrays become `[a b]`, numbers and
/// booleans their text, objects their JSON.
fn flatten_claims(claims: Map<String, Value>) -> Map<String, Value> {
    claims
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s,
                Value::Array(items) => {
                    let items: Vec<String> = items
                        .into_iter()
                        .map(|item| match item {
                            Value::String(s) => s,
                            other => other.to_string(),
                        })
                        .collect();
                    format!("[{}]", items.join(" "))
                }
                other => other.to_string(),
            };
            (name, Value::String(text))
        })
        .collect()
}

fn http_response(
    response: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse,
) -> Response {
    use lambda_http::aws_lambda_events::encodings::Body as LambdaBody;
    let bytes = match response.body {
        Some(LambdaBody::Text(text)) if response.is_base64_encoded => {
            BASE64.decode(text).unwrap_or_default()
        }
        Some(LambdaBody::Text(text)) => text.into_bytes(),
        Some(LambdaBody::Binary(bytes)) => bytes,
        _ => Vec::new(),
    };
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = u16::try_from(response.status_code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = out.headers_mut();
    for (name, value) in response
        .headers
        .iter()
        .chain(response.multi_value_headers.iter())
    {
        headers.append(name.clone(), value.clone());
    }
    for cookie in response.cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(HeaderName::from_static("set-cookie"), value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> ApiRoute {
        ApiRoute {
            method: method.into(),
            path: path.into(),
            authorized: true,
            function: "F".into(),
        }
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let gateway = Gateway::new(
            vec![
                route("GET", "/v1/experts/{id}"),
                route("GET", "/v1/experts/me"),
            ],
            HashMap::new(),
            String::new(),
        );
        let (matched, params) = gateway.route("GET", "/v1/experts/me").unwrap();
        assert_eq!(matched.path, "/v1/experts/me");
        assert!(params.is_empty());
        let (matched, params) = gateway.route("GET", "/v1/experts/exp_1").unwrap();
        assert_eq!(matched.path, "/v1/experts/{id}");
        assert_eq!(params["id"], "exp_1");
        assert!(gateway.route("PUT", "/v1/experts/exp_1").is_none());
        assert!(gateway.route("GET", "/v1/experts/").is_none());
        assert!(gateway.route("GET", "/v1/experts/a/b").is_none());
    }

    #[test]
    fn claims_are_flattened_to_strings_as_http_apis_do() {
        let claims =
            json!({"sub": "a", "cognito:groups": ["experts", "clients"], "exp": 5, "ok": true});
        let flat = flatten_claims(claims.as_object().unwrap().clone());
        assert_eq!(flat["cognito:groups"], "[experts clients]");
        assert_eq!(flat["exp"], "5");
        assert_eq!(flat["ok"], "true");
    }
}
