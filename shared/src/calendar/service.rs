//! Connecting, choosing and removing an expert's external calendars, and queueing their syncs:
//! CalDAV accounts with an app-specific password, Google and Microsoft accounts through OAuth
//! (see `connect`), and the push notifications that queue syncs.

use std::sync::Arc;

use aws_lc_rs::digest;
use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::caldav::{CalDav, CalDavAccount, CalDavError};
use super::connection::{
    CalendarConnection, ConnectInput, ConnectedCalendar, ConnectionPreferences, ConnectionStatus,
    Provider, SYNC_INTERVAL_MINUTES, UpdateInput,
};
use super::google::GoogleCalendar;
use super::graph::Graph;
use super::guard::{self, GuardError, HostLookup, OutboundPolicy, SystemLookup};
use super::oauth::{AccessTokens, OAuthApp, OAuthApps};
use super::push::{PushAddresses, PushChannels};
use super::remote::Remotes;
use super::rest::RestClient;
use super::secrets::{SecretError, SecretSealer};
use super::sync::{BookingPush, CalendarSync, SyncOutcome};
use crate::auth::{Caller, Group};
use crate::booking::BookingService;
use crate::clock::Clock;
use crate::config::CalendarSettings;
use crate::error::ServiceError;
use crate::ids::{AppointmentId, ConnectionId, ExpertId};
use crate::notifications::NotificationService;
use crate::store::StoreError;
use crate::store::dynamo::DynamoStore;

/// Every call to a calendar provider ends within this, so one slow server cannot stall a
/// request or a sync batch.
pub const PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A booking waits at most this long for the expert's stale calendars to be read again.
pub const REFRESH_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a connection could not be made: told to the expert as a 400 that says which.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "the calendar server refused the user name or password (for iCloud, use an app-specific password)"
    )]
    CredentialsRefused,
    #[error("this is not a CalDAV server: {0}")]
    NotCalDav(String),
    #[error("the calendar server could not be reached: {0}")]
    Unreachable(String),
    #[error("{0}")]
    AddressRefused(String),
    #[error("this account has no calendar that holds events")]
    NoCalendars,
}

impl From<CalDavError> for ConnectError {
    fn from(error: CalDavError) -> Self {
        match error {
            CalDavError::Unauthorized => ConnectError::CredentialsRefused,
            CalDavError::NotCalDav(why) => ConnectError::NotCalDav(why),
            CalDavError::NotFound => ConnectError::NotCalDav("the address was not found".into()),
            CalDavError::Refused(why) => ConnectError::AddressRefused(why),
            other => ConnectError::Unreachable(other.to_string()),
        }
    }
}

fn is_false(value: &bool) -> bool {
    !value
}

/// A sync job on the calendar-sync queue (version 1: these fields; new fields are optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncJob {
    pub expert_id: ExpertId,
    pub connection_id: ConnectionId,
    /// Renew the push channels now, due or not (Graph asked: `reauthorizationRequired`,
    /// `subscriptionRemoved`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub renew_push: bool,
}

impl SyncJob {
    pub fn of(expert_id: ExpertId, connection_id: ConnectionId) -> Self {
        SyncJob {
            expert_id,
            connection_id,
            renew_push: false,
        }
    }
}

/// Where sync jobs go: the calendar-sync queue.
#[derive(Clone, Debug)]
pub struct SyncQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

impl SyncQueue {
    /// Sends the jobs ten to a request (SendMessageBatch's limit).
    pub async fn enqueue_all(&self, jobs: &[SyncJob]) -> Result<(), ServiceError> {
        for chunk in jobs.chunks(10) {
            let mut entries = Vec::new();
            for (i, job) in chunk.iter().enumerate() {
                let body = serde_json::to_string(job)
                    .map_err(|e| StoreError::corrupt(job.connection_id.to_string(), e))?;
                entries.push(
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|e| ServiceError::Queue(e.to_string()))?,
                );
            }
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    ServiceError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
            if !output.failed.is_empty() {
                return Err(ServiceError::Queue(format!(
                    "{} of {} jobs refused",
                    output.failed.len(),
                    chunk.len()
                )));
            }
        }
        Ok(())
    }

    pub async fn enqueue(&self, job: &SyncJob) -> Result<(), ServiceError> {
        self.enqueue_all(std::slice::from_ref(job)).await
    }

    /// Makes a received job visible again only after `delay` (its backoff).
    pub async fn retry_later(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), ServiceError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| {
                ServiceError::Queue(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(())
    }
}

/// The calendar clients, built once per cold start: the guarded CalDAV client, the Google
/// and Graph clients and our OAuth apps, the secret sealer, the sync queue, and where the
/// providers reach us.
#[derive(Clone)]
pub struct CalendarClients {
    pub caldav: CalDav,
    pub google: Option<GoogleCalendar>,
    pub graph: Option<Graph>,
    pub oauth: OAuthApps,
    pub sealer: SecretSealer,
    pub queue: SyncQueue,
    pub push: Option<PushAddresses>,
}

impl CalendarClients {
    /// Production wiring: the guarded HTTP client (5-second limit per request), the
    /// providers' clients, KMS, SQS.
    pub fn from_settings(
        sdk: &aws_config::SdkConfig,
        settings: &CalendarSettings,
    ) -> Result<Self, GuardError> {
        Self::with_lookup(sdk, settings, SystemLookup)
    }

    /// The same, names of CalDAV servers resolved by `lookup` (tests map names to refused
    /// addresses with it).
    pub fn with_lookup(
        sdk: &aws_config::SdkConfig,
        settings: &CalendarSettings,
        lookup: impl HostLookup,
    ) -> Result<Self, GuardError> {
        let policy = OutboundPolicy {
            allowed_local_hosts: settings.allowed_local_hosts.clone(),
        };
        let http = guard::client(policy.clone(), lookup, PROVIDER_TIMEOUT)?;
        // The providers' hosts are fixed by configuration, not typed by users: no guard.
        let rest = RestClient::new(PROVIDER_TIMEOUT).map_err(GuardError::Client)?;
        let callback = |provider: Provider| {
            settings.public_api_url.as_ref().map(|base| {
                format!(
                    "{}/v1/oauth/{}/callback",
                    base.trim_end_matches('/'),
                    provider.name()
                )
            })
        };
        let app =
            |provider: Provider,
             provider_settings: Option<&crate::config::OAuthProviderSettings>| {
                let (provider_settings, redirect) = (provider_settings?, callback(provider)?);
                match OAuthApp::new(provider, provider_settings, redirect, rest.http().clone()) {
                    Ok(app) => Some(app),
                    Err(why) => {
                        tracing::error!(provider = provider.name(), %why, "OAuth app not configured");
                        None
                    }
                }
            };
        Ok(CalendarClients {
            caldav: CalDav::new(http, policy),
            google: settings
                .google
                .as_ref()
                .map(|g| GoogleCalendar::new(rest.clone(), &g.api_base)),
            graph: settings
                .microsoft
                .as_ref()
                .map(|m| Graph::new(rest.clone(), &m.api_base)),
            oauth: OAuthApps {
                google: app(Provider::Google, settings.google.as_ref()),
                microsoft: app(Provider::Microsoft, settings.microsoft.as_ref()),
            },
            sealer: SecretSealer::new(aws_sdk_kms::Client::new(sdk), settings.key_id.clone()),
            queue: SyncQueue {
                client: aws_sdk_sqs::Client::new(sdk),
                url: settings.sync_queue_url.clone(),
            },
            push: settings.public_api_url.as_deref().map(PushAddresses::under),
        })
    }
}

#[derive(Clone)]
pub struct CalendarService {
    pub(super) store: DynamoStore,
    pub(super) remotes: Remotes,
    pub(super) push: PushChannels,
    pub(super) queue: SyncQueue,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) sync: CalendarSync,
    /// Where the OAuth callback sends the expert's browser back to.
    pub(super) frontend_url: String,
}

impl CalendarService {
    pub fn new(
        store: DynamoStore,
        clients: CalendarClients,
        (bookings, notifications): (BookingService, NotificationService),
        clock: Arc<dyn Clock>,
        frontend_url: String,
    ) -> Self {
        let CalendarClients {
            caldav,
            google,
            graph,
            oauth,
            sealer,
            queue,
            push,
        } = clients;
        let remotes = Remotes {
            caldav,
            google,
            graph,
            tokens: AccessTokens::new(oauth, sealer.clone(), store.clone()),
            sealer,
        };
        let push = PushChannels::new(store.clone(), push);
        let sync = CalendarSync::new(
            store.clone(),
            (remotes.clone(), push.clone()),
            (bookings, notifications),
            clock.clone(),
        );
        CalendarService {
            store,
            remotes,
            push,
            queue,
            clock,
            sync,
            frontend_url,
        }
    }

    /// Queues a sync of every connection that is due (the schedule's work); answers how many.
    pub async fn enqueue_due(&self) -> Result<usize, ServiceError> {
        let now = self.clock.now();
        let due = self
            .store
            .claim_due_connections(now, now + Duration::minutes(SYNC_INTERVAL_MINUTES))
            .await?;
        let jobs: Vec<SyncJob> = due
            .into_iter()
            .map(|(expert_id, connection_id)| SyncJob::of(expert_id, connection_id))
            .collect();
        self.queue.enqueue_all(&jobs).await?;
        Ok(jobs.len())
    }

    /// Brings the booking's event in the expert's calendar in line with the appointment.
    pub async fn push_booking(&self, id: AppointmentId) -> Result<BookingPush, ServiceError> {
        self.sync.push_booking(id).await
    }

    /// Reads the named connections of `expert` again, at once and side by side, before a
    /// booking. True when every read finished within [`REFRESH_BUDGET`] (each then left its
    /// verdict in the read state: fresh, or unreadable); false when one did not.
    pub async fn refresh(
        &self,
        expert: ExpertId,
        connections: &[ConnectionId],
    ) -> Result<bool, ServiceError> {
        let reads = connections.iter().map(|&connection_id| async move {
            self.sync.run(&SyncJob::of(expert, connection_id)).await
        });
        match tokio::time::timeout(REFRESH_BUDGET, futures_util::future::join_all(reads)).await {
            Ok(outcomes) => {
                for outcome in outcomes {
                    tracing::info!(expert_id = %expert, outcome = ?outcome?, "calendar read before booking");
                }
                Ok(true)
            }
            Err(_) => {
                tracing::warn!(expert_id = %expert, "calendar read before booking timed out");
                Ok(false)
            }
        }
    }

    /// Delays a received job's next try (see `sync::retry_delay`).
    pub async fn retry_later(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), ServiceError> {
        self.queue.retry_later(receipt_handle, delay).await
    }

    /// Runs one sync job (the calendar-sync function's work).
    pub async fn run_sync(&self, job: &SyncJob) -> Result<SyncOutcome, ServiceError> {
        self.sync.run(job).await
    }

    pub(super) async fn expert_of(&self, caller: &Caller) -> Result<ExpertId, ServiceError> {
        caller.require(Group::Experts)?;
        self.store
            .expert_id_of(&caller.user_id)
            .await?
            .ok_or(ServiceError::ProfileRequired)
    }

    /// Discovers the account's calendars and stores the connection (its password sealed):
    /// every calendar blocks time, the first writable one receives bookings unless another
    /// connection already does. Nothing is stored when discovery fails.
    pub async fn connect(
        &self,
        caller: &Caller,
        input: ConnectInput,
    ) -> Result<CalendarConnection, ServiceError> {
        let expert = self.expert_of(caller).await?;
        let request = input.parse()?;
        let account = CalDavAccount {
            server_url: request.server_url,
            username: request.username,
            password: request.password,
        };
        let remote = self
            .remotes
            .caldav
            .discover(&account)
            .await
            .map_err(ConnectError::from)?;
        let discovered: Vec<Discovered> = remote
            .iter()
            .map(|calendar| Discovered {
                remote_id: calendar.url.to_string(),
                name: calendar.name.clone(),
                writable: calendar.writable,
                primary: false,
                conferencing: false,
            })
            .collect();
        let connection = self
            .store_connection(
                (expert, caller.email.as_deref()),
                (
                    Provider::Caldav,
                    account.username.clone(),
                    Some(account.server_url.to_string()),
                ),
                &discovered,
                &account.password,
            )
            .await?;
        Ok(connection)
    }

    /// Stores a new connection of `provider` with its discovered calendars and its sealed
    /// secret, and queues its first sync. Every calendar blocks time; the first writable one
    /// (the primary first) receives bookings unless another connection already does.
    pub(super) async fn store_connection(
        &self,
        (expert, email): (ExpertId, Option<&str>),
        (provider, account, server_url): (Provider, String, Option<String>),
        discovered: &[Discovered],
        secret: &str,
    ) -> Result<CalendarConnection, ServiceError> {
        if discovered.is_empty() {
            return Err(ConnectError::NoCalendars.into());
        }
        let now = self.clock.now();
        let id = ConnectionId::new();
        let sealed = self
            .remotes
            .sealer
            .seal(secret, &id.to_string())
            .await
            .map_err(secret_failed)?;
        // The booking target is taken on the guard item, conditionally: of connections made
        // at once, one takes it and the others, told so, are stored without it.
        for _ in 0..3 {
            let others = self.store.connections_of(expert).await?;
            let target_taken = others.iter().any(|c| c.booking_target().is_some());
            let connection = CalendarConnection {
                id,
                expert_id: expert,
                provider,
                own_addresses: own_addresses(email, &account),
                account: account.clone(),
                server_url: server_url.clone(),
                status: ConnectionStatus::Ok,
                last_synced_at: None,
                next_sync_at: now,
                last_error: None,
                degraded_since: None,
                calendars: connected(discovered, !target_taken),
                preferences: ConnectionPreferences::default(),
                push: Vec::new(),
                created_at: now,
                version: 1,
                secret_version: 1,
            };
            if self
                .store
                .create_connection(&connection, sealed.clone())
                .await?
            {
                self.queue.enqueue(&SyncJob::of(expert, id)).await?;
                return Ok(connection);
            }
        }
        Err(StoreError::Contention(id.to_string()).into())
    }

    pub async fn list(&self, caller: &Caller) -> Result<Vec<CalendarConnection>, ServiceError> {
        let expert = self.expert_of(caller).await?;
        Ok(self.store.connections_of(expert).await?)
    }

    /// Applies the expert's calendar choices; choosing a booking target takes it away from
    /// any other connection, in the same transaction. A change of busy sources queues a sync
    /// (imported time follows, push channels too).
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        input: UpdateInput,
    ) -> Result<CalendarConnection, ServiceError> {
        let expert = self.expert_of(caller).await?;
        let id = parse_id(id)?;
        for _ in 0..3 {
            let mut connections = self.store.connections_of(expert).await?;
            let position = connections
                .iter()
                .position(|c| c.id == id)
                .ok_or(ServiceError::NotFound("calendar connection"))?;
            let before = connections[position].clone();
            let held_by = connections
                .iter()
                .find(|c| c.booking_target().is_some())
                .map(|c| c.id);
            connections[position].choose(&input)?;
            let takes_target = connections[position].booking_target().is_some();
            let mut changed = vec![connections[position].clone()];
            if takes_target {
                for other in connections.iter_mut().filter(|c| c.id != id) {
                    if other.booking_target().is_some() {
                        other
                            .calendars
                            .iter_mut()
                            .for_each(|c| c.booking_target = false);
                        changed.push(other.clone());
                    }
                }
            }
            let moved = (takes_target || held_by == Some(id))
                .then(|| (held_by, takes_target.then_some(id)))
                .filter(|(from, to)| from != to);
            if self.store.save_calendar_choices(&changed, moved).await? {
                let mut saved = changed.swap_remove(0);
                saved.version += 1;
                let busy = |c: &CalendarConnection| -> Vec<bool> {
                    c.calendars.iter().map(|c| c.busy_source).collect()
                };
                if busy(&before) != busy(&saved) || before.preferences != saved.preferences {
                    self.queue.enqueue(&SyncJob::of(expert, id)).await?;
                }
                return Ok(saved);
            }
        }
        Err(StoreError::Contention(id.to_string()).into())
    }

    /// Removes the connection, its sealed secret and the busy time it imported. For Google
    /// and Microsoft the push channels are stopped and (Google) the grant revoked first, as
    /// far as the provider answers; the removal happens either way.
    pub async fn disconnect(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        let expert = self.expert_of(caller).await?;
        let id = parse_id(id)?;
        let Some((connection, sealed)) = self.store.connection(expert, id).await? else {
            return Err(ServiceError::NotFound("calendar connection"));
        };
        if connection.provider != Provider::Caldav {
            self.release_grant(&connection, &sealed).await;
        }
        let held_target = connection.booking_target().is_some();
        if self
            .store
            .delete_connection(expert, id, held_target)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound("calendar connection"))
        }
    }

    /// The "sync now" button: one job on the queue.
    pub async fn sync_now(&self, caller: &Caller, id: &str) -> Result<SyncJob, ServiceError> {
        let expert = self.expert_of(caller).await?;
        let id = parse_id(id)?;
        self.store
            .connection(expert, id)
            .await?
            .ok_or(ServiceError::NotFound("calendar connection"))?;
        let job = SyncJob::of(expert, id);
        self.queue.enqueue(&job).await?;
        Ok(job)
    }
}

/// A calendar found at connection time.
pub(super) struct Discovered {
    pub remote_id: String,
    pub name: String,
    pub writable: bool,
    pub primary: bool,
    pub conferencing: bool,
}

/// The addresses the expert's invitations reach them under: their sign-in email and the
/// account's user name when it is an email (iCloud's, Google's, Microsoft's), lower-cased,
/// once each.
fn own_addresses(email: Option<&str>, account: &str) -> Vec<String> {
    let mut addresses: Vec<String> = email
        .into_iter()
        .chain(Some(account).filter(|a| a.contains('@')))
        .map(str::to_lowercase)
        .collect();
    addresses.dedup();
    addresses
}

/// Another expert's connection id and a malformed one look the same: not found.
fn parse_id(id: &str) -> Result<ConnectionId, ServiceError> {
    id.parse()
        .map_err(|_| ServiceError::NotFound("calendar connection"))
}

pub(super) fn secret_failed(error: SecretError) -> ServiceError {
    ServiceError::Secret(error.to_string())
}

/// The discovered calendars with their defaults: all block time; the first writable one (the
/// primary first) is the booking target when `take_target`.
fn connected(remote: &[Discovered], take_target: bool) -> Vec<ConnectedCalendar> {
    let target = take_target
        .then(|| {
            remote
                .iter()
                .position(|c| c.writable && c.primary)
                .or_else(|| remote.iter().position(|c| c.writable))
        })
        .flatten();
    remote
        .iter()
        .enumerate()
        .map(|(i, calendar)| ConnectedCalendar {
            id: calendar_id(&calendar.remote_id),
            name: calendar.name.clone(),
            remote_id: calendar.remote_id.clone(),
            writable: calendar.writable,
            primary: calendar.primary,
            conferencing: calendar.conferencing,
            busy_source: true,
            booking_target: Some(i) == target,
            sync_token: None,
            full_read_at: None,
        })
        .collect()
}

/// Short and stable: the first 12 hex digits of the SHA-256 of the provider's id for it.
fn calendar_id(remote_id: &str) -> String {
    let hash = digest::digest(&digest::SHA256, remote_id.as_bytes());
    hash.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(name: &str, writable: bool, primary: bool) -> Discovered {
        Discovered {
            remote_id: format!("https://dav.example.com/u/{name}/"),
            name: name.into(),
            writable,
            primary,
            conferencing: false,
        }
    }

    #[test]
    fn every_calendar_blocks_and_the_first_writable_one_takes_bookings() {
        let calendars = connected(
            &[
                remote("holidays", false, false),
                remote("work", true, false),
                remote("home", true, false),
            ],
            true,
        );
        assert!(calendars.iter().all(|c| c.busy_source));
        let targets: Vec<&str> = calendars
            .iter()
            .filter(|c| c.booking_target)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(targets, ["work"]);
        // Another connection already takes bookings: none here.
        assert!(
            connected(&[remote("work", true, false)], false)
                .iter()
                .all(|c| !c.booking_target)
        );
        // The primary calendar goes first when it can be written.
        let with_primary = connected(
            &[remote("team", true, false), remote("me", true, true)],
            true,
        );
        assert!(with_primary[1].booking_target && !with_primary[0].booking_target);
        // Ids are stable and distinct.
        assert_eq!(
            calendars[1].id,
            connected(&[remote("work", true, false)], true)[0].id
        );
        assert_ne!(calendars[1].id, calendars[2].id);
        assert_eq!(calendars[1].id.len(), 12);
    }
}
