//! Extractors: who is calling (from the authorizer's claims) and the JSON body, each failing
//! with an `ApiError` so every rejection is a problem+json.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::header::CONTENT_TYPE;
use http::request::Parts;
use lambda_http::request::RequestContext;
use marketplace::auth::{Caller, Group};
use marketplace::validation::ValidationErrors;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Any signed-in user. API Gateway's JWT authorizer (the dev server locally) verified the
/// token and put its claims in the request context; without them the route answers 401.
pub struct SignedIn(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<RequestContext>()
            .and_then(RequestContext::authorizer)
            .and_then(|authorizer| authorizer.jwt.as_ref())
            .and_then(|jwt| Caller::from_claims(&jwt.claims))
            .map(SignedIn)
            .ok_or(ApiError::Unauthenticated)
    }
}

/// Declares an extractor for a signed-in member of one group; others get 403 before their
/// body is read.
macro_rules! group_member {
    ($(#[$doc:meta])* $name:ident, $group:expr) => {
        $(#[$doc])*
        pub struct $name(pub Caller);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                let SignedIn(caller) = SignedIn::from_request_parts(parts, state).await?;
                caller.require($group)?;
                Ok($name(caller))
            }
        }
    };
}

group_member!(
    /// A signed-in member of the `experts` group.
    Expert,
    Group::Experts
);
group_member!(
    /// A signed-in member of the `clients` group.
    Client,
    Group::Clients
);

/// One path parameter (`{id}`, `{provider}`). A segment that does not decode (not UTF-8)
/// names nothing: 404 problem+json, like an id that does not exist.
pub struct PathSegment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathSegment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(segment)| PathSegment(segment))
            .map_err(|_| ApiError::RouteNotFound)
    }
}

/// A raw body, at most [`crate::MAX_BODY_BYTES`]; larger is 413 problem+json.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedJson(rejection.body_text())
                }
            })
    }
}

/// Query parameters of type `T`; an unknown or repeated parameter is a validation error.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| ApiError::from(ValidationErrors::single("", e.to_string())))
    }
}

/// A JSON body of type `T`. Type errors and unknown fields come back as validation errors
/// at the member's JSON pointer; broken JSON as `malformed-json`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Syntax first (a broken document is `malformed-json` even where its start has the wrong
/// types), then the typed parse, whose errors point at the member.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        ApiError::from(ValidationErrors::single(
            json_pointer(error.path()),
            without_position(error.inner()),
        ))
    })
}

/// serde_path_to_error's path as an RFC 6901 pointer (`/rules/0/day`).
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .fold(String::new(), |pointer, part| pointer + "/" + &part)
}

/// serde_json appends "at line 1 column 20"; the pointer says where already.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketplace::experts::ProfileInput;

    fn problem(body: &str) -> ApiError {
        parse_json::<ProfileInput>(body.as_bytes()).expect_err("body should be refused")
    }

    #[test]
    fn type_errors_point_at_the_member() {
        let body = r#"{"display_name":"A","hourly_rate":{"amount":"ten","currency":"usd"},"time_zone":"UTC"}"#;
        match problem(body) {
            ApiError::Service(marketplace::error::ServiceError::Invalid(errors)) => {
                assert_eq!(errors.errors()[0].pointer, "/hourly_rate/amount");
                assert!(!errors.errors()[0].detail.contains("line"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn broken_json_and_trailing_garbage_are_malformed() {
        assert!(matches!(
            problem(r#"{"display_name": "#),
            ApiError::MalformedJson(_)
        ));
        let trailing = r#"{"display_name":"A","hourly_rate":{"amount":5000,"currency":"usd"},"time_zone":"UTC"} x"#;
        assert!(matches!(problem(trailing), ApiError::MalformedJson(_)));
    }
}
