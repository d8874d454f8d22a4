//! Google Calendar API v3: the requests the sync makes, the shapes it reads, and what an event
//! means for the expert's time (pure).
//!
//! Reads use `events.list` with `singleEvents=true` (Google expands series into instances)
//! and sync tokens: a full listing from a day before now ends with `nextSyncToken`, and the
//! next read asks only for what changed since (without `timeMin`, which Google refuses with a
//! token); 410 `fullSyncRequired` means reading everything again. Pages are followed to the
//! end; the token comes only on the last one.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use super::event::{BookingEvent, EventBusy, local_days};
use super::ical::BusyRules;
use super::rest::{ProviderError, RestClient, endpoint, parse};
use crate::availability::Interval;
use crate::ids::AppointmentId;

const PAGE_SIZE: &str = "250";

/// The id of our event for an appointment: Google takes client-supplied ids in base32hex
/// (`a-v`, `0-9`), so the appointment id goes in as hex behind a fixed prefix. A repeated
/// insert of it is a 409: the event exists, nothing is doubled.
pub fn event_id(appointment: AppointmentId) -> String {
    let hex: String = appointment
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("mkt{hex}")
}

/// The appointment behind one of our event ids.
pub fn appointment_of(event_id: &str) -> Option<AppointmentId> {
    let hex = event_id.strip_prefix("mkt")?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()?.parse().ok()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalendarEntry {
    pub id: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub access_role: String,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub conference_properties: Option<ConferenceProperties>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConferenceProperties {
    #[serde(default)]
    pub allowed_conference_solution_types: Vec<String>,
}

impl CalendarEntry {
    pub fn writable(&self) -> bool {
        matches!(self.access_role.as_str(), "owner" | "writer")
    }

    pub fn meet_allowed(&self) -> bool {
        self.conference_properties.as_ref().is_some_and(|c| {
            c.allowed_conference_solution_types
                .iter()
                .any(|t| t == "hangoutsMeet")
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CalendarList {
    #[serde(default)]
    items: Vec<CalendarEntry>,
    next_page_token: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventTime {
    pub date_time: Option<String>,
    pub date: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    #[serde(default)]
    pub email: String,
    #[serde(default, rename = "self")]
    pub is_self: bool,
    #[serde(default)]
    pub response_status: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    #[serde(default)]
    pub etag: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub start: EventTime,
    #[serde(default)]
    pub end: EventTime,
    #[serde(default)]
    pub transparency: String,
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub conference_data: Option<Value>,
    #[serde(default)]
    pub hangout_link: Option<String>,
}

/// Where a Meet link stands on one of our events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meet {
    Pending,
    Ready(String),
    Failed,
    NotAsked,
}

impl Event {
    pub fn meet(&self) -> Meet {
        let Some(data) = &self.conference_data else {
            return Meet::NotAsked;
        };
        let video = data["entryPoints"]
            .as_array()
            .and_then(|points| {
                points
                    .iter()
                    .find(|p| p["entryPointType"] == "video")
                    .and_then(|p| p["uri"].as_str())
            })
            .map(str::to_owned)
            .or_else(|| self.hangout_link.clone());
        match (
            data["createRequest"]["status"]["statusCode"].as_str(),
            video,
        ) {
            (_, Some(link)) => Meet::Ready(link),
            (Some("pending"), None) => Meet::Pending,
            (Some("failure"), None) => Meet::Failed,
            _ => Meet::NotAsked,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventPage {
    #[serde(default)]
    items: Vec<Event>,
    next_page_token: Option<String>,
    next_sync_token: Option<String>,
}

/// A whole listing (every page), and the token of the next read.
pub struct Listing {
    pub events: Vec<Event>,
    pub sync_token: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub id: String,
    pub resource_id: String,
    /// Milliseconds since the epoch, as a string.
    pub expiration: Option<String>,
}

/// The Google Calendar client; cheap to clone.
#[derive(Clone, Debug)]
pub struct GoogleCalendar {
    rest: RestClient,
    base: String,
}

impl GoogleCalendar {
    /// `base`: `https://www.googleapis.com/calendar/v3` (or our test server's).
    pub fn new(rest: RestClient, base: &str) -> Self {
        GoogleCalendar {
            rest,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ProviderError> {
        endpoint(&self.base, segments)
    }

    fn event_url(&self, calendar: &str, id: &str) -> Result<Url, ProviderError> {
        self.url(&["calendars", calendar, "events", id])
    }

    /// The account's calendars (every page).
    pub async fn calendars(&self, token: &str) -> Result<Vec<CalendarEntry>, ProviderError> {
        let mut entries = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = self.url(&["users", "me", "calendarList"])?;
            if let Some(page) = &page {
                url.query_pairs_mut().append_pair("pageToken", page);
            }
            let list: CalendarList = self.rest.get(token, url, &[]).await?;
            entries.extend(list.items);
            match list.next_page_token {
                Some(next) => page = Some(next),
                None => return Ok(entries),
            }
        }
    }

    /// The events changed since `sync_token`, or (without one) every event ending after
    /// `from`; all pages.
    pub async fn list(
        &self,
        token: &str,
        calendar: &str,
        sync_token: Option<&str>,
        from: DateTime<Utc>,
    ) -> Result<Listing, ProviderError> {
        let mut events = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = self.url(&["calendars", calendar, "events"])?;
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("singleEvents", "true")
                    .append_pair("maxResults", PAGE_SIZE);
                // Every page repeats the first page's query, with the page token added
                // (Google's sync guide).
                match sync_token {
                    Some(sync) => query.append_pair("syncToken", sync),
                    None => query.append_pair("timeMin", &from.to_rfc3339()),
                };
                if let Some(page) = &page {
                    query.append_pair("pageToken", page);
                }
            }
            let listed: EventPage = self.rest.get(token, url, &[]).await?;
            events.extend(listed.items);
            match listed.next_page_token {
                Some(next) => page = Some(next),
                None => {
                    return Ok(Listing {
                        events,
                        sync_token: listed.next_sync_token,
                    });
                }
            }
        }
    }

    pub async fn get(&self, token: &str, calendar: &str, id: &str) -> Result<Event, ProviderError> {
        self.rest
            .get(token, self.event_url(calendar, id)?, &[])
            .await
    }

    /// Inserts our event with its own id (`conferenceDataVersion=1`, so a Meet request is
    /// honoured).
    pub async fn insert(
        &self,
        token: &str,
        calendar: &str,
        body: &Value,
    ) -> Result<Event, ProviderError> {
        let mut url = self.url(&["calendars", calendar, "events"])?;
        url.query_pairs_mut()
            .append_pair("conferenceDataVersion", "1");
        let answer = self
            .rest
            .send(Method::POST, token, url, Some(body), &[])
            .await?;
        parse(answer.body)
    }

    /// Changes our event, if it is still at `etag` when given.
    pub async fn patch(
        &self,
        token: &str,
        calendar: &str,
        id: &str,
        body: &Value,
        etag: Option<&str>,
    ) -> Result<Event, ProviderError> {
        let url = self.event_url(calendar, id)?;
        let headers: Vec<(&str, &str)> = etag.map(|e| ("if-match", e)).into_iter().collect();
        let answer = self
            .rest
            .send(Method::PATCH, token, url, Some(body), &headers)
            .await?;
        parse(answer.body)
    }

    pub async fn delete(
        &self,
        token: &str,
        calendar: &str,
        id: &str,
        etag: Option<&str>,
    ) -> Result<(), ProviderError> {
        let url = self.event_url(calendar, id)?;
        let headers: Vec<(&str, &str)> = etag.map(|e| ("if-match", e)).into_iter().collect();
        self.rest
            .send(Method::DELETE, token, url, None, &headers)
            .await
            .map(drop)
    }

    /// Opens a push channel on the calendar's events: Google posts to `address` with the
    /// channel id and `secret` as headers.
    pub async fn watch(
        &self,
        token: &str,
        calendar: &str,
        (channel_id, secret): (&str, &str),
        address: &str,
        ttl: Duration,
    ) -> Result<Channel, ProviderError> {
        let url = self.url(&["calendars", calendar, "events", "watch"])?;
        let body = json!({"id": channel_id, "type": "web_hook", "address": address,
                          "token": secret, "params": {"ttl": ttl.num_seconds().to_string()}});
        let answer = self
            .rest
            .send(Method::POST, token, url, Some(&body), &[])
            .await?;
        parse(answer.body)
    }

    pub async fn stop(
        &self,
        token: &str,
        channel_id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError> {
        let url = self.url(&["channels", "stop"])?;
        let body = json!({"id": channel_id, "resourceId": resource_id});
        self.rest
            .send(Method::POST, token, url, Some(&body), &[])
            .await
            .map(drop)
    }
}

/// The body of our event: title, times (UTC), the meeting link, and a Meet request when asked
/// for. No payment data, no notes, no attendees (Google would mail them).
pub fn event_body(event: &BookingEvent, with_meet: bool) -> Value {
    let mut body = json!({
        "id": event_id(event.appointment_id),
        "summary": event.summary,
        "description": event.description,
        "start": {"dateTime": event.start.to_rfc3339(), "timeZone": "UTC"},
        "end": {"dateTime": event.end.to_rfc3339(), "timeZone": "UTC"},
        "transparency": "opaque",
        "extendedProperties": {"private": {"appointment_id": event.appointment_id.to_string()}},
    });
    if let Some(link) = &event.meeting_url {
        body["location"] = json!(link);
    }
    if with_meet {
        body["conferenceData"] = json!({"createRequest": {
            "requestId": event.appointment_id.to_string(),
            "conferenceSolutionKey": {"type": "hangoutsMeet"},
        }});
    }
    body
}

/// What a patch of our event changes when the booking moves: times, text, link; never the
/// conference (a Meet link survives reschedules).
pub fn patch_body(event: &BookingEvent) -> Value {
    let mut body = event_body(event, false);
    if let Some(fields) = body.as_object_mut() {
        fields.remove("id");
    }
    body
}

fn instant(time: &EventTime, zone: chrono_tz::Tz, end: bool) -> Option<Interval> {
    if let Some(at) = &time.date_time {
        let at = DateTime::parse_from_rfc3339(at).ok()?.to_utc();
        return Some(Interval { start: at, end: at });
    }
    let day = NaiveDate::parse_from_str(time.date.as_deref()?, "%Y-%m-%d").ok()?;
    // An all-day end is exclusive: the day before it is the last one.
    let day = if end { day.pred_opt()? } else { day };
    local_days(day, day, zone)
}

/// What one listed event means for the expert's time.
pub fn busy_of(event: &Event, rules: &BusyRules<'_>) -> EventBusy {
    if let Some(appointment) = appointment_of(&event.id) {
        let span = match (
            instant(&event.start, rules.zone, false),
            instant(&event.end, rules.zone, true),
        ) {
            (Some(start), Some(end)) => Some(Interval {
                start: start.start,
                end: end.end,
            }),
            _ => None,
        };
        return EventBusy::Own { appointment, span };
    }
    if event.status == "cancelled" {
        return EventBusy::Free;
    }
    let own = event.attendees.iter().find(|a| {
        a.is_self
            || rules
                .own_addresses
                .iter()
                .any(|own| own.eq_ignore_ascii_case(&a.email))
    });
    let response = own.map_or("", |a| a.response_status.as_str());
    let free = event.transparency == "transparent"
        || response == "declined"
        || event.event_type == "workingLocation"
        || (event.event_type == "outOfOffice" && !rules.out_of_office_blocks)
        || ((event.status == "tentative" || response == "tentative") && !rules.tentative_blocks);
    if free {
        return EventBusy::Free;
    }
    let (Some(start), Some(end)) = (
        instant(&event.start, rules.zone, false),
        instant(&event.end, rules.zone, true),
    ) else {
        return EventBusy::Unreadable("the event has no readable start or end".into());
    };
    let interval = Interval {
        start: start.start,
        end: end.end,
    };
    if interval.start < interval.end
        && interval.start < rules.window.end
        && interval.end > rules.window.start
    {
        EventBusy::Busy(vec![interval])
    } else {
        EventBusy::Free
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::Interval;

    fn rules<'a>(addresses: &'a [String]) -> BusyRules<'a> {
        BusyRules {
            zone: chrono_tz::Europe::Berlin,
            window: Interval {
                start: "2026-12-01T00:00:00Z".parse().unwrap(),
                end: "2027-02-01T00:00:00Z".parse().unwrap(),
            },
            own_addresses: addresses,
            tentative_blocks: true,
            out_of_office_blocks: true,
        }
    }

    fn event(json: Value) -> Event {
        serde_json::from_value(json).unwrap()
    }

    fn timed(extra: Value) -> Event {
        let mut base = json!({"id": "e1", "etag": "\"1\"", "status": "confirmed",
            "start": {"dateTime": "2026-12-07T10:00:00+01:00"},
            "end": {"dateTime": "2026-12-07T11:00:00+01:00"}});
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        event(base)
    }

    fn busy(from: &str, to: &str) -> EventBusy {
        EventBusy::Busy(vec![Interval {
            start: from.parse().unwrap(),
            end: to.parse().unwrap(),
        }])
    }

    #[test]
    fn our_event_ids_round_trip_in_base32hex() {
        let appointment = AppointmentId::new();
        let id = event_id(appointment);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c)),
            "{id}"
        );
        assert!((5..=1024).contains(&id.len()));
        assert_eq!(appointment_of(&id), Some(appointment));
        assert_eq!(appointment_of("mktzz"), None);
        assert_eq!(appointment_of("e1"), None);
    }

    #[test]
    fn each_kind_of_google_event_blocks_or_frees_as_documented() {
        let none: Vec<String> = Vec::new();
        let ada = vec!["ada@example.com".to_owned()];
        let blocked = busy("2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z");
        let (plain, with_ada) = (rules(&none), rules(&ada));
        let cases: Vec<(&str, Event, &BusyRules<'_>, EventBusy)> = vec![
            ("opaque", timed(json!({})), &plain, blocked.clone()),
            (
                "transparent",
                timed(json!({"transparency": "transparent"})),
                &plain,
                EventBusy::Free,
            ),
            (
                "cancelled",
                timed(json!({"status": "cancelled"})),
                &plain,
                EventBusy::Free,
            ),
            (
                "declined by self",
                timed(
                    json!({"attendees": [{"email": "x@y.z", "self": true, "responseStatus": "declined"}]}),
                ),
                &plain,
                EventBusy::Free,
            ),
            (
                "declined under the expert's address",
                timed(
                    json!({"attendees": [{"email": "Ada@Example.com", "responseStatus": "declined"}]}),
                ),
                &with_ada,
                EventBusy::Free,
            ),
            (
                "accepted by self",
                timed(
                    json!({"attendees": [{"email": "x@y.z", "self": true, "responseStatus": "accepted"}]}),
                ),
                &plain,
                blocked.clone(),
            ),
            (
                "working location",
                timed(json!({"eventType": "workingLocation"})),
                &plain,
                EventBusy::Free,
            ),
            (
                "out of office",
                timed(json!({"eventType": "outOfOffice"})),
                &plain,
                blocked.clone(),
            ),
            (
                "tentative",
                timed(json!({"status": "tentative"})),
                &plain,
                blocked.clone(),
            ),
            (
                "all day in the expert's zone",
                event(
                    json!({"id": "d1", "start": {"date": "2026-12-08"}, "end": {"date": "2026-12-09"}}),
                ),
                &plain,
                busy("2026-12-07T23:00:00Z", "2026-12-08T23:00:00Z"),
            ),
            (
                "outside the window",
                event(
                    json!({"id": "o1", "start": {"dateTime": "2027-03-01T10:00:00Z"}, "end": {"dateTime": "2027-03-01T11:00:00Z"}}),
                ),
                &plain,
                EventBusy::Free,
            ),
        ];
        for (case, event, rules, expected) in cases {
            assert_eq!(busy_of(&event, rules), expected, "{case}");
        }
        // Tentative and out-of-office are the expert's choice.
        let mut relaxed = rules(&none);
        relaxed.tentative_blocks = false;
        relaxed.out_of_office_blocks = false;
        for extra in [
            json!({"status": "tentative"}),
            json!({"eventType": "outOfOffice"}),
            json!({"attendees": [{"email": "x", "self": true, "responseStatus": "tentative"}]}),
        ] {
            assert_eq!(
                busy_of(&timed(extra.clone()), &relaxed),
                EventBusy::Free,
                "{extra}"
            );
        }
        assert_eq!(
            busy_of(
                &event(json!({"id": "bad", "start": {"dateTime": "soon"}, "end": {}})),
                &rules(&none)
            ),
            EventBusy::Unreadable("the event has no readable start or end".into())
        );
    }

    #[test]
    fn our_own_events_are_recognised_with_the_time_they_show() {
        let appointment = AppointmentId::new();
        let none: Vec<String> = Vec::new();
        let ours = event(json!({"id": event_id(appointment), "status": "confirmed",
            "start": {"dateTime": "2026-12-07T15:00:00Z"}, "end": {"dateTime": "2026-12-07T16:00:00Z"}}));
        assert_eq!(
            busy_of(&ours, &rules(&none)),
            EventBusy::Own {
                appointment,
                span: Some(Interval {
                    start: "2026-12-07T15:00:00Z".parse().unwrap(),
                    end: "2026-12-07T16:00:00Z".parse().unwrap(),
                }),
            }
        );
    }

    #[test]
    fn meet_links_are_read_as_pending_ready_or_failed() {
        let with = |data: Value| Event {
            conference_data: Some(data),
            ..Event::default()
        };
        assert_eq!(Event::default().meet(), Meet::NotAsked);
        assert_eq!(
            with(json!({"createRequest": {"status": {"statusCode": "pending"}}})).meet(),
            Meet::Pending
        );
        assert_eq!(
            with(json!({"createRequest": {"status": {"statusCode": "failure"}}})).meet(),
            Meet::Failed
        );
        assert_eq!(
            with(json!({"createRequest": {"status": {"statusCode": "success"}},
                        "entryPoints": [{"entryPointType": "phone", "uri": "tel:1"},
                                        {"entryPointType": "video", "uri": "https://meet.google.com/a-b-c"}]}))
            .meet(),
            Meet::Ready("https://meet.google.com/a-b-c".into())
        );
    }
}
