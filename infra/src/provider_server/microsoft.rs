//! Microsoft Graph v1.0, the subset the sync uses: `/me`, `/me/calendars`,
//! `/me/calendarView/delta` (the default calendar, as v1.0 documents it), a windowed
//! `calendarView` of any calendar, events create (Teams), listed by an extended property, get,
//! patch and delete (If-Match), and subscriptions on `me/events` with the validation handshake.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    Answer, Calendar, Call, Family, Notice, Watch, World, calendar_mut, error, remove, upsert,
};

const PAGE: usize = 50;
/// Graph's default page of `/me/calendars`.
const CALENDAR_PAGE: usize = 10;
/// Graph's longest lifetime of a subscription on events, as first documented (the docs say
/// 10,080 minutes now): the stricter of the two.
const MAX_SUBSCRIPTION_MINUTES: i64 = 4_230;

fn failure(status: StatusCode, code: &str, message: &str) -> Answer {
    error(Family::Microsoft, status, code, message)
}

pub(super) fn external(mut event: Value, serial: u64, now: DateTime<Utc>) -> Value {
    if event["id"].as_str().is_none() {
        event["id"] = json!(format!("AAMkAGext{serial:010}"));
    }
    stamp(&mut event, serial, now);
    for (field, default) in [
        ("showAs", json!("busy")),
        ("isAllDay", json!(false)),
        ("isCancelled", json!(false)),
        ("type", json!("singleInstance")),
        (
            "responseStatus",
            json!({"response": "organizer", "time": "0001-01-01T00:00:00Z"}),
        ),
    ] {
        if event[field].is_null() {
            event[field] = default;
        }
    }
    event
}

fn stamp(event: &mut Value, serial: u64, now: DateTime<Utc>) {
    let key = format!("DwAAABYAAAC{serial:08}");
    event["@odata.etag"] = json!(format!("W/\"{key}\""));
    event["changeKey"] = json!(key);
    event["lastModifiedDateTime"] = json!(now.to_rfc3339());
}

/// Graph's `dateTimeTimeZone` read as UTC (the fake keeps every time in UTC).
fn instant(value: &Value) -> Option<DateTime<Utc>> {
    let text = value["dateTime"].as_str()?;
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

fn overlaps(event: &Value, window: (DateTime<Utc>, DateTime<Utc>)) -> bool {
    match (instant(&event["start"]), instant(&event["end"])) {
        (Some(start), Some(end)) => start < window.1 && end > window.0,
        _ => false,
    }
}

fn parse_instant(text: Option<&String>) -> Option<DateTime<Utc>> {
    let text = text?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// `odata.maxpagesize` from the Prefer header(s).
fn page_size(call: &Call<'_>) -> usize {
    call.headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("odata.maxpagesize=")?.parse().ok())
        .unwrap_or(PAGE)
        .clamp(1, 1000)
        .min(call.page_limit.unwrap_or(usize::MAX))
}

pub(super) fn notice(watch: &Watch, account_id: &str, event: &str, change: &str) -> Notice {
    let resource = format!("Users/{account_id}/Events/{event}");
    let body = json!({"value": [{
        "subscriptionId": watch.id,
        "subscriptionExpirationDateTime": watch.expires_at.to_rfc3339(),
        "changeType": change,
        "resource": resource,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": resource,
            "@odata.etag": "W/\"DwAAABYAAAC\"",
            "id": event,
        },
        "clientState": watch.secret,
        "tenantId": "9188040d-6c67-4c5b-b112-36a304b66dad",
    }]});
    Notice {
        url: watch.address.clone(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
    }
}

pub(super) fn lifecycle_notice(watch: &Watch, event: &str) -> Option<Notice> {
    let body = json!({"value": [{
        "lifecycleEvent": event,
        "subscriptionId": watch.id,
        "subscriptionExpirationDateTime": watch.expires_at.to_rfc3339(),
        "resource": "me/events",
        "clientState": watch.secret,
        "tenantId": "9188040d-6c67-4c5b-b112-36a304b66dad",
    }]});
    Some(Notice {
        url: watch.lifecycle_address.clone()?,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
    })
}

/// What a new subscription asks for, checked before the validation handshake.
pub(super) struct SubscriptionRequest {
    pub notification_url: String,
    pub lifecycle_url: Option<String>,
}

/// A subscription's end: at most Graph's shortest documented maximum from now.
fn expiry_allowed(
    expiry: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Answer> {
    match expiry {
        Some(expiry) if expiry <= now + Duration::minutes(MAX_SUBSCRIPTION_MINUTES) => Ok(expiry),
        _ => Err(failure(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Subscription expiration can only be 4230 minutes in the future.",
        )),
    }
}

pub(super) fn subscription_request(
    call: &Call<'_>,
    now: DateTime<Utc>,
) -> Result<SubscriptionRequest, Answer> {
    let body = call.json();
    let text = |name: &str| body[name].as_str().map(str::to_owned);
    let (Some(url), Some(resource), Some(_), Some(expiry)) = (
        text("notificationUrl"),
        text("resource"),
        text("changeType"),
        text("expirationDateTime"),
    ) else {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "notificationUrl, resource, changeType and expirationDateTime are required.",
        ));
    };
    if resource != "me/events" {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Only me/events is supported here.",
        ));
    }
    if !super::deliverable(&url)
        || text("lifecycleNotificationUrl").is_some_and(|u| !super::deliverable(&u))
    {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "The notification URL must use the HTTPS scheme.",
        ));
    }
    expiry_allowed(parse_instant(Some(&expiry)), now)?;
    if text("clientState").is_some_and(|s| s.len() > 128) {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "clientState is limited to 128 characters.",
        ));
    }
    Ok(SubscriptionRequest {
        notification_url: url,
        lifecycle_url: text("lifecycleNotificationUrl"),
    })
}

pub(super) fn route(
    world: &mut World,
    base: &str,
    account: &str,
    rest: &[&str],
    call: &Call<'_>,
) -> (Answer, Vec<Notice>) {
    let decoded: Vec<String> = rest.iter().map(|s| super::decode(s)).collect();
    let rest: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let refuse_teams = world
        .refuse_conferencing
        .get(&Family::Microsoft)
        .copied()
        .unwrap_or(false);
    let serial = world.next_serial();
    let now = world.now;
    let Some(owner) = world
        .accounts
        .get(&(Family::Microsoft, account.to_lowercase()))
        .cloned()
    else {
        return (
            failure(StatusCode::NOT_FOUND, "ErrorItemNotFound", "No mailbox."),
            Vec::new(),
        );
    };
    let none = Vec::new();
    match (call.method, rest.as_slice()) {
        (&Method::GET, ["v1.0", "me"]) => (
            (
                StatusCode::OK,
                json!({"@odata.context": format!("{base}/microsoft/v1.0/$metadata#users/$entity"),
                       "id": owner.id, "displayName": owner.email, "mail": owner.email,
                       "userPrincipalName": owner.email}),
            ),
            none,
        ),
        (&Method::GET, ["v1.0", "me", "calendars"]) => {
            // Graph pages calendars, ten by default (`$top` asks for more), with `$skip`.
            let skip: usize = call
                .query
                .get("$skip")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let top: usize = call
                .query
                .get("$top")
                .and_then(|t| t.parse().ok())
                .unwrap_or(CALENDAR_PAGE)
                .clamp(1, 1000);
            let value: Vec<Value> = owner
                .calendars
                .iter()
                .skip(skip)
                .take(top)
                .map(|c| {
                    json!({"id": c.id, "name": c.name, "canEdit": c.writable,
                           "isDefaultCalendar": c.primary, "canShare": c.writable,
                           "allowedOnlineMeetingProviders":
                               if c.conferencing { json!(["teamsForBusiness"]) } else { json!([]) },
                           "defaultOnlineMeetingProvider":
                               if c.conferencing { "teamsForBusiness" } else { "none" },
                           "owner": {"name": owner.email, "address": owner.email}})
                })
                .collect();
            let mut body = json!({
                "@odata.context": format!("{base}/microsoft/v1.0/$metadata#users('{}')/calendars", owner.id),
                "value": value,
            });
            if skip + top < owner.calendars.len() {
                let mut url = reqwest::Url::parse(&format!("{base}/microsoft/v1.0/me/calendars"))
                    .expect("a valid base URL");
                url.query_pairs_mut()
                    .append_pair("$top", &top.to_string())
                    .append_pair("$skip", &(skip + top).to_string());
                body["@odata.nextLink"] = json!(url.to_string());
            }
            ((StatusCode::OK, body), none)
        }
        (&Method::GET, ["v1.0", "me", "calendarView", "delta"]) => {
            let Some(default) = owner.calendars.iter().find(|c| c.primary) else {
                return (
                    failure(StatusCode::NOT_FOUND, "ErrorItemNotFound", "No calendar."),
                    none,
                );
            };
            (delta(default, base, call), none)
        }
        (&Method::GET, ["v1.0", "me", "calendars", calendar, "calendarView"]) => {
            match owner.calendars.iter().find(|c| c.id == *calendar) {
                Some(found) => (view(found, base, call), none),
                None => (
                    failure(StatusCode::NOT_FOUND, "ErrorItemNotFound", "Not found."),
                    none,
                ),
            }
        }
        (&Method::GET, ["v1.0", "me", "calendars", calendar, "events"]) => {
            match owner.calendars.iter().find(|c| c.id == *calendar) {
                Some(found) => (list_events(found, base, call), none),
                None => (
                    failure(StatusCode::NOT_FOUND, "ErrorItemNotFound", "Not found."),
                    none,
                ),
            }
        }
        (&Method::POST, ["v1.0", "me", "calendars", calendar, "events"]) => {
            let calendar = (*calendar).to_owned();
            // What Graph answers to a repeated `transactionId` is not documented: here it makes
            // another event, the least a client can assume.
            let mut event = call.json();
            let Some(target) = calendar_mut(world, Family::Microsoft, account, &calendar) else {
                return (
                    failure(StatusCode::NOT_FOUND, "ErrorItemNotFound", "Not found."),
                    none,
                );
            };
            if !target.writable {
                return (
                    failure(
                        StatusCode::FORBIDDEN,
                        "ErrorAccessDenied",
                        "Access is denied.",
                    ),
                    none,
                );
            }
            if event["start"].is_null() || event["end"].is_null() {
                return (
                    failure(
                        StatusCode::BAD_REQUEST,
                        "ErrorInvalidRequest",
                        "start and end are required.",
                    ),
                    none,
                );
            }
            let id = format!("AAMkAGevt{serial:010}");
            event["id"] = json!(id);
            event["iCalUId"] = json!(format!("040000008200E00074C5B7101A82E008{serial:016}"));
            event["createdDateTime"] = json!(now.to_rfc3339());
            let teams = event["isOnlineMeeting"] == true
                && event["onlineMeetingProvider"] == "teamsForBusiness"
                && target.conferencing
                && !refuse_teams;
            event["isOnlineMeeting"] = json!(teams);
            event["onlineMeeting"] = if teams {
                json!({"joinUrl": format!("https://teams.microsoft.com/l/meetup-join/19%3ameeting_{serial}%40thread.v2/0")})
            } else {
                Value::Null
            };
            let event = external(event, serial, now);
            upsert(target, event.clone());
            let notices =
                super::changed(world, Family::Microsoft, account, &calendar, &id, "created");
            ((StatusCode::CREATED, event), notices)
        }
        (method, ["v1.0", "me", "events", id]) => {
            let id = (*id).to_owned();
            let Some(calendar) = owner
                .calendars
                .iter()
                .find(|c| {
                    c.events
                        .iter()
                        .any(|e| e.json["id"] == id.as_str() && !e.deleted)
                })
                .map(|c| c.id.clone())
            else {
                return (
                    failure(
                        StatusCode::NOT_FOUND,
                        "ErrorItemNotFound",
                        "The specified object was not found in the store.",
                    ),
                    none,
                );
            };
            let Some(target) = calendar_mut(world, Family::Microsoft, account, &calendar) else {
                return (
                    failure(StatusCode::NOT_FOUND, "ErrorItemNotFound", "Not found."),
                    none,
                );
            };
            let Some(current) = target
                .events
                .iter()
                .find(|e| e.json["id"] == id.as_str() && !e.deleted)
                .map(|e| e.json.clone())
            else {
                return (
                    failure(StatusCode::NOT_FOUND, "ErrorItemNotFound", "Not found."),
                    none,
                );
            };
            if *method != Method::GET
                && let Some(expected) = call.header("if-match")
                && expected != current["@odata.etag"].as_str().unwrap_or_default()
            {
                return (
                    failure(
                        StatusCode::PRECONDITION_FAILED,
                        "ErrorIrresolvableConflict",
                        "The change key passed in the request does not match the current change key of the item.",
                    ),
                    none,
                );
            }
            match *method {
                Method::GET => ((StatusCode::OK, current), none),
                Method::PATCH => {
                    let mut json = current;
                    if let (Some(fields), Some(patch)) =
                        (json.as_object_mut(), call.json().as_object())
                    {
                        for (key, value) in patch {
                            if key != "id" && key != "onlineMeeting" {
                                fields.insert(key.clone(), value.clone());
                            }
                        }
                    }
                    stamp(&mut json, serial, now);
                    upsert(target, json.clone());
                    let notices = super::changed(
                        world,
                        Family::Microsoft,
                        account,
                        &calendar,
                        &id,
                        "updated",
                    );
                    ((StatusCode::OK, json), notices)
                }
                Method::DELETE => {
                    remove(target, &id);
                    let notices = super::changed(
                        world,
                        Family::Microsoft,
                        account,
                        &calendar,
                        &id,
                        "deleted",
                    );
                    ((StatusCode::NO_CONTENT, Value::Null), notices)
                }
                _ => (
                    failure(StatusCode::METHOD_NOT_ALLOWED, "ErrorInvalidRequest", "No."),
                    none,
                ),
            }
        }
        (&Method::POST, ["v1.0", "subscriptions"]) => {
            let body = call.json();
            let watch = Watch {
                family: Family::Microsoft,
                id: format!("{serial:08x}-7d9b-4cfa-9c12-5ed0d6a2a1f0"),
                account: account.to_owned(),
                calendar: None,
                address: body["notificationUrl"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                lifecycle_address: body["lifecycleNotificationUrl"].as_str().map(str::to_owned),
                secret: body["clientState"].as_str().map(str::to_owned),
                resource_id: "me/events".into(),
                expires_at: parse_instant(
                    body["expirationDateTime"]
                        .as_str()
                        .map(str::to_owned)
                        .as_ref(),
                )
                .unwrap_or_else(Utc::now),
                messages: 0,
            };
            let answer = subscription_json(&watch, base);
            world.watches.push(watch);
            ((StatusCode::CREATED, answer), none)
        }
        (method, ["v1.0", "subscriptions", id]) => {
            let Some(position) = world
                .watches
                .iter()
                .position(|w| w.family == Family::Microsoft && w.id == *id)
            else {
                return (
                    failure(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFound",
                        "The object was not found.",
                    ),
                    none,
                );
            };
            match *method {
                Method::PATCH => {
                    let body = call.json();
                    let asked = parse_instant(
                        body["expirationDateTime"]
                            .as_str()
                            .map(str::to_owned)
                            .as_ref(),
                    );
                    let expiry = match expiry_allowed(asked, now) {
                        Ok(expiry) => expiry,
                        Err(refused) => return (refused, none),
                    };
                    world.watches[position].expires_at = expiry;
                    (
                        (
                            StatusCode::OK,
                            subscription_json(&world.watches[position], base),
                        ),
                        none,
                    )
                }
                Method::DELETE => {
                    world.watches.remove(position);
                    ((StatusCode::NO_CONTENT, Value::Null), none)
                }
                _ => (
                    failure(StatusCode::METHOD_NOT_ALLOWED, "InvalidRequest", "No."),
                    none,
                ),
            }
        }
        _ => (
            failure(
                StatusCode::NOT_FOUND,
                "UnknownError",
                "Resource not found for the segment.",
            ),
            none,
        ),
    }
}

fn subscription_json(watch: &Watch, base: &str) -> Value {
    json!({
        "@odata.context": format!("{base}/microsoft/v1.0/$metadata#subscriptions/$entity"),
        "id": watch.id,
        "resource": "me/events",
        "applicationId": "24d3b144-21ae-4080-943f-7067b395b913",
        "changeType": "created,updated,deleted",
        "clientState": watch.secret,
        "notificationUrl": watch.address,
        "lifecycleNotificationUrl": watch.lifecycle_address,
        "expirationDateTime": watch.expires_at.to_rfc3339(),
        "creatorId": "8ee44408-0679-472c-bc2a-692812af3437",
    })
}

/// `calendarView/delta`: a first round over a window, then the changes since a delta link.
/// Links carry `<since>|<start>|<end>|<snapshot>|<offset>` as their token.
fn delta(calendar: &Calendar, base: &str, call: &Call<'_>) -> Answer {
    let q = &call.query;
    let token = q.get("$deltatoken").or_else(|| q.get("$skiptoken"));
    let (since, window, snapshot, offset) = match token {
        Some(token) => {
            let parts: Vec<&str> = token.split('|').collect();
            let [since, start, end, snapshot, offset] = parts.as_slice() else {
                return failure(StatusCode::BAD_REQUEST, "BadRequest", "Invalid token.");
            };
            let (Some(start), Some(end)) = (
                parse_instant(Some(&(*start).to_owned())),
                parse_instant(Some(&(*end).to_owned())),
            ) else {
                return failure(StatusCode::BAD_REQUEST, "BadRequest", "Invalid token.");
            };
            let since = since.parse::<u64>().ok();
            if q.contains_key("$deltatoken") && since.is_some_and(|s| s < calendar.valid_from) {
                return failure(
                    StatusCode::GONE,
                    "syncStateNotFound",
                    "The sync state generation is not found. Please start over.",
                );
            }
            let snapshot = if q.contains_key("$deltatoken") {
                calendar.counter
            } else {
                snapshot.parse().unwrap_or(calendar.counter)
            };
            (since, (start, end), snapshot, offset.parse().unwrap_or(0))
        }
        None => {
            let (Some(start), Some(end)) = (
                parse_instant(q.get("startDateTime")),
                parse_instant(q.get("endDateTime")),
            ) else {
                return failure(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidParameter",
                    "startDateTime and endDateTime are required.",
                );
            };
            (None, (start, end), calendar.counter, 0)
        }
    };
    let mut matching: Vec<&super::StoredEvent> = calendar
        .events
        .iter()
        .filter(|e| e.changed <= snapshot)
        .filter(|e| match since {
            Some(since) => e.changed > since,
            None => !e.deleted && overlaps(&e.json, window),
        })
        .collect();
    matching.sort_by_key(|e| e.changed);
    let size = page_size(call);
    let rows: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|e| {
            // As Graph does, an event changed to (or changed while) outside the round's
            // window is a removal row like a deleted one.
            if e.deleted || !overlaps(&e.json, window) {
                json!({"@odata.type": "#microsoft.graph.event", "id": e.json["id"],
                       "@removed": {"reason": "deleted"}})
            } else {
                e.json.clone()
            }
        })
        .collect();
    let link = |since: Option<u64>, offset: usize, kind: &str| {
        let token = format!(
            "{}|{}|{}|{snapshot}|{offset}",
            since.map(|s| s.to_string()).unwrap_or_default(),
            window.0.to_rfc3339(),
            window.1.to_rfc3339()
        );
        let mut url = reqwest::Url::parse(&format!("{base}/microsoft/v1.0/me/calendarView/delta"))
            .expect("a valid base URL");
        url.query_pairs_mut().append_pair(kind, &token);
        url.to_string()
    };
    let mut body = json!({
        "@odata.context": format!("{base}/microsoft/v1.0/$metadata#Collection(event)"),
        "value": rows,
    });
    if offset + size < matching.len() {
        body["@odata.nextLink"] = json!(link(since, offset + size, "$skiptoken"));
    } else {
        // The next round starts from what this round saw.
        let next = format!(
            "{snapshot}|{}|{}|{snapshot}|0",
            window.0.to_rfc3339(),
            window.1.to_rfc3339()
        );
        let mut url = reqwest::Url::parse(&format!("{base}/microsoft/v1.0/me/calendarView/delta"))
            .expect("a valid base URL");
        url.query_pairs_mut().append_pair("$deltatoken", &next);
        body["@odata.deltaLink"] = json!(url.to_string());
    }
    (StatusCode::OK, body)
}

/// A calendar's events, with the one `$filter` Graph documents for extended properties:
/// `singleValueExtendedProperties/Any(ep: ep/id eq '<id>' and ep/value eq '<value>')`.
fn list_events(calendar: &Calendar, base: &str, call: &Call<'_>) -> Answer {
    let wanted = match call.query.get("$filter") {
        None => None,
        Some(filter) => {
            let parsed = filter
                .strip_prefix("singleValueExtendedProperties/Any(ep: ep/id eq '")
                .and_then(|rest| rest.strip_suffix("')"))
                .and_then(|rest| rest.split_once("' and ep/value eq '"));
            match parsed {
                Some((id, value)) => Some((id.to_owned(), value.to_owned())),
                None => {
                    return failure(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "Invalid filter clause.",
                    );
                }
            }
        }
    };
    let value: Vec<Value> = calendar
        .events
        .iter()
        .filter(|e| !e.deleted)
        .filter(|e| match &wanted {
            None => true,
            Some((id, value)) => e.json["singleValueExtendedProperties"]
                .as_array()
                .is_some_and(|props| {
                    props
                        .iter()
                        .any(|p| p["id"] == id.as_str() && p["value"] == value.as_str())
                }),
        })
        .map(|e| e.json.clone())
        .collect();
    (
        StatusCode::OK,
        json!({"@odata.context": format!("{base}/microsoft/v1.0/$metadata#Collection(event)"),
               "value": value}),
    )
}

/// A windowed `calendarView`, paged with `$skip`.
fn view(calendar: &Calendar, base: &str, call: &Call<'_>) -> Answer {
    let q = &call.query;
    let (Some(start), Some(end)) = (
        parse_instant(q.get("startDateTime")),
        parse_instant(q.get("endDateTime")),
    ) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "startDateTime and endDateTime are required.",
        );
    };
    let skip: usize = q.get("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let size = q
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| page_size(call));
    let mut matching: Vec<&Value> = calendar
        .events
        .iter()
        .filter(|e| !e.deleted && overlaps(&e.json, (start, end)))
        .map(|e| &e.json)
        .collect();
    matching.sort_by_key(|e| {
        e["start"]["dateTime"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });
    let rows: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(size)
        .map(|e| (*e).clone())
        .collect();
    let mut body = json!({
        "@odata.context": format!("{base}/microsoft/v1.0/$metadata#Collection(event)"),
        "value": rows,
    });
    if skip + size < matching.len() {
        let mut url = reqwest::Url::parse(&format!(
            "{base}/microsoft/v1.0/me/calendars/{}/calendarView",
            calendar.id
        ))
        .expect("a valid base URL");
        url.query_pairs_mut()
            .append_pair("startDateTime", &start.to_rfc3339())
            .append_pair("endDateTime", &end.to_rfc3339())
            .append_pair("$top", &size.to_string())
            .append_pair("$skip", &(skip + size).to_string());
        body["@odata.nextLink"] = json!(url.to_string());
    }
    (StatusCode::OK, body)
}
