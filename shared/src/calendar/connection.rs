//! An expert's connection to an external calendar account, and what the API takes and shows
//! of it. The secret (a CalDAV app-specific password, or an OAuth refresh token for Google
//! and Microsoft) lives only sealed, on the stored record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ConnectionId, ExpertId};
use crate::validation::{self, ValidationErrors};

/// iCloud's CalDAV entry point: the default server.
pub const ICLOUD_CALDAV_URL: &str = "https://caldav.icloud.com/";
/// CalDAV has no push: connections are read at least this often.
pub const SYNC_INTERVAL_MINUTES: i64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Caldav,
    Google,
    Microsoft,
}

impl Provider {
    /// `google` or `microsoft` in a path: the providers connected with OAuth.
    pub fn oauth(name: &str) -> Option<Provider> {
        match name {
            "google" => Some(Provider::Google),
            "microsoft" => Some(Provider::Microsoft),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Caldav => "caldav",
            Provider::Google => "google",
            Provider::Microsoft => "microsoft",
        }
    }

    /// How the provider is named to an expert.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Caldav => "calendar server",
            Provider::Google => "Google Calendar",
            Provider::Microsoft => "Microsoft Outlook",
        }
    }
}

/// Where a booking's meeting happens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conferencing {
    /// The marketplace's own meeting link (Jitsi Meet by default).
    #[default]
    Default,
    /// A Google Meet link created with the booking's event (Google calendars).
    GoogleMeet,
    /// A Microsoft Teams link created with the booking's event (Microsoft calendars that
    /// allow it).
    Teams,
}

/// The meeting link a provider made for a booking (Meet, Teams), or why it could not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conference {
    pub provider: Conferencing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_url: Option<String>,
    /// Why there is none: the default link stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The expert's choices for one connection: how its events block time (the providers
/// disagree on tentative and out-of-office, so the expert decides), and the meeting links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionPreferences {
    pub tentative_blocks: bool,
    pub out_of_office_blocks: bool,
    pub conferencing: Conferencing,
}

impl Default for ConnectionPreferences {
    fn default() -> Self {
        ConnectionPreferences {
            tentative_blocks: true,
            out_of_office_blocks: true,
            conferencing: Conferencing::Default,
        }
    }
}

/// A push channel (Google, per calendar) or subscription (Microsoft, per connection) that
/// tells us of changes; renewed before it expires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushChannel {
    pub id: String,
    /// Google: the watched calendar's id (ours); Microsoft: none (the whole mailbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_id: Option<String>,
    /// Google's resource id, needed to stop the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Ok,
    /// Network errors, timeouts, 429 or 5xx at the last attempt: retried on schedule.
    Degraded,
    /// The server refused the credentials: only the expert can fix it.
    NeedsReauth,
}

/// One calendar of a connected account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectedCalendar {
    /// Stable within the connection: derived from the provider's id for it.
    pub id: String,
    pub name: String,
    /// The provider's id for it: the collection's URL (CalDAV), the calendar id (Google,
    /// Microsoft).
    #[serde(skip_serializing)]
    pub remote_id: String,
    pub writable: bool,
    /// The account's main calendar (Google's primary, Microsoft's default).
    #[serde(skip_serializing)]
    pub primary: bool,
    /// The provider can attach its meeting links to events in it (Meet, Teams).
    #[serde(skip_serializing)]
    pub conferencing: bool,
    /// Its events block the expert's slots.
    pub busy_source: bool,
    /// Bookings are written into it (one calendar across all of an expert's connections).
    pub booking_target: bool,
    /// RFC 6578 token of the last read; `None` before the first.
    #[serde(skip)]
    pub sync_token: Option<String>,
    /// When every event was last read and expanded again (the horizon slides daily).
    #[serde(skip)]
    pub full_read_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalendarConnection {
    pub id: ConnectionId,
    #[serde(skip)]
    pub expert_id: ExpertId,
    pub provider: Provider,
    /// The account's user name, as the expert typed it.
    pub account: String,
    /// The expert's calendar addresses (their sign-in email, the account if it is one): an
    /// invitation they declined under one of them is free time.
    #[serde(skip)]
    pub own_addresses: Vec<String>,
    /// The CalDAV server; none for the OAuth providers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    pub status: ConnectionStatus,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub next_sync_at: DateTime<Utc>,
    /// What went wrong at the last attempt, for a person to read.
    pub last_error: Option<String>,
    /// The first failure of the current run of failed reads (`degraded` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded_since: Option<DateTime<Utc>>,
    pub calendars: Vec<ConnectedCalendar>,
    pub preferences: ConnectionPreferences,
    /// Push channels or subscriptions (Google, Microsoft).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub push: Vec<PushChannel>,
    pub created_at: DateTime<Utc>,
    /// Raised by every write; writes are conditional on it.
    #[serde(skip)]
    pub version: u64,
    /// Raised by every change of the sealed secret (Microsoft rotates refresh tokens).
    #[serde(skip)]
    pub secret_version: u64,
}

/// `POST /v1/experts/me/calendars` as sent.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectInput {
    pub provider: String,
    pub server_url: Option<String>,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ConnectInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectInput")
            .field("provider", &self.provider)
            .field("server_url", &self.server_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A connection request that passed validation.
pub struct CalDavRequest {
    pub server_url: reqwest::Url,
    pub username: String,
    pub password: String,
}

impl ConnectInput {
    pub fn parse(self) -> Result<CalDavRequest, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.provider != "caldav" {
            errors.add(
                "/provider",
                "only \"caldav\" is connected with a password (Apple iCloud, Fastmail, Nextcloud ...); \
                 Google and Microsoft connect through POST /v1/experts/me/calendars/{google|microsoft}/authorize",
            );
        }
        let raw_url = self.server_url.as_deref().unwrap_or(ICLOUD_CALDAV_URL);
        let server_url = match reqwest::Url::parse(raw_url.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            _ => {
                errors.add(
                    "/server_url",
                    "must be an absolute https URL, e.g. https://caldav.icloud.com/",
                );
                None
            }
        };
        let username = validation::text(&mut errors, "/username", &self.username, true, 320);
        if self.password.is_empty() || self.password.len() > 256 {
            errors.add(
                "/password",
                "must be 1 to 256 characters (an app-specific password)",
            );
        }
        match server_url {
            Some(server_url) if errors.is_empty() => Ok(CalDavRequest {
                server_url,
                username,
                password: self.password,
            }),
            _ => Err(errors),
        }
    }
}

/// `PATCH /v1/experts/me/calendars/{id}` as sent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateInput {
    #[serde(default)]
    pub calendars: Vec<CalendarChoice>,
    pub preferences: Option<PreferencesInput>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesInput {
    pub tentative_blocks: Option<bool>,
    pub out_of_office_blocks: Option<bool>,
    pub conferencing: Option<Conferencing>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarChoice {
    pub id: String,
    pub busy_source: Option<bool>,
    pub booking_target: Option<bool>,
}

impl CalendarConnection {
    /// Applies the expert's choices; at most one booking target among these calendars, and
    /// only a writable one.
    pub fn choose(&mut self, input: &UpdateInput) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut next = self.calendars.clone();
        for (i, choice) in input.calendars.iter().enumerate() {
            let Some(calendar) = next.iter_mut().find(|c| c.id == choice.id) else {
                errors.add(
                    format!("/calendars/{i}/id"),
                    "no calendar of this connection has this id",
                );
                continue;
            };
            if let Some(busy) = choice.busy_source {
                calendar.busy_source = busy;
            }
            if let Some(target) = choice.booking_target {
                if target && !calendar.writable {
                    errors.add(
                        format!("/calendars/{i}/booking_target"),
                        "this calendar cannot be written to",
                    );
                }
                calendar.booking_target = target;
            }
        }
        if next.iter().filter(|c| c.booking_target).count() > 1 {
            errors.add("/calendars", "at most one calendar receives bookings");
        }
        let mut preferences = self.preferences;
        if let Some(asked) = &input.preferences {
            preferences.tentative_blocks = asked
                .tentative_blocks
                .unwrap_or(preferences.tentative_blocks);
            preferences.out_of_office_blocks = asked
                .out_of_office_blocks
                .unwrap_or(preferences.out_of_office_blocks);
            if let Some(conferencing) = asked.conferencing {
                let offered = match conferencing {
                    Conferencing::Default => true,
                    Conferencing::GoogleMeet => self.provider == Provider::Google,
                    Conferencing::Teams => self.provider == Provider::Microsoft,
                };
                if !offered {
                    errors.add(
                        "/preferences/conferencing",
                        "google_meet needs a Google connection, teams a Microsoft one",
                    );
                }
                preferences.conferencing = conferencing;
            }
        }
        errors.finish(())?;
        self.calendars = next;
        self.preferences = preferences;
        Ok(())
    }

    pub fn booking_target(&self) -> Option<&ConnectedCalendar> {
        self.calendars.iter().find(|c| c.booking_target)
    }
}

/// The event a booking became in the expert's booking-target calendar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenEvent {
    pub connection_id: ConnectionId,
    /// The provider's calendar id (Google, Microsoft); CalDAV hrefs name their collection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// The event: its URL (CalDAV) or its id (Google, Microsoft).
    pub href: String,
    pub etag: String,
    /// The appointment's revision the event shows (its SEQUENCE).
    pub sequence: u32,
}

impl WrittenEvent {
    /// Where the event is, as the providers' calls take it: (calendar, event).
    pub fn location(&self) -> (&str, &str) {
        (self.calendar.as_deref().unwrap_or_default(), &self.href)
    }
}

/// Something the expert did to a booking's event in their calendar that needs their decision:
/// the booking itself is never changed silently, and its time stays reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarAttention {
    /// Deleted from the calendar: not written again.
    DeletedInCalendar,
    /// Moved in the calendar to other times than the booking's: left as the expert put it,
    /// until the booking itself moves or ends.
    MovedInCalendar,
}

impl CalendarAttention {
    pub fn message(self) -> &'static str {
        match self {
            CalendarAttention::DeletedInCalendar => {
                "the event of this booking was deleted from your calendar; the time stays reserved: \
                 cancel or reschedule the booking if you meant to"
            }
            CalendarAttention::MovedInCalendar => {
                "the event of this booking was moved in your calendar, but the booking keeps its \
                 time: reschedule the booking to move it, or move the event back"
            }
        }
    }
}

/// An appointment's attention as shown to its parties: `{"reason": "deleted_in_calendar",
/// "detail": "..."}`.
pub fn show_attention<S: serde::Serializer>(
    attention: &Option<CalendarAttention>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    match attention {
        None => serializer.serialize_none(),
        Some(attention) => {
            let mut shown = serializer.serialize_struct("CalendarAttention", 2)?;
            shown.serialize_field("reason", attention)?;
            shown.serialize_field("detail", attention.message())?;
            shown.end()
        }
    }
}
