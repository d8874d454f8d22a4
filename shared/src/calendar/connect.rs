//! Connecting Google and Microsoft calendars through OAuth, and what their push notifications
//! ask of us.
//!
//! The flow: `authorize` stores a random `state` (single-use, bound to the expert, 10 minutes,
//! with the PKCE verifier) and answers the provider's consent URL; the provider sends the
//! browser to our callback with a code and the state; the callback takes the state out of the
//! table (a replay finds nothing), checks it, exchanges the code with the verifier, seals the
//! refresh token, lists the calendars, stores the connection and sends the browser to the
//! frontend with `status=connected` or `status=error&error=<code>`. Nothing is stored unless
//! every step worked.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::connection::{CalendarConnection, Provider};
use super::graph::TEAMS;
use super::oauth::OAuthError;
use super::push::PushError;
use super::secrets::{SealedSecret, random_secret};
use super::service::{CalendarService, Discovered, SyncJob, secret_failed};
use crate::auth::Caller;
use crate::error::ServiceError;
use crate::store::dynamo::OAuthState;
use crate::validation::ValidationErrors;

/// A connect flow must come back within this.
pub const STATE_MINUTES: i64 = 10;

#[derive(Clone, Debug, Serialize)]
pub struct Authorization {
    pub authorization_url: String,
    pub expires_at: DateTime<Utc>,
}

/// What the provider puts on our callback URL. Not `deny_unknown_fields`: the providers add
/// parameters of their own (`scope`, `authuser`, `session_state`, ...).
#[derive(Clone, Default, Deserialize)]
pub struct CallbackInput {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

impl std::fmt::Debug for CallbackInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackInput")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Why a connect flow ended without a connection: the code the frontend is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackError {
    /// The expert said no at the provider (`access_denied`), or the provider refused.
    Denied,
    /// No such state: never issued, or already used (a replay).
    UnknownState,
    ExpiredState,
    /// The state was issued for another provider.
    WrongProvider,
    /// The code could not be exchanged (wrong verifier, used or expired code).
    ExchangeFailed,
    /// The grant came without a refresh token (no offline access).
    NoRefreshToken,
    NoCalendars,
    /// The provider or our storage failed: try again.
    Unavailable,
}

impl CallbackError {
    pub fn code(self) -> &'static str {
        match self {
            CallbackError::Denied => "access_denied",
            CallbackError::UnknownState => "invalid_state",
            CallbackError::ExpiredState => "expired_state",
            CallbackError::WrongProvider => "wrong_provider",
            CallbackError::ExchangeFailed => "exchange_failed",
            CallbackError::NoRefreshToken => "no_refresh_token",
            CallbackError::NoCalendars => "no_calendars",
            CallbackError::Unavailable => "temporarily_unavailable",
        }
    }
}

/// A Google push notification: its headers (the body is empty and never trusted).
#[derive(Clone, Debug, Default)]
pub struct GoogleNotice {
    pub channel_id: Option<String>,
    pub token: Option<String>,
    pub resource_state: Option<String>,
}

/// A Graph notification batch.
#[derive(Debug, Deserialize)]
struct GraphBatch {
    value: Vec<GraphNotice>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphNotice {
    subscription_id: String,
    client_state: Option<String>,
    lifecycle_event: Option<String>,
}

/// What a notification did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PushReceipt {
    pub queued: usize,
}

fn oauth_provider(name: &str) -> Result<Provider, ServiceError> {
    Provider::oauth(name).ok_or(ServiceError::NotFound("calendar provider"))
}

impl CalendarService {
    /// Starts connecting a Google or Microsoft account: the consent URL to send the expert to.
    pub async fn authorize(
        &self,
        caller: &Caller,
        provider: &str,
    ) -> Result<Authorization, ServiceError> {
        let provider = oauth_provider(provider)?;
        let expert = self.expert_of(caller).await?;
        let app = self
            .remotes
            .tokens
            .apps()
            .of(provider)
            .map_err(|_| ServiceError::Unavailable("connections of this provider"))?;
        let state = random_secret().map_err(secret_failed)?;
        let (url, verifier) = app.authorize_url(&state);
        let expires_at = self.clock.now() + Duration::minutes(STATE_MINUTES);
        self.store
            .put_oauth_state(
                &state,
                &OAuthState {
                    expert_id: expert,
                    provider,
                    verifier,
                    email: caller.email.clone(),
                    expires_at,
                },
            )
            .await?;
        Ok(Authorization {
            authorization_url: url.to_string(),
            expires_at,
        })
    }

    /// The provider's redirect back: answers where to send the browser (the frontend, with the
    /// outcome). Never fails: every failure is an error code for the frontend.
    pub async fn callback(&self, provider: &str, input: CallbackInput) -> String {
        let outcome = match Provider::oauth(provider) {
            Some(provider) => self.finish_connect(provider, input).await,
            None => Err(CallbackError::WrongProvider),
        };
        let base = self.frontend_url.trim_end_matches('/');
        match outcome {
            Ok(connection) => format!(
                "{base}/calendars/connected?status=connected&provider={}&connection={}",
                connection.provider.name(),
                connection.id
            ),
            Err(error) => {
                tracing::info!(
                    provider,
                    error = error.code(),
                    "calendar connect flow refused"
                );
                format!(
                    "{base}/calendars/connected?status=error&provider={}&error={}",
                    Provider::oauth(provider).map_or("unknown", Provider::name),
                    error.code()
                )
            }
        }
    }

    async fn finish_connect(
        &self,
        provider: Provider,
        input: CallbackInput,
    ) -> Result<CalendarConnection, CallbackError> {
        let unavailable = |error: &dyn std::fmt::Display| {
            tracing::warn!(error = %error, "calendar connect flow failed");
            CallbackError::Unavailable
        };
        // The state is used up whatever happens next: one try per authorization.
        let state = match input.state.as_deref() {
            Some(state) if !state.is_empty() && state.len() <= 128 => self
                .store
                .take_oauth_state(state)
                .await
                .map_err(|e| unavailable(&e))?
                .ok_or(CallbackError::UnknownState)?,
            _ => return Err(CallbackError::UnknownState),
        };
        if state.expires_at <= self.clock.now() {
            return Err(CallbackError::ExpiredState);
        }
        if state.provider != provider {
            return Err(CallbackError::WrongProvider);
        }
        if input.error.is_some() {
            return Err(CallbackError::Denied);
        }
        let code = input
            .code
            .filter(|c| !c.is_empty())
            .ok_or(CallbackError::Denied)?;
        let app = self
            .remotes
            .tokens
            .apps()
            .of(provider)
            .map_err(|e| unavailable(&e))?;
        let tokens = match app.exchange(&code, &state.verifier).await {
            Ok(tokens) => tokens,
            Err(OAuthError::InvalidGrant | OAuthError::Refused(_)) => {
                return Err(CallbackError::ExchangeFailed);
            }
            Err(other) => return Err(unavailable(&other)),
        };
        let refresh_token = tokens.refresh_token.ok_or(CallbackError::NoRefreshToken)?;
        let (account, discovered) = self
            .discover(provider, &tokens.access_token)
            .await
            .map_err(|e| unavailable(&e))?;
        if discovered.is_empty() {
            return Err(CallbackError::NoCalendars);
        }
        // The callback carries no JWT: the state names the expert, as they were then.
        self.store_connection(
            (state.expert_id, state.email.as_deref()),
            (provider, account, None),
            &discovered,
            &refresh_token,
        )
        .await
        .map_err(|e| match e {
            ServiceError::Connect(_) => CallbackError::NoCalendars,
            other => unavailable(&other),
        })
    }

    /// The account's name and its event calendars.
    async fn discover(
        &self,
        provider: Provider,
        token: &str,
    ) -> Result<(String, Vec<Discovered>), ServiceError> {
        let failed = |e: super::rest::ProviderError| ServiceError::Queue(e.to_string());
        match provider {
            Provider::Google => {
                let client = self
                    .remotes
                    .google
                    .as_ref()
                    .ok_or(ServiceError::Unavailable("Google calendars"))?;
                let entries = client.calendars(token).await.map_err(failed)?;
                let account = entries
                    .iter()
                    .find(|c| c.primary)
                    .map(|c| c.id.clone())
                    .unwrap_or_default();
                let discovered = entries
                    .iter()
                    // Free/busy-only calendars show no events to read.
                    .filter(|c| c.access_role != "freeBusyReader")
                    .map(|c| Discovered {
                        remote_id: c.id.clone(),
                        name: c.summary.clone(),
                        writable: c.writable(),
                        primary: c.primary,
                        conferencing: c.meet_allowed(),
                    })
                    .collect();
                Ok((account, discovered))
            }
            Provider::Microsoft => {
                let client = self
                    .remotes
                    .graph
                    .as_ref()
                    .ok_or(ServiceError::Unavailable("Microsoft calendars"))?;
                let calendars = client.calendars(token).await.map_err(failed)?;
                let account = calendars
                    .iter()
                    .find(|c| c.is_default_calendar)
                    .and_then(|c| c.owner.as_ref())
                    .map(|o| o.address.clone())
                    .unwrap_or_default();
                let discovered = calendars
                    .iter()
                    .map(|c| Discovered {
                        remote_id: c.id.clone(),
                        name: c.name.clone(),
                        writable: c.can_edit,
                        primary: c.is_default_calendar,
                        conferencing: c
                            .allowed_online_meeting_providers
                            .iter()
                            .any(|p| p == TEAMS),
                    })
                    .collect();
                Ok((account, discovered))
            }
            Provider::Caldav => Err(ServiceError::NotFound("calendar provider")),
        }
    }

    /// Before a Google or Microsoft connection goes: its push channels are stopped and the
    /// grant revoked where the provider offers revocation (Google; Microsoft has no revocation
    /// of one refresh token, which then simply dies unused). Best effort: the connection goes
    /// either way.
    pub(super) async fn release_grant(
        &self,
        connection: &CalendarConnection,
        sealed: &SealedSecret,
    ) {
        let now = self.clock.now();
        match self.remotes.session(connection, sealed, now).await {
            Ok(session) => {
                self.push
                    .stop_all(&self.remotes, &session, connection)
                    .await
            }
            Err(error) => {
                tracing::warn!(connection_id = %connection.id, error = ?error, "push channels left to expire");
            }
        }
        if let (Ok(app), Ok(refresh)) = (
            self.remotes.tokens.apps().of(connection.provider),
            self.remotes
                .sealer
                .open(sealed, &connection.id.to_string())
                .await,
        ) && let Err(error) = app.revoke(&refresh).await
        {
            tracing::warn!(connection_id = %connection.id, error = %error, "grant not revoked");
        }
        self.remotes.tokens.forget(connection.id);
    }

    /// A Google push notification: a known channel with its token queues one sync of its
    /// connection; an unknown channel (a disconnected calendar) is ignored; a wrong token is
    /// refused. The first message of a channel (`sync`) queues nothing.
    pub async fn google_notification(
        &self,
        notice: GoogleNotice,
    ) -> Result<PushReceipt, ServiceError> {
        let Some(channel) = notice.channel_id.filter(|c| !c.is_empty() && c.len() <= 64) else {
            return Err(ValidationErrors::single("", "X-Goog-Channel-ID is missing").into());
        };
        let job = self
            .push
            .job_for(
                Provider::Google,
                &channel,
                notice.token.as_deref(),
                self.clock.now(),
            )
            .await
            .map_err(push_failed)?;
        match job {
            Some(job) if notice.resource_state.as_deref() != Some("sync") => {
                self.queue.enqueue(&job).await?;
                Ok(PushReceipt { queued: 1 })
            }
            _ => Ok(PushReceipt { queued: 0 }),
        }
    }

    /// A Graph notification batch: every entry's clientState is checked first (one that does
    /// not match refuses the batch, nothing queued); then one job per connection is queued.
    /// Lifecycle notifications ask for a renewal (`reauthorizationRequired`,
    /// `subscriptionRemoved`) or say changes were missed (`missed`: a plain sync).
    pub async fn microsoft_notification(&self, body: &[u8]) -> Result<PushReceipt, ServiceError> {
        let batch: GraphBatch = serde_json::from_slice(body).map_err(|e| {
            ServiceError::Invalid(ValidationErrors::single(
                "",
                format!("not a Graph notification: {e}"),
            ))
        })?;
        let now = self.clock.now();
        let mut jobs: Vec<SyncJob> = Vec::new();
        for notice in &batch.value {
            let Some(mut job) = self
                .push
                .job_for(
                    Provider::Microsoft,
                    &notice.subscription_id,
                    notice.client_state.as_deref(),
                    now,
                )
                .await
                .map_err(push_failed)?
            else {
                continue;
            };
            job.renew_push = matches!(
                notice.lifecycle_event.as_deref(),
                Some("reauthorizationRequired" | "subscriptionRemoved")
            );
            match jobs
                .iter_mut()
                .find(|j| j.connection_id == job.connection_id)
            {
                Some(queued) => queued.renew_push |= job.renew_push,
                None => jobs.push(job),
            }
        }
        self.queue.enqueue_all(&jobs).await?;
        Ok(PushReceipt { queued: jobs.len() })
    }
}

fn push_failed(error: PushError) -> ServiceError {
    match error {
        PushError::Forged => {
            ServiceError::Forbidden("the notification's token does not match its channel".into())
        }
        PushError::Store(store) => store.into(),
        other => ServiceError::Queue(other.to_string()),
    }
}
