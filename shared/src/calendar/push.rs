//! Push notifications, so a change in an expert's Google or Outlook calendar is read within
//! seconds. Push is an accelerator, not the source of truth: a notification only queues a
//! sync job of its connection, and the scheduled sync still runs.
//!
//! * Google: one `events.watch` channel per busy-source calendar, with a random token; the
//!   notification carries the channel id and the token in headers and no body.
//! * Microsoft: one Graph subscription per connection on `me/events`, with a random
//!   `clientState`; Graph validates our endpoint first (`validationToken`), then posts JSON,
//!   and lifecycle notifications ask for a renewal or say one was missed.
//!
//! Each channel has a lookup item (`PUSH#<id>`, with a digest of its secret, never the secret)
//! that the webhook checks in constant time. Channels are renewed by the sync itself once they
//! are within a day of expiring: the schedule that keeps every connection's sync due (every 5
//! minutes) is what renews them, so a renewal cannot be left unregistered. A renewed channel is
//! stored before the old one is stopped.

use aws_lc_rs::{constant_time, digest};
use chrono::{DateTime, Duration, Utc};

use super::connection::{CalendarConnection, Provider, PushChannel};
use super::remote::{Remotes, Session};
use super::rest::ProviderError;
use super::secrets::{SecretError, random_secret};
use super::service::SyncJob;
use crate::ids::{ConnectionId, ExpertId};
use crate::store::StoreError;
use crate::store::dynamo::{DynamoStore, PushLookup};

/// Google's channels are asked to live this long (its default and usual maximum).
pub const GOOGLE_CHANNEL_DAYS: i64 = 7;
/// Graph's longest subscription on events has been documented as 4,230 minutes and as 10,080
/// (7 days); asking for less than both stays valid whichever applies.
pub const MICROSOFT_SUBSCRIPTION_MINUTES: i64 = 4_200;
/// A channel this close to its end is renewed by the next sync.
pub const RENEW_WITHIN_HOURS: i64 = 24;

/// Where the providers post to us.
#[derive(Clone, Debug)]
pub struct PushAddresses {
    pub google: String,
    pub microsoft: String,
}

impl PushAddresses {
    /// Our webhook routes under the API's public URL.
    pub fn under(public_api_url: &str) -> Self {
        let base = public_api_url.trim_end_matches('/');
        PushAddresses {
            google: format!("{base}/v1/webhooks/google"),
            microsoft: format!("{base}/v1/webhooks/microsoft"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the notification's secret does not match its channel")]
    Forged,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the provider failed: {0}")]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

#[derive(Clone)]
pub struct PushChannels {
    store: DynamoStore,
    /// `None`: push is off (no public URL, e.g. the local stack without a tunnel).
    addresses: Option<PushAddresses>,
}

fn secret_digest(secret: &str) -> String {
    digest::digest(&digest::SHA256, secret.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The push work a connection needs now: channels missing or within a day of their end, or
/// left on calendars that no longer block time (pure).
pub fn due(connection: &CalendarConnection, now: DateTime<Utc>) -> bool {
    let fresh = |c: &PushChannel| c.expires_at > now + Duration::hours(RENEW_WITHIN_HOURS);
    match connection.provider {
        Provider::Caldav => false,
        Provider::Google => {
            let busy: Vec<&str> = connection
                .calendars
                .iter()
                .filter(|c| c.busy_source)
                .map(|c| c.id.as_str())
                .collect();
            busy.iter().any(|id| {
                !connection
                    .push
                    .iter()
                    .any(|c| c.calendar_id.as_deref() == Some(id) && fresh(c))
            }) || connection.push.iter().any(|c| {
                c.calendar_id
                    .as_deref()
                    .is_none_or(|id| !busy.contains(&id))
            })
        }
        Provider::Microsoft => {
            connection.calendars.iter().any(|c| c.busy_source) && !connection.push.iter().any(fresh)
        }
    }
}

impl PushChannels {
    pub fn new(store: DynamoStore, addresses: Option<PushAddresses>) -> Self {
        PushChannels { store, addresses }
    }

    /// Opens, renews and closes channels so that the connection has what it needs (see
    /// [`due`]); `force` renews even what is not due (Graph asked for it).
    pub(super) async fn maintain(
        &self,
        remotes: &Remotes,
        session: &Session,
        connection: &CalendarConnection,
        now: DateTime<Utc>,
        force: bool,
    ) -> Result<(), PushError> {
        let Some(addresses) = &self.addresses else {
            return Ok(());
        };
        if !force && !due(connection, now) {
            return Ok(());
        }
        let owner = (connection.expert_id, connection.id);
        let fresh =
            |c: &PushChannel| !force && c.expires_at > now + Duration::hours(RENEW_WITHIN_HOURS);
        let mut kept: Vec<PushChannel> = Vec::new();
        let mut made: Vec<PushChannel> = Vec::new();
        match session {
            Session::Google(token) => {
                let client = remotes
                    .google
                    .as_ref()
                    .ok_or(ProviderError::Protocol("Google is not configured".into()))?;
                for calendar in connection.calendars.iter().filter(|c| c.busy_source) {
                    if let Some(live) = connection
                        .push
                        .iter()
                        .find(|c| c.calendar_id.as_ref() == Some(&calendar.id) && fresh(c))
                    {
                        kept.push(live.clone());
                        continue;
                    }
                    let id = format!("ch{}", ulid::Ulid::new()).to_lowercase();
                    let secret = random_secret()?;
                    let channel = client
                        .watch(
                            token,
                            &calendar.remote_id,
                            (&id, &secret),
                            &addresses.google,
                            Duration::days(GOOGLE_CHANNEL_DAYS),
                        )
                        .await?;
                    let expires_at = channel
                        .expiration
                        .as_deref()
                        .and_then(|ms| ms.parse::<i64>().ok())
                        .and_then(DateTime::from_timestamp_millis)
                        .unwrap_or(now + Duration::days(GOOGLE_CHANNEL_DAYS));
                    let channel = PushChannel {
                        id,
                        calendar_id: Some(calendar.id.clone()),
                        resource_id: Some(channel.resource_id),
                        expires_at,
                    };
                    self.store
                        .put_push_lookup(&PushLookup {
                            channel_id: channel.id.clone(),
                            provider: Provider::Google,
                            expert_id: owner.0,
                            connection_id: owner.1,
                            secret_digest: secret_digest(&secret),
                            expires_at,
                        })
                        .await?;
                    made.push(channel);
                }
            }
            Session::Microsoft(token) => {
                let client = remotes.graph.as_ref().ok_or(ProviderError::Protocol(
                    "Microsoft is not configured".into(),
                ))?;
                let expires_at = now + Duration::minutes(MICROSOFT_SUBSCRIPTION_MINUTES);
                match connection.push.first() {
                    Some(live) if fresh(live) => kept.push(live.clone()),
                    Some(live) => match client.renew(token, &live.id, expires_at).await {
                        // Renewed in place: same id, same secret, a later end.
                        Ok(_) => {
                            self.store.extend_push_lookup(&live.id, expires_at).await?;
                            kept.push(PushChannel {
                                expires_at,
                                ..live.clone()
                            });
                        }
                        Err(ProviderError::NotFound) => {
                            made.push(
                                self.subscribe(client, token, owner, addresses, expires_at)
                                    .await?,
                            );
                        }
                        Err(other) => return Err(other.into()),
                    },
                    None => made.push(
                        self.subscribe(client, token, owner, addresses, expires_at)
                            .await?,
                    ),
                }
            }
            Session::CalDav(_) => return Ok(()),
        }
        let mut current = kept.clone();
        current.extend(made);
        // Stored before anything old is stopped: a notification on either is accepted.
        self.store.save_push(connection, &current).await?;
        for old in connection
            .push
            .iter()
            .filter(|old| !current.iter().any(|c| c.id == old.id))
        {
            self.stop(remotes, session, old).await;
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        client: &super::graph::Graph,
        token: &str,
        (expert_id, connection_id): (ExpertId, ConnectionId),
        addresses: &PushAddresses,
        expires_at: DateTime<Utc>,
    ) -> Result<PushChannel, PushError> {
        let secret = random_secret()?;
        let subscription = client
            .subscribe(token, &addresses.microsoft, &secret, expires_at)
            .await?;
        let expires_at = DateTime::parse_from_rfc3339(&subscription.expiration_date_time)
            .map(|t| t.to_utc())
            .unwrap_or(expires_at);
        self.store
            .put_push_lookup(&PushLookup {
                channel_id: subscription.id.clone(),
                provider: Provider::Microsoft,
                expert_id,
                connection_id,
                secret_digest: secret_digest(&secret),
                expires_at,
            })
            .await?;
        Ok(PushChannel {
            id: subscription.id,
            calendar_id: None,
            resource_id: None,
            expires_at,
        })
    }

    /// Stops one channel at the provider (best effort: an expired one is gone anyway) and
    /// forgets it.
    async fn stop(&self, remotes: &Remotes, session: &Session, channel: &PushChannel) {
        let stopped = match (session, &remotes.google, &remotes.graph) {
            (Session::Google(token), Some(client), _) => {
                client
                    .stop(
                        token,
                        &channel.id,
                        channel.resource_id.as_deref().unwrap_or_default(),
                    )
                    .await
            }
            (Session::Microsoft(token), _, Some(client)) => {
                client.unsubscribe(token, &channel.id).await
            }
            _ => Ok(()),
        };
        match stopped {
            Ok(()) | Err(ProviderError::NotFound) => {}
            Err(error) => {
                tracing::warn!(channel = %channel.id, error = %error, "push channel not stopped");
            }
        }
        if let Err(error) = self.store.delete_push_lookup(&channel.id).await {
            tracing::warn!(channel = %channel.id, error = %error, "push lookup not removed");
        }
    }

    /// Stops every channel of a connection (it is being disconnected).
    pub(super) async fn stop_all(
        &self,
        remotes: &Remotes,
        session: &Session,
        connection: &CalendarConnection,
    ) {
        for channel in &connection.push {
            self.stop(remotes, session, channel).await;
        }
    }

    /// The job a notification on `channel_id` asks for, once its secret matches: `None` for a
    /// channel we do not know (a disconnected calendar, an old channel), which is ignored.
    pub async fn job_for(
        &self,
        provider: Provider,
        channel_id: &str,
        secret: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<SyncJob>, PushError> {
        let Some(lookup) = self.store.push_lookup(channel_id).await? else {
            return Ok(None);
        };
        if lookup.provider != provider || lookup.expires_at < now - Duration::hours(1) {
            return Ok(None);
        }
        let presented = secret_digest(secret.unwrap_or_default());
        constant_time::verify_slices_are_equal(
            presented.as_bytes(),
            lookup.secret_digest.as_bytes(),
        )
        .map_err(|_| PushError::Forged)?;
        Ok(Some(SyncJob {
            expert_id: lookup.expert_id,
            connection_id: lookup.connection_id,
            renew_push: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::connection::{ConnectedCalendar, ConnectionPreferences, ConnectionStatus};

    fn connection(provider: Provider, push: Vec<PushChannel>, busy: &[bool]) -> CalendarConnection {
        let now = Utc::now();
        CalendarConnection {
            id: ConnectionId::new(),
            expert_id: ExpertId::new(),
            provider,
            account: "a@b.c".into(),
            own_addresses: Vec::new(),
            server_url: None,
            status: ConnectionStatus::Ok,
            last_synced_at: None,
            next_sync_at: now,
            last_error: None,
            degraded_since: None,
            calendars: busy
                .iter()
                .enumerate()
                .map(|(i, busy)| ConnectedCalendar {
                    id: format!("c{i}"),
                    name: format!("c{i}"),
                    remote_id: format!("r{i}"),
                    writable: true,
                    primary: i == 0,
                    conferencing: true,
                    busy_source: *busy,
                    booking_target: i == 0,
                    sync_token: None,
                    full_read_at: None,
                })
                .collect(),
            preferences: ConnectionPreferences::default(),
            push,
            created_at: now,
            version: 1,
            secret_version: 1,
        }
    }

    fn channel(calendar: Option<&str>, hours_left: i64) -> PushChannel {
        PushChannel {
            id: format!("ch{hours_left}"),
            calendar_id: calendar.map(str::to_owned),
            resource_id: None,
            expires_at: Utc::now() + Duration::hours(hours_left),
        }
    }

    #[test]
    fn push_work_is_due_when_a_channel_is_missing_ending_or_left_over() {
        let now = Utc::now();
        // Google: one channel per busy calendar, renewed within a day of its end.
        assert!(due(&connection(Provider::Google, vec![], &[true]), now));
        assert!(!due(
            &connection(Provider::Google, vec![channel(Some("c0"), 100)], &[true]),
            now
        ));
        assert!(due(
            &connection(Provider::Google, vec![channel(Some("c0"), 23)], &[true]),
            now
        ));
        assert!(due(
            &connection(
                Provider::Google,
                vec![channel(Some("c0"), 100)],
                &[true, true]
            ),
            now
        ));
        // A channel on a calendar that stopped blocking time is closed.
        assert!(due(
            &connection(
                Provider::Google,
                vec![channel(Some("c0"), 100), channel(Some("c1"), 100)],
                &[true, false]
            ),
            now
        ));
        // Microsoft: one subscription per connection.
        assert!(due(
            &connection(Provider::Microsoft, vec![], &[true, false]),
            now
        ));
        assert!(!due(
            &connection(Provider::Microsoft, vec![channel(None, 48)], &[true]),
            now
        ));
        assert!(due(
            &connection(Provider::Microsoft, vec![channel(None, 2)], &[true]),
            now
        ));
        assert!(!due(&connection(Provider::Caldav, vec![], &[true]), now));
    }

    #[test]
    fn secrets_are_random_and_only_their_digest_is_kept() {
        let (a, b) = (random_secret().unwrap(), random_secret().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes, base64url");
        assert!(a.len() <= 128, "Graph's clientState limit");
        assert_ne!(secret_digest(&a), a);
        assert_eq!(secret_digest(&a).len(), 64);
    }
}
