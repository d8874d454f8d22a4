//! Dev tokens: HS256 JWTs shaped like Cognito ID tokens (`sub`, `email`, `cognito:groups`),
//! signed with `DEV_JWT_SECRET`. Only the dev server accepts them; in AWS the HTTP API's
//! Cognito authorizer verifies real tokens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::{Map, Value};

/// The documented default, for a local stack that only listens on 127.0.0.1. Set
/// `DEV_JWT_SECRET` to use another.
pub const DEFAULT_SECRET: &str = "local-dev-secret-not-for-production";
pub const ISSUER: &str = "local-dev";
pub const AUDIENCE: &str = "local-dev-client";

/// The secret from `DEV_JWT_SECRET`, or the documented default.
pub fn secret_from_env() -> String {
    std::env::var("DEV_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SECRET.to_owned())
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(rename = "cognito:groups")]
    groups: &'a [String],
    iss: &'static str,
    aud: &'static str,
    token_use: &'static str,
    iat: u64,
    exp: u64,
}

pub fn mint(
    secret: &str,
    sub: &str,
    email: Option<&str>,
    groups: &[String],
    lifetime: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        sub,
        email,
        groups,
        iss: ISSUER,
        aud: AUDIENCE,
        token_use: "id",
        iat: now,
        exp: now + lifetime.as_secs(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// How far ahead of our clock a token's `nbf` or `iat` may be: issuers' clocks drift a little,
/// a token from the future is forged or broken.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// Checks signature, algorithm, expiry, issuer and audience, and that the token is not from
/// the future (`nbf`, `iat` at most [`CLOCK_SKEW_SECONDS`] ahead), as the HTTP API's JWT
/// authorizer does, and returns every claim.
pub fn verify(
    secret: &str,
    token: &str,
) -> Result<Map<String, Value>, jsonwebtoken::errors::Error> {
    use jsonwebtoken::errors::{Error, ErrorKind};
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )?;
    let latest = jsonwebtoken::get_current_timestamp() + CLOCK_SKEW_SECONDS;
    for claim in ["nbf", "iat"] {
        match data.claims.get(claim) {
            None => {}
            Some(value) if value.as_u64().is_some_and(|at| at <= latest) => {}
            Some(_) => return Err(Error::from(ErrorKind::ImmatureSignature)),
        }
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let groups = vec!["experts".to_owned()];
        let token = mint(
            "s3cret",
            "alice",
            Some("a@example.com"),
            &groups,
            Duration::from_secs(60),
        )
        .unwrap();
        let claims = verify("s3cret", &token).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["email"], "a@example.com");
        assert_eq!(claims["cognito:groups"], serde_json::json!(["experts"]));
    }

    #[test]
    fn a_token_from_the_future_is_refused_beyond_the_clock_skew() {
        let now = jsonwebtoken::get_current_timestamp();
        let token = |extra: serde_json::Value| {
            let mut claims = serde_json::json!({
                "sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 7_200,
            });
            claims
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"s3cret"),
            )
            .unwrap()
        };
        for (claim, offset, accepted) in [
            ("nbf", 3_600, false),
            ("iat", 3_600, false),
            ("nbf", CLOCK_SKEW_SECONDS + 5, false),
            ("iat", CLOCK_SKEW_SECONDS - 5, true),
            ("nbf", 0, true),
        ] {
            let verified = verify("s3cret", &token(serde_json::json!({ claim: now + offset })));
            assert_eq!(verified.is_ok(), accepted, "{claim} {offset} s ahead");
        }
        assert!(
            verify("s3cret", &token(serde_json::json!({"iat": "soon"}))).is_err(),
            "an iat that is not a time"
        );
    }

    #[test]
    fn wrong_secret_expired_and_garbage_tokens_are_refused() {
        let token = mint("s3cret", "alice", None, &[], Duration::from_secs(60)).unwrap();
        assert!(verify("other", &token).is_err());
        let expired = mint("s3cret", "alice", None, &[], Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(1_100));
        assert!(verify("s3cret", &expired).is_err());
        assert!(verify("s3cret", "not.a.jwt").is_err());
    }
}
