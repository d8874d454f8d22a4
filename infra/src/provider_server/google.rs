//! Google Calendar API v3, the subset the sync uses: calendarList, events list (singleEvents,
//! syncToken, paging), insert (client ids, Meet), get, patch and delete (If-Match), watch and
//! channels.stop. Recurring series are held as their instances (what `singleEvents=true`
//! returns), so nothing here expands rules.

use chrono::{DateTime, Duration, Utc};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    Answer, Calendar, Call, Family, Notice, Watch, World, calendar_mut, error, remove, upsert,
};

const PAGE: usize = 250;

fn failure(status: StatusCode, reason: &str, message: &str) -> Answer {
    error(Family::Google, status, reason, message)
}

/// An event written by the account's owner in their calendar app: server fields filled in.
pub(super) fn external(mut event: Value, serial: u64, now: DateTime<Utc>) -> Value {
    if event["id"].as_str().is_none() {
        event["id"] = json!(format!("ext{serial:012}"));
    }
    stamp(&mut event, serial, now);
    if event["status"].is_null() {
        event["status"] = json!("confirmed");
    }
    event
}

fn stamp(event: &mut Value, serial: u64, now: DateTime<Utc>) {
    event["kind"] = json!("calendar#event");
    event["etag"] = json!(format!("\"{}\"", 3_181_161_784_712_000_u64 + serial));
    event["updated"] = json!(now.to_rfc3339());
}

fn end_of(event: &Value) -> Option<DateTime<Utc>> {
    let end = &event["end"];
    if let Some(at) = end["dateTime"].as_str() {
        return DateTime::parse_from_rfc3339(at).ok().map(|t| t.to_utc());
    }
    let day = chrono::NaiveDate::parse_from_str(end["date"].as_str()?, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

pub(super) fn notice(watch: &Watch, state: &str) -> Notice {
    let mut headers = vec![
        ("X-Goog-Channel-ID".to_owned(), watch.id.clone()),
        (
            "X-Goog-Channel-Expiration".to_owned(),
            watch.expires_at.to_rfc2822(),
        ),
        ("X-Goog-Resource-ID".to_owned(), watch.resource_id.clone()),
        (
            "X-Goog-Resource-URI".to_owned(),
            format!(
                "https://www.googleapis.com/calendar/v3/calendars/{}/events?alt=json",
                watch.calendar.clone().unwrap_or_default()
            ),
        ),
        ("X-Goog-Resource-State".to_owned(), state.to_owned()),
        (
            "X-Goog-Message-Number".to_owned(),
            watch.messages.to_string(),
        ),
    ];
    if let Some(token) = &watch.secret {
        headers.push(("X-Goog-Channel-Token".to_owned(), token.clone()));
    }
    Notice {
        url: watch.address.clone(),
        headers,
        body: String::new(),
    }
}

/// A client-supplied id: base32hex characters (a-v, 0-9), 5 to 1024 of them.
fn valid_id(id: &str) -> bool {
    (5..=1024).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c))
}

pub(super) fn route(
    world: &mut World,
    _base: &str,
    account: &str,
    rest: &[&str],
    call: &Call<'_>,
) -> (Answer, Vec<Notice>) {
    let decoded: Vec<String> = rest.iter().map(|s| super::decode(s)).collect();
    let rest: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let refuse_meet = world
        .refuse_conferencing
        .get(&Family::Google)
        .copied()
        .unwrap_or(false);
    let serial = world.next_serial();
    let now = world.now;
    match (call.method, rest.as_slice()) {
        (&Method::GET, ["calendar", "v3", "users", "me", "calendarList"]) => {
            let items: Vec<Value> = world
                .accounts
                .get(&(Family::Google, account.to_lowercase()))
                .map(|a| a.calendars.iter().map(list_entry).collect())
                .unwrap_or_default();
            (
                (
                    StatusCode::OK,
                    json!({"kind": "calendar#calendarList", "etag": "\"p32ofplf5q4ve0g\"",
                           "nextSyncToken": "CPDAlvWDx70CEPDAlvWDx70CGAU=", "items": items}),
                ),
                Vec::new(),
            )
        }
        (&Method::POST, ["calendar", "v3", "channels", "stop"]) => {
            let body = call.json();
            let before = world.watches.len();
            world.watches.retain(|w| {
                !(w.family == Family::Google
                    && w.id == body["id"].as_str().unwrap_or_default()
                    && w.resource_id == body["resourceId"].as_str().unwrap_or_default())
            });
            let answer = if world.watches.len() < before {
                (StatusCode::NO_CONTENT, Value::Null)
            } else {
                failure(
                    StatusCode::NOT_FOUND,
                    "notFound",
                    "Channel not found for project.",
                )
            };
            (answer, Vec::new())
        }
        (method, ["calendar", "v3", "calendars", calendar, "events", tail @ ..]) => {
            let calendar = (*calendar).to_owned();
            let Some(found) = calendar_mut(world, Family::Google, account, &calendar) else {
                return (
                    failure(StatusCode::NOT_FOUND, "notFound", "Not Found"),
                    Vec::new(),
                );
            };
            match (method, tail) {
                (&Method::GET, []) => (list(found, call, now), Vec::new()),
                (&Method::POST, []) => {
                    let answer = insert(found, call, (serial, now), refuse_meet);
                    let id = answer.1["id"].as_str().unwrap_or_default().to_owned();
                    let notices = if answer.0 == StatusCode::OK {
                        super::changed(world, Family::Google, account, &calendar, &id, "created")
                    } else {
                        Vec::new()
                    };
                    (answer, notices)
                }
                (&Method::POST, ["watch"]) => {
                    let body = call.json();
                    let id = body["id"].as_str().unwrap_or_default();
                    // Google's channel ids: at most 64 characters of [A-Za-z0-9-_+/=].
                    let id_valid = !id.is_empty()
                        && id.len() <= 64
                        && id
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_+/=".contains(c));
                    if !id_valid {
                        return (
                            failure(StatusCode::BAD_REQUEST, "invalid", "Invalid channel id."),
                            Vec::new(),
                        );
                    }
                    if !super::deliverable(body["address"].as_str().unwrap_or_default()) {
                        return (
                            failure(
                                StatusCode::BAD_REQUEST,
                                "push.webhookUrlNotHttps",
                                "WebHook callback must be HTTPS.",
                            ),
                            Vec::new(),
                        );
                    }
                    let expires_at = now
                        + Duration::seconds(
                            body["params"]["ttl"]
                                .as_str()
                                .and_then(|t| t.parse().ok())
                                .unwrap_or(604_800),
                        );
                    let watch = Watch {
                        family: Family::Google,
                        id: body["id"].as_str().unwrap_or_default().to_owned(),
                        account: account.to_owned(),
                        calendar: Some(calendar.clone()),
                        address: body["address"].as_str().unwrap_or_default().to_owned(),
                        lifecycle_address: None,
                        secret: body["token"].as_str().map(str::to_owned),
                        resource_id: format!("ret{serial:08}"),
                        expires_at,
                        messages: 1,
                    };
                    let answer = json!({
                        "kind": "api#channel",
                        "id": watch.id,
                        "resourceId": watch.resource_id,
                        "resourceUri": format!("https://www.googleapis.com/calendar/v3/calendars/{calendar}/events?alt=json"),
                        "token": watch.secret,
                        "expiration": expires_at.timestamp_millis().to_string(),
                    });
                    let sync = notice(&watch, "sync");
                    world.watches.push(watch);
                    ((StatusCode::OK, answer), vec![sync])
                }
                (method, [id]) => {
                    let id = (*id).to_owned();
                    let answer = one(found, method, &id, call, (serial, now));
                    let notices = if answer.0.is_success() && *method != Method::GET {
                        let change = if *method == Method::DELETE {
                            "deleted"
                        } else {
                            "updated"
                        };
                        super::changed(world, Family::Google, account, &calendar, &id, change)
                    } else {
                        Vec::new()
                    };
                    (answer, notices)
                }
                _ => (
                    failure(StatusCode::NOT_FOUND, "notFound", "Not Found"),
                    Vec::new(),
                ),
            }
        }
        _ => (
            failure(StatusCode::NOT_FOUND, "notFound", "Not Found"),
            Vec::new(),
        ),
    }
}

fn list_entry(calendar: &Calendar) -> Value {
    let mut entry = json!({
        "kind": "calendar#calendarListEntry",
        "etag": "\"1651218491419000\"",
        "id": calendar.id,
        "summary": calendar.name,
        "timeZone": "UTC",
        "accessRole": if calendar.writable { "owner" } else { "reader" },
        "defaultReminders": [],
        "conferenceProperties": {"allowedConferenceSolutionTypes":
            if calendar.conferencing { json!(["hangoutsMeet"]) } else { json!([]) }},
    });
    if calendar.primary {
        entry["primary"] = json!(true);
    }
    entry
}

/// `events.list`: a full listing (optionally from `timeMin`) or the changes since a sync token,
/// a page at a time; the last page carries `nextSyncToken`. As Google's sync guide says, every
/// later page repeats the first page's query exactly (its `syncToken` or `timeMin` included)
/// with the `pageToken` added; a page asked for with another query is a 400.
fn list(calendar: &Calendar, call: &Call<'_>, now: DateTime<Utc>) -> Answer {
    let q = &call.query;
    let mut asked: Vec<String> = q
        .iter()
        .filter(|(k, _)| k.as_str() != "pageToken")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    asked.sort();
    let asked = asked.join("&");
    // A page token carries where the listing stands and the query it continues:
    // `<offset>|<snapshot>|<query>`.
    let (offset, snapshot) = match q.get("pageToken") {
        Some(page) => {
            let parts: Vec<&str> = page.splitn(3, '|').collect();
            let [offset, snapshot, query] = parts.as_slice() else {
                return failure(StatusCode::BAD_REQUEST, "invalid", "Invalid page token.");
            };
            if *query != asked {
                return failure(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    "The request's parameters differ from those of the listing this page token continues.",
                );
            }
            (
                offset.parse().unwrap_or(0),
                snapshot.parse().unwrap_or(calendar.counter),
            )
        }
        None => (0, calendar.counter),
    };
    let since = match q.get("syncToken") {
        Some(token) => {
            if q.contains_key("timeMin") || q.contains_key("timeMax") {
                return failure(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    "Sync token cannot be used with timeMin or timeMax.",
                );
            }
            match token
                .strip_prefix("gst")
                .and_then(|n| n.parse::<u64>().ok())
            {
                Some(n) if n >= calendar.valid_from => Some(n),
                _ => {
                    return failure(
                        StatusCode::GONE,
                        "fullSyncRequired",
                        "Sync token is no longer valid, a full sync is required.",
                    );
                }
            }
        }
        None => None,
    };
    let time_min = q.get("timeMin").cloned();
    let from = time_min
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc());
    let page_size: usize = q
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(PAGE)
        .clamp(1, 2500)
        .min(call.page_limit.unwrap_or(usize::MAX));
    let mut matching: Vec<&super::StoredEvent> = calendar
        .events
        .iter()
        .filter(|e| e.changed <= snapshot)
        .filter(|e| match since {
            Some(since) => e.changed > since,
            None => {
                !e.deleted && from.is_none_or(|from| end_of(&e.json).is_none_or(|end| end > from))
            }
        })
        .collect();
    matching.sort_by_key(|e| e.changed);
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|e| {
            if e.deleted {
                json!({"kind": "calendar#event", "etag": e.json["etag"], "id": e.json["id"],
                       "status": "cancelled"})
            } else {
                shown(&e.json)
            }
        })
        .collect();
    let mut body = json!({
        "kind": "calendar#events",
        "etag": format!("\"p3{snapshot}\""),
        "summary": calendar.name,
        "updated": now.to_rfc3339(),
        "timeZone": "UTC",
        "accessRole": if calendar.writable { "owner" } else { "reader" },
        "defaultReminders": [],
        "items": page,
    });
    if offset + page_size < matching.len() {
        body["nextPageToken"] = json!(format!("{}|{snapshot}|{asked}", offset + page_size));
    } else {
        body["nextSyncToken"] = json!(format!("gst{snapshot}"));
    }
    (StatusCode::OK, body)
}

/// The event as the API shows it (internal markers removed).
fn shown(event: &Value) -> Value {
    let mut event = event.clone();
    if let Some(fields) = event.as_object_mut() {
        fields.remove("_meet");
    }
    event
}

fn insert(
    calendar: &mut Calendar,
    call: &Call<'_>,
    (serial, now): (u64, DateTime<Utc>),
    refuse_meet: bool,
) -> Answer {
    if !calendar.writable {
        return failure(
            StatusCode::FORBIDDEN,
            "requiredAccessLevel",
            "You need to have writer access to this calendar.",
        );
    }
    let mut event = call.json();
    if event["start"].is_null() || event["end"].is_null() {
        return failure(StatusCode::BAD_REQUEST, "required", "Missing end time.");
    }
    match event["id"].as_str() {
        Some(id) if !valid_id(id) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "invalid",
                "Invalid resource id value.",
            );
        }
        Some(id) if calendar.events.iter().any(|e| e.json["id"] == id) => {
            return failure(
                StatusCode::CONFLICT,
                "duplicate",
                "The requested identifier already exists.",
            );
        }
        Some(_) => {}
        None => event["id"] = json!(format!("gen{serial:012}")),
    }
    stamp(&mut event, serial, now);
    event["status"] = json!(event["status"].as_str().unwrap_or("confirmed"));
    event["htmlLink"] = json!(format!(
        "https://www.google.com/calendar/event?eid={}",
        event["id"].as_str().unwrap_or_default()
    ));
    event["created"] = event["updated"].clone();
    let wants_meet = call.query.get("conferenceDataVersion").map(String::as_str) == Some("1")
        && !event["conferenceData"]["createRequest"].is_null();
    if wants_meet {
        let status = if refuse_meet || !calendar.conferencing {
            "failure"
        } else {
            // Created asynchronously: the next read finds it ready.
            event["_meet"] = json!(format!("abc-{:04}-xyz", serial % 10_000));
            "pending"
        };
        event["conferenceData"]["createRequest"]["status"] = json!({"statusCode": status});
    }
    upsert(calendar, event.clone());
    (StatusCode::OK, shown(&event))
}

/// get, patch and delete of one event.
fn one(
    calendar: &mut Calendar,
    method: &Method,
    id: &str,
    call: &Call<'_>,
    (serial, now): (u64, DateTime<Utc>),
) -> Answer {
    let Some(stored) = calendar.events.iter_mut().find(|e| e.json["id"] == id) else {
        return failure(StatusCode::NOT_FOUND, "notFound", "Not Found");
    };
    // Google keeps a deleted event: reading it answers it as `cancelled`; changing it is 410.
    if stored.deleted {
        if *method == Method::GET {
            let mut json = shown(&stored.json);
            json["status"] = json!("cancelled");
            return (StatusCode::OK, json);
        }
        return failure(StatusCode::GONE, "deleted", "Resource has been deleted");
    }
    if *method != Method::GET
        && let Some(expected) = call.header("if-match")
        && expected != stored.json["etag"].as_str().unwrap_or_default()
    {
        return failure(
            StatusCode::PRECONDITION_FAILED,
            "conditionNotMet",
            "Precondition Failed",
        );
    }
    match *method {
        Method::GET => {
            // A pending Meet link is ready by the time anyone reads the event again.
            if let Some(code) = stored.json["_meet"].as_str().map(str::to_owned) {
                let link = format!("https://meet.google.com/{code}");
                stored.json["conferenceData"]["createRequest"]["status"] =
                    json!({"statusCode": "success"});
                stored.json["conferenceData"]["entryPoints"] = json!([{"entryPointType": "video", "uri": link, "label": link.trim_start_matches("https://")}]);
                stored.json["conferenceData"]["conferenceSolution"] =
                    json!({"key": {"type": "hangoutsMeet"}, "name": "Google Meet"});
                stored.json["conferenceData"]["conferenceId"] = json!(code);
                stored.json["hangoutLink"] = json!(link);
                if let Some(fields) = stored.json.as_object_mut() {
                    fields.remove("_meet");
                }
                stamp(&mut stored.json, serial, now);
                let json = stored.json.clone();
                upsert(calendar, json.clone());
                return (StatusCode::OK, json);
            }
            (StatusCode::OK, shown(&stored.json))
        }
        Method::PATCH => {
            let mut json = stored.json.clone();
            if let (Some(fields), Some(patch)) = (json.as_object_mut(), call.json().as_object()) {
                for (key, value) in patch {
                    if key != "id" && key != "conferenceData" {
                        fields.insert(key.clone(), value.clone());
                    }
                }
            }
            stamp(&mut json, serial, now);
            upsert(calendar, json.clone());
            (StatusCode::OK, shown(&json))
        }
        Method::DELETE => {
            remove(calendar, id);
            (StatusCode::NO_CONTENT, Value::Null)
        }
        _ => failure(StatusCode::METHOD_NOT_ALLOWED, "notFound", "Not Found"),
    }
}
