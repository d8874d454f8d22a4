//! OAuth 2.0 with Google and Microsoft (the `oauth2` crate): the authorization-code flow with
//! PKCE S256, refresh, revocation, and the access tokens a sync uses.
//!
//! Access tokens live only in memory, per cold start (they last an hour); refresh tokens only
//! sealed in the table. Microsoft rotates refresh tokens on every use, so a refresh stores the
//! new one under a condition on the version it read: two refreshes at once (two Lambda
//! instances) never overwrite a newer token with an older one, and the one that finds its
//! token used up reads the stored one again instead of giving up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;

use super::connection::{CalendarConnection, Provider};
use super::secrets::{SealedSecret, SecretSealer};
use crate::config::OAuthProviderSettings;
use crate::ids::ConnectionId;
use crate::store::dynamo::DynamoStore;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The narrowest scopes that read busy time and write events.
pub const GOOGLE_SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
];
pub const MICROSOFT_SCOPES: &[&str] = &["offline_access", "Calendars.ReadWrite"];

/// An access token is refreshed this long before it expires.
const EXPIRY_MARGIN_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// `invalid_grant`: the code or refresh token is revoked, expired or used up.
    #[error("the provider refused the grant (revoked or expired)")]
    InvalidGrant,
    /// Another refusal by the token endpoint (`invalid_client`, a bad request).
    #[error("the provider refused the request: {0}")]
    Refused(String),
    /// Network, timeouts, 5xx, an unreadable answer: worth another try.
    #[error("the provider could not be reached: {0}")]
    Transient(String),
    #[error("the provider is not configured here")]
    NotConfigured,
}

/// What a token endpoint answered.
pub struct Tokens {
    pub access_token: String,
    /// Google sends one only on some exchanges; Microsoft a new one on every refresh.
    pub refresh_token: Option<String>,
    pub expires_in: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Our OAuth client at one provider.
#[derive(Clone)]
pub struct OAuthApp {
    pub provider: Provider,
    client: Client,
    revoke_url: Option<String>,
    scopes: &'static [&'static str],
    http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error(transparent)]
    Http(#[from] oauth2::http::Error),
}

/// The `oauth2` crate's requests, sent with our reqwest client (redirects off). A named
/// client with a boxed `Send` future: the crate's blanket impl for closures yields futures
/// that are not `Send` for every lifetime, which axum handlers need.
struct OAuthHttp<'h>(&'h reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send(self.0.clone(), request))
    }
}

async fn send(
    http: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut answer = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = response.bytes().await?;
    Ok(answer.body(body.to_vec())?)
}

fn classify<E: std::error::Error>(
    error: RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
) -> OAuthError {
    match error {
        RequestTokenError::ServerResponse(response)
            if *response.error() == BasicErrorResponseType::InvalidGrant =>
        {
            OAuthError::InvalidGrant
        }
        RequestTokenError::ServerResponse(response) => {
            OAuthError::Refused(response.error().to_string())
        }
        RequestTokenError::Request(_) => OAuthError::Transient("the request failed".into()),
        RequestTokenError::Parse(_, _) => {
            OAuthError::Transient("the token endpoint answered something unreadable".into())
        }
        RequestTokenError::Other(why) => OAuthError::Transient(why),
    }
}

fn tokens(response: &oauth2::basic::BasicTokenResponse) -> Tokens {
    Tokens {
        access_token: response.access_token().secret().clone(),
        refresh_token: response.refresh_token().map(|r| r.secret().clone()),
        expires_in: response.expires_in().unwrap_or(Duration::from_secs(3600)),
    }
}

impl OAuthApp {
    /// `redirect_url`: our callback, as registered with the provider.
    pub fn new(
        provider: Provider,
        settings: &OAuthProviderSettings,
        redirect_url: String,
        http: reqwest::Client,
    ) -> Result<Self, String> {
        fn bad(what: &'static str) -> impl Fn(oauth2::url::ParseError) -> String {
            move |e| format!("{what}: {e}")
        }
        let client = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                settings.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::new(settings.auth_url.clone()).map_err(bad("auth URL"))?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone()).map_err(bad("token URL"))?)
            .set_redirect_uri(RedirectUrl::new(redirect_url).map_err(bad("redirect URL"))?)
            // Both providers document the client secret in the form body.
            .set_auth_type(oauth2::AuthType::RequestBody);
        let scopes = match provider {
            Provider::Google => GOOGLE_SCOPES,
            Provider::Microsoft => MICROSOFT_SCOPES,
            Provider::Caldav => return Err("CalDAV does not use OAuth".into()),
        };
        Ok(OAuthApp {
            provider,
            client,
            revoke_url: settings.revoke_url.clone(),
            scopes,
            http,
        })
    }

    /// Where to send the expert: the consent page, with `state` and a fresh PKCE S256
    /// challenge, asking for offline access (a refresh token). The verifier stays with us.
    pub fn authorize_url(&self, state: &str) -> (reqwest::Url, String) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let mut request = self
            .client
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(challenge)
            .add_scopes(self.scopes.iter().map(|s| Scope::new((*s).to_owned())));
        if self.provider == Provider::Google {
            // A refresh token comes only with offline access, and reliably only on consent.
            request = request
                .add_extra_param("access_type", "offline")
                .add_extra_param("prompt", "consent");
        }
        let (url, _) = request.url();
        (url, verifier.secret().clone())
    }

    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<Tokens, OAuthError> {
        let client = OAuthHttp(&self.http);
        self.client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&client)
            .await
            .map(|r| tokens(&r))
            .map_err(classify)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, OAuthError> {
        let client = OAuthHttp(&self.http);
        let token = RefreshToken::new(refresh_token.to_owned());
        let mut request = self.client.exchange_refresh_token(&token);
        if self.provider == Provider::Microsoft {
            // Microsoft's v2.0 endpoint lists `scope` among the refresh request's fields.
            request = request.add_scopes(self.scopes.iter().map(|s| Scope::new((*s).to_owned())));
        }
        request
            .request_async(&client)
            .await
            .map(|r| tokens(&r))
            .map_err(classify)
    }

    /// Revokes the grant where the provider offers it (Google: RFC 7009, `token` in the
    /// form); a no-op elsewhere. Sent directly: the crate refuses revocation endpoints that
    /// are not https, which our local test server is not.
    pub async fn revoke(&self, refresh_token: &str) -> Result<(), OAuthError> {
        let Some(url) = &self.revoke_url else {
            return Ok(());
        };
        let answer = self
            .http
            .post(url.as_str())
            .form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
            ])
            .send()
            .await
            .map_err(|e| OAuthError::Transient(e.to_string()))?;
        match answer.status().as_u16() {
            200..=299 => Ok(()),
            // Already revoked or expired: nothing left to revoke.
            400 => Ok(()),
            status => Err(OAuthError::Transient(format!(
                "revocation answered {status}"
            ))),
        }
    }
}

/// Our OAuth clients, per provider (absent where not configured).
#[derive(Clone, Default)]
pub struct OAuthApps {
    pub google: Option<OAuthApp>,
    pub microsoft: Option<OAuthApp>,
}

impl OAuthApps {
    pub fn of(&self, provider: Provider) -> Result<&OAuthApp, OAuthError> {
        match provider {
            Provider::Google => self.google.as_ref(),
            Provider::Microsoft => self.microsoft.as_ref(),
            Provider::Caldav => None,
        }
        .ok_or(OAuthError::NotConfigured)
    }
}

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The grant is dead (revoked, expired): only the expert can connect again.
    #[error("the provider refused the grant: connect the calendar again")]
    Revoked,
    #[error("{0}")]
    Transient(String),
}

/// An access token and when it stops being used.
type CachedToken = (String, DateTime<Utc>);

/// Access tokens for the sync, refreshed when needed, cached per cold start.
#[derive(Clone)]
pub struct AccessTokens {
    apps: OAuthApps,
    sealer: SecretSealer,
    store: DynamoStore,
    cache: Arc<Mutex<HashMap<ConnectionId, CachedToken>>>,
    /// One refresh at a time per connection in this instance.
    refreshing: Arc<Mutex<HashMap<ConnectionId, Arc<tokio::sync::Mutex<()>>>>>,
}

impl AccessTokens {
    pub fn new(apps: OAuthApps, sealer: SecretSealer, store: DynamoStore) -> Self {
        AccessTokens {
            apps,
            sealer,
            store,
            cache: Arc::default(),
            refreshing: Arc::default(),
        }
    }

    pub fn apps(&self) -> &OAuthApps {
        &self.apps
    }

    fn cached(&self, id: ConnectionId, now: DateTime<Utc>) -> Option<String> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .filter(|(_, expires)| *expires > now)
            .map(|(token, _)| token.clone())
    }

    /// Forgets the cached token (the provider refused it): the next call refreshes.
    pub fn forget(&self, id: ConnectionId) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// A live access token for the connection.
    pub async fn token(
        &self,
        connection: &CalendarConnection,
        sealed: &SealedSecret,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        if let Some(token) = self.cached(connection.id, now) {
            return Ok(token);
        }
        let gate = self
            .refreshing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(connection.id)
            .or_default()
            .clone();
        let _one_at_a_time = gate.lock().await;
        if let Some(token) = self.cached(connection.id, now) {
            return Ok(token);
        }
        let app = self
            .apps
            .of(connection.provider)
            .map_err(|e| TokenError::Transient(e.to_string()))?;
        let context = connection.id.to_string();
        let (mut sealed, mut version) = (sealed.clone(), connection.secret_version);
        // A refresh token used up by a refresh elsewhere shows as `invalid_grant` until that
        // refresh has stored its successor: read the stored one again a few times.
        for attempt in 0..4u64 {
            let refresh_token = self
                .sealer
                .open(&sealed, &context)
                .await
                .map_err(|e| TokenError::Transient(e.to_string()))?;
            match app.refresh(&refresh_token).await {
                Ok(tokens) => {
                    if let Some(next) = tokens.refresh_token.filter(|n| *n != refresh_token) {
                        let resealed = self
                            .sealer
                            .seal(&next, &context)
                            .await
                            .map_err(|e| TokenError::Transient(e.to_string()))?;
                        let stored = self
                            .store
                            .replace_secret(connection, version, resealed)
                            .await
                            .map_err(|e| TokenError::Transient(e.to_string()))?;
                        if !stored {
                            // Another refresh stored a newer token first; ours is dropped.
                            tracing::info!(connection_id = %connection.id, "a concurrent refresh stored its token first");
                        }
                    }
                    let lifetime = chrono::Duration::seconds(
                        i64::try_from(tokens.expires_in.as_secs()).unwrap_or(3600)
                            - EXPIRY_MARGIN_SECONDS,
                    );
                    self.cache
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(connection.id, (tokens.access_token.clone(), now + lifetime));
                    return Ok(tokens.access_token);
                }
                Err(OAuthError::InvalidGrant) => {
                    tokio::time::sleep(Duration::from_millis(150 * (attempt + 1))).await;
                    let Some((current, current_sealed)) = self
                        .store
                        .connection(connection.expert_id, connection.id)
                        .await
                        .map_err(|e| TokenError::Transient(e.to_string()))?
                    else {
                        return Err(TokenError::Revoked);
                    };
                    if current.secret_version == version {
                        if attempt >= 1 {
                            return Err(TokenError::Revoked);
                        }
                        continue;
                    }
                    (sealed, version) = (current_sealed, current.secret_version);
                }
                Err(other) => return Err(TokenError::Transient(other.to_string())),
            }
        }
        Err(TokenError::Revoked)
    }
}
