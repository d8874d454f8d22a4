//! Microsoft Graph v1.0: the requests the sync makes, the shapes it reads, and what an event
//! means for the expert's time (pure).
//!
//! What we found: v1.0 documents `calendarView/delta` for the default calendar only (the
//! per-calendar form is beta). So the default calendar is read incrementally, from the whole
//! `@odata.deltaLink` kept (410 `syncStateNotFound`: a new round), and any other selected
//! calendar with a windowed `calendarView` at each sync, compared by `@odata.etag` against
//! what is stored (only changes are written). Every request says
//! `Prefer: outlook.timezone="UTC", IdType="ImmutableId"`: times come in UTC and ids stay
//! put when an event moves between folders.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use super::event::{BookingEvent, EventBusy, local_days};
use super::ical::{self, BusyRules};
use super::rest::{ProviderError, RestClient, endpoint, parse};
use crate::availability::Interval;
use crate::ids::AppointmentId;

const PREFER: &str = "outlook.timezone=\"UTC\", IdType=\"ImmutableId\", odata.maxpagesize=100";
/// Teams, as Graph names it.
pub const TEAMS: &str = "teamsForBusiness";
/// The extended property that names the appointment on our events: Graph documents filtering
/// events by it, while what it answers to a repeated `transactionId` is not documented.
const APPOINTMENT_PROPERTY: &str =
    "String {13db73c1-6c8a-43bc-81da-ae076aa23917} Name MarketplaceAppointmentId";

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calendar {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub can_edit: bool,
    #[serde(default)]
    pub is_default_calendar: bool,
    #[serde(default)]
    pub allowed_online_meeting_providers: Vec<String>,
    #[serde(default)]
    pub owner: Option<EmailAddress>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct EmailAddress {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub address: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeZone {
    #[serde(default)]
    pub date_time: String,
    #[serde(default)]
    pub time_zone: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ResponseStatus {
    #[serde(default)]
    pub response: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OnlineMeeting {
    pub join_url: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    #[serde(default, rename = "@odata.etag")]
    pub etag: String,
    #[serde(default)]
    pub start: DateTimeZone,
    #[serde(default)]
    pub end: DateTimeZone,
    #[serde(default)]
    pub is_all_day: bool,
    #[serde(default)]
    pub is_cancelled: bool,
    #[serde(default)]
    pub show_as: String,
    #[serde(default)]
    pub response_status: ResponseStatus,
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Kept as text: a format Graph changes must not make the event unreadable.
    #[serde(default)]
    pub created_date_time: Option<String>,
    #[serde(default)]
    pub is_online_meeting: bool,
    #[serde(default)]
    pub online_meeting: Option<OnlineMeeting>,
    /// Set on rows of a delta round that report a removal.
    #[serde(default, rename = "@removed")]
    pub removed: Option<Value>,
}

impl Event {
    pub fn teams_link(&self) -> Option<String> {
        self.online_meeting.as_ref()?.join_url.clone()
    }
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Page<T> {
    #[serde(default)]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
}

/// A whole round (every page).
pub struct Round {
    pub events: Vec<Event>,
    /// The link of the next round (delta only).
    pub delta_link: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub expiration_date_time: String,
}

/// The Graph client; cheap to clone.
#[derive(Clone, Debug)]
pub struct Graph {
    rest: RestClient,
    base: String,
}

impl Graph {
    /// `base`: `https://graph.microsoft.com/v1.0` (or our test server's).
    pub fn new(rest: RestClient, base: &str) -> Self {
        Graph {
            rest,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ProviderError> {
        endpoint(&self.base, segments)
    }

    /// A link Graph gave us must lead back to Graph: a token never goes anywhere else.
    fn link(&self, link: &str) -> Result<Url, ProviderError> {
        if !link.starts_with(&format!("{}/", self.base)) {
            return Err(ProviderError::Protocol(format!(
                "a paging link outside {}",
                self.base
            )));
        }
        Url::parse(link).map_err(|e| ProviderError::Protocol(e.to_string()))
    }

    /// Every page from `first` on, following `@odata.nextLink`; the last page's
    /// `@odata.deltaLink` with them.
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        first: Url,
    ) -> Result<(Vec<T>, Option<String>), ProviderError> {
        let mut items = Vec::new();
        let mut url = first;
        loop {
            let page: Page<T> = self.rest.get(token, url, &[("prefer", PREFER)]).await?;
            items.extend(page.value);
            match (page.next_link, page.delta_link) {
                (Some(next), _) => url = self.link(&next)?,
                (None, delta_link) => return Ok((items, delta_link)),
            }
        }
    }

    async fn pages(&self, token: &str, first: Url) -> Result<Round, ProviderError> {
        let (events, delta_link) = self.all_pages(token, first).await?;
        Ok(Round { events, delta_link })
    }

    /// Every calendar of the mailbox (Graph pages them, ten at a time by default).
    pub async fn calendars(&self, token: &str) -> Result<Vec<Calendar>, ProviderError> {
        let (calendars, _) = self
            .all_pages(token, self.url(&["me", "calendars"])?)
            .await?;
        Ok(calendars)
    }

    /// The default calendar's changes since `delta_link`, or (without one) a first round over
    /// `window`.
    pub async fn delta(
        &self,
        token: &str,
        delta_link: Option<&str>,
        window: Interval,
    ) -> Result<Round, ProviderError> {
        let first = match delta_link {
            Some(link) => self.link(link)?,
            None => {
                let mut url = self.url(&["me", "calendarView", "delta"])?;
                url.query_pairs_mut()
                    .append_pair("startDateTime", &window.start.to_rfc3339())
                    .append_pair("endDateTime", &window.end.to_rfc3339());
                url
            }
        };
        self.pages(token, first).await
    }

    /// Every event of a calendar over `window` (occurrences expanded).
    pub async fn view(
        &self,
        token: &str,
        calendar: &str,
        window: Interval,
    ) -> Result<Vec<Event>, ProviderError> {
        let mut url = self.url(&["me", "calendars", calendar, "calendarView"])?;
        url.query_pairs_mut()
            .append_pair("startDateTime", &window.start.to_rfc3339())
            .append_pair("endDateTime", &window.end.to_rfc3339());
        Ok(self.pages(token, url).await?.events)
    }

    pub async fn get(&self, token: &str, id: &str) -> Result<Event, ProviderError> {
        self.rest
            .get(
                token,
                self.url(&["me", "events", id])?,
                &[("prefer", PREFER)],
            )
            .await
    }

    /// Our events for `appointment` in `calendar`, found by their extended property.
    pub async fn own_events(
        &self,
        token: &str,
        calendar: &str,
        appointment: AppointmentId,
    ) -> Result<Vec<Event>, ProviderError> {
        let mut url = self.url(&["me", "calendars", calendar, "events"])?;
        url.query_pairs_mut().append_pair(
            "$filter",
            &format!(
                "singleValueExtendedProperties/Any(ep: ep/id eq '{APPOINTMENT_PROPERTY}' and ep/value eq '{appointment}')"
            ),
        );
        Ok(self.pages(token, url).await?.events)
    }

    /// Creates our event (its answer is not relied on: see `own_events`).
    pub async fn create(
        &self,
        token: &str,
        calendar: &str,
        body: &Value,
    ) -> Result<Event, ProviderError> {
        let url = self.url(&["me", "calendars", calendar, "events"])?;
        let answer = self
            .rest
            .send(Method::POST, token, url, Some(body), &[("prefer", PREFER)])
            .await?;
        parse(answer.body)
    }

    pub async fn patch(
        &self,
        token: &str,
        id: &str,
        body: &Value,
        etag: Option<&str>,
    ) -> Result<Event, ProviderError> {
        let url = self.url(&["me", "events", id])?;
        let mut headers = vec![("prefer", PREFER)];
        headers.extend(etag.map(|e| ("if-match", e)));
        let answer = self
            .rest
            .send(Method::PATCH, token, url, Some(body), &headers)
            .await?;
        parse(answer.body)
    }

    pub async fn delete(
        &self,
        token: &str,
        id: &str,
        etag: Option<&str>,
    ) -> Result<(), ProviderError> {
        let url = self.url(&["me", "events", id])?;
        let headers: Vec<(&str, &str)> = etag.map(|e| ("if-match", e)).into_iter().collect();
        self.rest
            .send(Method::DELETE, token, url, None, &headers)
            .await
            .map(drop)
    }

    /// A subscription on the mailbox's events; Graph validates `address` (and the lifecycle
    /// one) with the `validationToken` handshake before it answers.
    pub async fn subscribe(
        &self,
        token: &str,
        address: &str,
        client_state: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<Subscription, ProviderError> {
        let body = json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": address,
            "lifecycleNotificationUrl": address,
            "resource": "me/events",
            "expirationDateTime": expires_at.to_rfc3339(),
            "clientState": client_state,
        });
        let answer = self
            .rest
            .send(
                Method::POST,
                token,
                self.url(&["subscriptions"])?,
                Some(&body),
                &[],
            )
            .await?;
        parse(answer.body)
    }

    pub async fn renew(
        &self,
        token: &str,
        id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<Subscription, ProviderError> {
        let body = json!({"expirationDateTime": expires_at.to_rfc3339()});
        let answer = self
            .rest
            .send(
                Method::PATCH,
                token,
                self.url(&["subscriptions", id])?,
                Some(&body),
                &[],
            )
            .await?;
        parse(answer.body)
    }

    pub async fn unsubscribe(&self, token: &str, id: &str) -> Result<(), ProviderError> {
        self.rest
            .send(
                Method::DELETE,
                token,
                self.url(&["subscriptions", id])?,
                None,
                &[],
            )
            .await
            .map(drop)
    }
}

/// The body of our event: title, times (UTC), the link, `transactionId`, and a Teams request
/// when asked for. No attendees (Outlook would send them invitations), no notes, no money.
pub fn event_body(event: &BookingEvent, with_teams: bool) -> Value {
    let time = |t: DateTime<Utc>| json!({"dateTime": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"});
    let mut body = json!({
        "subject": event.summary,
        "body": {"contentType": "text", "content": event.description},
        "start": time(event.start),
        "end": time(event.end),
        "showAs": "busy",
        "transactionId": event.appointment_id.to_string(),
        "singleValueExtendedProperties": [
            {"id": APPOINTMENT_PROPERTY, "value": event.appointment_id.to_string()},
        ],
    });
    if let Some(link) = &event.meeting_url {
        body["location"] = json!({"displayName": link});
    }
    if with_teams {
        body["isOnlineMeeting"] = json!(true);
        body["onlineMeetingProvider"] = json!(TEAMS);
    }
    body
}

/// What a patch of our event changes when the booking moves (never the online meeting).
pub fn patch_body(event: &BookingEvent) -> Value {
    let mut body = event_body(event, false);
    if let Some(fields) = body.as_object_mut() {
        fields.remove("transactionId");
        fields.remove("singleValueExtendedProperties");
    }
    body
}

/// Of the events carrying one appointment's property, the one that stands (the earliest
/// made; ties by id, so every concurrent try picks the same) and the copies to remove.
pub fn standing(mut events: Vec<Event>) -> Option<(Event, Vec<Event>)> {
    let made = |event: &Event| {
        event
            .created_date_time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    };
    events.sort_by(|a, b| (made(a), &a.id).cmp(&(made(b), &b.id)));
    let mut events = events.into_iter();
    let first = events.next()?;
    Some((first, events.collect()))
}

fn instant(time: &DateTimeZone) -> Option<DateTime<Utc>> {
    let local = NaiveDateTime::parse_from_str(&time.date_time, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let zone = if time.time_zone.is_empty() {
        chrono_tz::UTC
    } else {
        ical::named_zone(&time.time_zone)?
    };
    use chrono::TimeZone;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn day_of(time: &DateTimeZone) -> Option<NaiveDate> {
    NaiveDateTime::parse_from_str(&time.date_time, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.date())
}

/// What one event (or delta row) means for the expert's time.
pub fn busy_of(event: &Event, rules: &BusyRules<'_>) -> EventBusy {
    if let Some(appointment) = event
        .transaction_id
        .as_deref()
        .and_then(|t| t.parse::<AppointmentId>().ok())
    {
        let span = match (instant(&event.start), instant(&event.end)) {
            (Some(start), Some(end)) => Some(Interval { start, end }),
            _ => None,
        };
        return EventBusy::Own { appointment, span };
    }
    if event.removed.is_some() || event.is_cancelled {
        return EventBusy::Free;
    }
    let free = match event.show_as.as_str() {
        "free" | "workingElsewhere" => true,
        "tentative" => !rules.tentative_blocks,
        "oof" => !rules.out_of_office_blocks,
        _ => false,
    } || event.response_status.response == "declined"
        || (event.response_status.response == "tentativelyAccepted" && !rules.tentative_blocks);
    if free {
        return EventBusy::Free;
    }
    let interval = if event.is_all_day {
        // All-day events are dates: the expert's local days, end exclusive.
        match (
            day_of(&event.start),
            day_of(&event.end).and_then(|d| d.pred_opt()),
        ) {
            (Some(first), Some(last)) if last >= first => local_days(first, last, rules.zone),
            _ => None,
        }
    } else {
        match (instant(&event.start), instant(&event.end)) {
            (Some(start), Some(end)) => Some(Interval { start, end }),
            _ => None,
        }
    };
    let Some(interval) = interval else {
        return EventBusy::Unreadable("the event has no readable start or end".into());
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

    fn rules(tentative: bool, oof: bool) -> BusyRules<'static> {
        BusyRules {
            zone: chrono_tz::America::New_York,
            window: Interval {
                start: "2026-12-01T00:00:00Z".parse().unwrap(),
                end: "2027-02-01T00:00:00Z".parse().unwrap(),
            },
            own_addresses: &[],
            tentative_blocks: tentative,
            out_of_office_blocks: oof,
        }
    }

    fn event(extra: Value) -> Event {
        let mut base = json!({"id": "AAMk1", "@odata.etag": "W/\"1\"",
            "start": {"dateTime": "2026-12-07T15:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-07T16:00:00.0000000", "timeZone": "UTC"},
            "showAs": "busy", "isAllDay": false, "isCancelled": false,
            "responseStatus": {"response": "organizer"}});
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    fn busy(from: &str, to: &str) -> EventBusy {
        EventBusy::Busy(vec![Interval {
            start: from.parse().unwrap(),
            end: to.parse().unwrap(),
        }])
    }

    #[test]
    fn each_kind_of_outlook_event_blocks_or_frees_as_documented() {
        let blocked = busy("2026-12-07T15:00:00Z", "2026-12-07T16:00:00Z");
        let cases = [
            ("busy", json!({}), blocked.clone()),
            ("free", json!({"showAs": "free"}), EventBusy::Free),
            (
                "working elsewhere",
                json!({"showAs": "workingElsewhere"}),
                EventBusy::Free,
            ),
            ("tentative", json!({"showAs": "tentative"}), blocked.clone()),
            ("out of office", json!({"showAs": "oof"}), blocked.clone()),
            ("unknown", json!({"showAs": "unknown"}), blocked.clone()),
            ("cancelled", json!({"isCancelled": true}), EventBusy::Free),
            (
                "declined",
                json!({"responseStatus": {"response": "declined"}}),
                EventBusy::Free,
            ),
            (
                "removed in a delta round",
                json!({"@removed": {"reason": "deleted"}}),
                EventBusy::Free,
            ),
            (
                "a Windows zone",
                json!({"start": {"dateTime": "2026-12-07T10:00:00", "timeZone": "Eastern Standard Time"},
                       "end": {"dateTime": "2026-12-07T11:00:00", "timeZone": "Eastern Standard Time"}}),
                busy("2026-12-07T15:00:00Z", "2026-12-07T16:00:00Z"),
            ),
            (
                "all day in the expert's zone",
                json!({"isAllDay": true,
                       "start": {"dateTime": "2026-12-08T00:00:00.0000000", "timeZone": "UTC"},
                       "end": {"dateTime": "2026-12-10T00:00:00.0000000", "timeZone": "UTC"}}),
                busy("2026-12-08T05:00:00Z", "2026-12-10T05:00:00Z"),
            ),
            (
                "outside the window",
                json!({"start": {"dateTime": "2027-06-01T10:00:00", "timeZone": "UTC"},
                       "end": {"dateTime": "2027-06-01T11:00:00", "timeZone": "UTC"}}),
                EventBusy::Free,
            ),
        ];
        for (case, extra, expected) in cases {
            assert_eq!(
                busy_of(&event(extra), &rules(true, true)),
                expected,
                "{case}"
            );
        }
        for extra in [
            json!({"showAs": "tentative"}),
            json!({"showAs": "oof"}),
            json!({"responseStatus": {"response": "tentativelyAccepted"}}),
        ] {
            assert_eq!(
                busy_of(&event(extra.clone()), &rules(false, false)),
                EventBusy::Free,
                "{extra}"
            );
        }
        assert!(matches!(
            busy_of(
                &event(json!({"start": {"dateTime": "soon"}})),
                &rules(true, true)
            ),
            EventBusy::Unreadable(_)
        ));
    }

    #[test]
    fn the_earliest_copy_of_our_event_stands() {
        let made = |id: &str, at: &str| event(json!({"id": id, "createdDateTime": at}));
        let (kept, copies) = standing(vec![
            made("b", "2026-12-07T10:00:00.1234567Z"),
            made("c", "2026-12-07T10:00:00.0000001Z"),
            made("a", "2026-12-07T10:00:00.1234567Z"),
        ])
        .unwrap();
        assert_eq!(kept.id, "c");
        let ids: Vec<&str> = copies.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "ties by id");
        assert!(standing(Vec::new()).is_none());
    }

    #[test]
    fn our_events_are_recognised_by_their_transaction_id() {
        let appointment = AppointmentId::new();
        let ours = event(json!({"transactionId": appointment.to_string()}));
        assert!(matches!(
            busy_of(&ours, &rules(true, true)),
            EventBusy::Own { appointment: a, span: Some(_) } if a == appointment
        ));
        let body = event_body(
            &BookingEvent {
                appointment_id: appointment,
                sequence: 0,
                summary: "Consultation".into(),
                description: "Client: Bob".into(),
                meeting_url: Some("https://meet.jit.si/room".into()),
                start: "2026-12-07T15:00:00Z".parse().unwrap(),
                end: "2026-12-07T16:00:00Z".parse().unwrap(),
                ics: String::new(),
            },
            true,
        );
        assert_eq!(body["start"]["dateTime"], "2026-12-07T15:00:00");
        assert_eq!(body["onlineMeetingProvider"], TEAMS);
        assert_eq!(
            body["singleValueExtendedProperties"][0]["value"],
            appointment.to_string()
        );
        assert!(body.get("attendees").is_none());
    }
}
