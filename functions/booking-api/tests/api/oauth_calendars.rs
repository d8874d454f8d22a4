//! Google and Microsoft calendars through OAuth, against our provider test server and moto:
//! the connect flow and its refusals, incremental sync, token refresh and rotation, push
//! notifications, renewal from the template's schedule, bookings written out with Meet and
//! Teams links.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use http::{Method, StatusCode};
use local_stack::provider_server::{Family, Injected};
use marketplace::calendar::service::SyncJob;
use marketplace::calendar::sync::SyncOutcome;
use reqwest::Url;
use serde_json::{Value, json};

use crate::booking::{bookable_expert, monday_at, three_days_before};
use crate::calendars::{CALENDARS, free_hours, raw_table};
use crate::helpers::{RequestCounter, TestApp, User, spawn_app, spawn_app_counting};

fn name(family: Family) -> &'static str {
    match family {
        Family::Google => "google",
        Family::Microsoft => "microsoft",
    }
}

/// An HTTP client that shows redirects instead of following them (the browser's part).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn location_of(response: reqwest::Response) -> Url {
    assert_eq!(response.status(), StatusCode::FOUND, "{:?}", response);
    Url::parse(
        response
            .headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap(),
    )
    .unwrap()
}

fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// Starts the flow as `expert`: the consent URL our API answers.
async fn authorize(app: &TestApp, expert: &User, family: Family) -> Url {
    let answer = app
        .post(
            &format!("{CALENDARS}/{}/authorize", name(family)),
            Some(expert),
            &Value::Null,
        )
        .await;
    Url::parse(
        answer.ok(StatusCode::OK)["authorization_url"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

/// The browser at the provider: consent given at once, sent back towards our callback.
async fn consent(url: &Url) -> Url {
    location_of(browser().get(url.clone()).send().await.unwrap()).await
}

/// The browser at our callback: where it is sent next (the frontend), as its query.
async fn callback(back: &Url) -> HashMap<String, String> {
    let frontend = location_of(browser().get(back.clone()).send().await.unwrap()).await;
    assert!(
        frontend
            .as_str()
            .starts_with("http://localhost:5173/calendars/connected?"),
        "{frontend}"
    );
    query(&frontend)
}

/// The whole flow for `email`'s account: the new connection.
async fn connect(app: &TestApp, expert: &User, family: Family, email: &str) -> Value {
    app.providers.consent_as(family, email);
    let url = authorize(app, expert, family).await;
    let outcome = callback(&consent(&url).await).await;
    assert_eq!(outcome["status"], "connected", "{outcome:?}");
    let listed = app.get(CALENDARS, Some(expert)).await;
    listed.ok(StatusCode::OK)["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == outcome["connection"].as_str())
        .cloned()
        .expect("the connection is listed")
}

async fn connections(app: &TestApp, expert: &User) -> Vec<Value> {
    app.get(CALENDARS, Some(expert)).await.body["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn job_of(expert: &str, connection: &Value) -> SyncJob {
    SyncJob::of(
        expert.parse().unwrap(),
        connection["id"].as_str().unwrap().parse().unwrap(),
    )
}

/// A provider-shaped event from `start` for an hour.
fn external(family: Family, start: DateTime<Utc>, extra: Value) -> Value {
    let mut event = match family {
        Family::Google => json!({
            "summary": "Dentist",
            "start": {"dateTime": start.to_rfc3339()},
            "end": {"dateTime": (start + Duration::hours(1)).to_rfc3339()},
        }),
        Family::Microsoft => json!({
            "subject": "Dentist",
            "start": {"dateTime": start.format("%Y-%m-%dT%H:%M:%S.0000000").to_string(), "timeZone": "UTC"},
            "end": {"dateTime": (start + Duration::hours(1)).format("%Y-%m-%dT%H:%M:%S.0000000").to_string(), "timeZone": "UTC"},
        }),
    };
    if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        event.extend(extra.clone());
    }
    event
}

/// The account's primary (Google) or default (Microsoft) calendar id, made if needed.
fn primary(app: &TestApp, family: Family, email: &str) -> String {
    app.providers.add_account(family, email)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_flow_seals_the_refresh_token_and_lists_the_calendars_for_both_providers() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let ada = app.expert("ada");
    for (family, email) in [
        (Family::Google, "ada@gmail.test"),
        (Family::Microsoft, "ada@outlook.test"),
    ] {
        primary(&app, family, email);
        app.providers
            .add_calendar(family, email, "Team", true, false);
        app.providers.consent_as(family, email);
        let url = authorize(&app, &ada, family).await;
        // Authorization code with PKCE S256, offline access, the narrowest scopes, our
        // callback.
        let asked = query(&url);
        assert_eq!(asked["response_type"], "code");
        assert_eq!(asked["code_challenge_method"], "S256");
        assert_eq!(asked["code_challenge"].len(), 43);
        assert!(asked["state"].len() >= 43);
        assert_eq!(
            asked["redirect_uri"],
            format!("http://{}/v1/oauth/{}/callback", app.address, name(family))
        );
        let scopes: Vec<&str> = asked["scope"].split(' ').collect();
        match family {
            Family::Google => {
                assert_eq!(
                    scopes,
                    [
                        "https://www.googleapis.com/auth/calendar.events",
                        "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
                    ]
                );
                assert_eq!(
                    (asked["access_type"].as_str(), asked["prompt"].as_str()),
                    ("offline", "consent")
                );
            }
            Family::Microsoft => assert_eq!(scopes, ["offline_access", "Calendars.ReadWrite"]),
        }
        let back = consent(&url).await;
        let outcome = callback(&back).await;
        assert_eq!(outcome["status"], "connected", "{outcome:?}");
        assert_eq!(outcome["provider"], name(family));
        // The same callback again (a replayed state): refused, nothing more stored.
        let replay = callback(&back).await;
        assert_eq!(
            (replay["status"].as_str(), replay["error"].as_str()),
            ("error", "invalid_state")
        );
    }
    let listed = connections(&app, &ada).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (connection, (provider, email)) in listed.iter().zip([
        ("google", "ada@gmail.test"),
        ("microsoft", "ada@outlook.test"),
    ]) {
        assert_eq!(connection["provider"], provider);
        assert_eq!(connection["account"], email);
        assert_eq!(connection["status"], "ok");
        let calendars = connection["calendars"].as_array().unwrap();
        assert_eq!(calendars.len(), 2, "{connection}");
        assert!(calendars.iter().all(|c| c["busy_source"] == true));
    }
    // One booking target across both: the first connection's primary calendar.
    let targets: Vec<&Value> = listed
        .iter()
        .flat_map(|c| c["calendars"].as_array().unwrap())
        .filter(|c| c["booking_target"] == true)
        .collect();
    assert_eq!(targets.len(), 1);
    assert_eq!(
        listed[0]["calendars"][0]["booking_target"], true,
        "{listed:?}"
    );
    // Each connection queued its first sync.
    let jobs = app.drain_queue(&app.calendar_sync_queue).await;
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j["expert_id"] == expert.as_str()));
    // No token the provider issued is in any item of the table.
    let table = raw_table(&app).await;
    for token in app.providers.issued_tokens() {
        assert!(!table.contains(&token), "a token is in the table");
    }
    assert!(!table.contains("OAUTH_STATE#"), "the states were used up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_replayed_expired_foreign_and_mismatched_flows_store_nothing() {
    let app = spawn_app().await;
    bookable_expert(&app, 18_000, "usd").await;
    let ada = app.expert("ada");
    let grace = app.expert("grace");
    app.put(
        "/v1/experts/me",
        Some(&grace),
        &crate::helpers::profile_body(),
    )
    .await
    .ok(StatusCode::OK);
    for family in [Family::Google, Family::Microsoft] {
        let outcome = |query: HashMap<String, String>| {
            assert_eq!(query["status"], "error", "{query:?}");
            query["error"].clone()
        };
        // The expert says no at the provider.
        app.providers.deny_next(family);
        let back = consent(&authorize(&app, &ada, family).await).await;
        assert_eq!(query(&back)["error"], "access_denied");
        assert_eq!(outcome(callback(&back).await), "access_denied");

        // A wrong PKCE verifier: the code of one authorization with the state (and verifier)
        // of another.
        let first = authorize(&app, &ada, family).await;
        let second = authorize(&app, &ada, family).await;
        let code_of_second = query(&consent(&second).await)["code"].clone();
        let mut mixed = consent(&first).await;
        let state_of_first = query(&mixed)["state"].clone();
        mixed.set_query(None);
        mixed
            .query_pairs_mut()
            .append_pair("code", &code_of_second)
            .append_pair("state", &state_of_first);
        assert_eq!(outcome(callback(&mixed).await), "exchange_failed");

        // Another expert's state with this expert's code: the verifier does not match either.
        let theirs = authorize(&app, &grace, family).await;
        let mut foreign = consent(&authorize(&app, &ada, family).await).await;
        let code = query(&foreign)["code"].clone();
        foreign.set_query(None);
        foreign
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &query(&theirs)["state"]);
        assert_eq!(outcome(callback(&foreign).await), "exchange_failed");

        // An unknown state, and one past its 10 minutes.
        let mut unknown = consent(&authorize(&app, &ada, family).await).await;
        let code = query(&unknown)["code"].clone();
        unknown.set_query(None);
        unknown
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", "made-up-state");
        assert_eq!(outcome(callback(&unknown).await), "invalid_state");
        let late = consent(&authorize(&app, &ada, family).await).await;
        app.clock.advance(Duration::minutes(11));
        assert_eq!(outcome(callback(&late).await), "expired_state");
        // The other provider's callback with this provider's state.
        let other = if family == Family::Google {
            "microsoft"
        } else {
            "google"
        };
        let crossed = consent(&authorize(&app, &ada, family).await).await;
        let mut wrong = crossed.clone();
        wrong.set_path(&format!("/v1/oauth/{other}/callback"));
        assert_eq!(outcome(callback(&wrong).await), "wrong_provider");
    }
    assert!(connections(&app, &ada).await.is_empty());
    assert!(connections(&app, &grace).await.is_empty());
    assert!(!raw_table(&app).await.contains("S(\"calendar_connection\")"));
    assert!(app.drain_queue(&app.calendar_sync_queue).await.is_empty());
    // Only experts start flows, and only for the two providers.
    app.post(
        &format!("{CALENDARS}/google/authorize"),
        Some(&app.client("bob")),
        &Value::Null,
    )
    .await
    .problem(StatusCode::FORBIDDEN, "forbidden");
    app.post(
        &format!("{CALENDARS}/yahoo/authorize"),
        Some(&ada),
        &Value::Null,
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not-found");
}

/// Bookable Ada, three days before Monday, with `family`'s account connected.
async fn connected(app: &TestApp, family: Family, email: &str) -> (String, User, Value, SyncJob) {
    let expert = bookable_expert(app, 18_000, "usd").await;
    three_days_before(app);
    let ada = app.expert("ada");
    primary(app, family, email);
    let connection = connect(app, &ada, family, email).await;
    app.drain_queue(&app.calendar_sync_queue).await;
    let job = job_of(&expert, &connection);
    (expert, ada, connection, job)
}

fn synced(outcome: SyncOutcome) -> marketplace::calendar::sync::SyncReport {
    match outcome {
        SyncOutcome::Synced(report) => report,
        other => panic!("not synced: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_busy_time_is_read_incrementally_and_costs_one_request_when_nothing_changed() {
    let counter = RequestCounter::default();
    let app = spawn_app_counting(counter.clone()).await;
    let email = "ada@gmail.test";
    let (expert, _, _, job) = connected(&app, Family::Google, email).await;
    let calendar = primary(&app, Family::Google, email);
    let calendars = app.services.calendars.as_ref().unwrap();
    let providers = &app.providers;
    let lists = || providers.requests(&Method::GET, "/events");
    let (ten, eleven, one) = (monday_at(10, 0), monday_at(11, 0), monday_at(13, 0));
    providers.put_event(
        Family::Google,
        email,
        &calendar,
        external(Family::Google, ten, json!({"id": "dentist1"})),
    );
    // Free by the rules: transparent, declined by the expert, cancelled.
    providers.put_event(
        Family::Google,
        email,
        &calendar,
        external(Family::Google, one, json!({"transparency": "transparent"})),
    );
    providers.put_event(
        Family::Google,
        email,
        &calendar,
        external(
            Family::Google,
            one,
            json!({"attendees": [{"email": email, "self": true, "responseStatus": "declined"}]}),
        ),
    );
    // First sync: one full listing (plus one watch for push).
    let before = lists();
    let report = synced(calendars.run_sync(&job).await.unwrap());
    assert_eq!((report.fetched, report.stored), (3, 1), "{report:?}");
    assert_eq!(lists() - before, 1);
    let hours = free_hours(&app, &expert).await;
    assert!(!hours.contains(&ten) && hours.contains(&one), "{hours:?}");

    // Nothing changed: one request to Google, DynamoDB only read.
    let before = lists();
    counter.take();
    let report = synced(calendars.run_sync(&job).await.unwrap());
    assert_eq!(report.fetched, 0);
    assert_eq!(lists() - before, 1, "one events.list with the sync token");
    assert_eq!(counter.take(), 2, "GetItem + Query, no write");

    // Moved: one request, the block moves. Deleted: free again.
    providers.put_event(
        Family::Google,
        email,
        &calendar,
        external(Family::Google, one, json!({"id": "dentist1"})),
    );
    let before = lists();
    let report = synced(calendars.run_sync(&job).await.unwrap());
    assert_eq!((report.fetched, report.stored, lists() - before), (1, 1, 1));
    let hours = free_hours(&app, &expert).await;
    assert!(hours.contains(&ten) && !hours.contains(&one), "{hours:?}");
    assert!(providers.delete_event(Family::Google, email, &calendar, "dentist1"));
    synced(calendars.run_sync(&job).await.unwrap());
    assert!(free_hours(&app, &expert).await.contains(&one));

    // The sync token expires (410): one full read again, nothing lost or doubled.
    providers.put_event(
        Family::Google,
        email,
        &calendar,
        external(Family::Google, eleven, json!({"id": "standup1"})),
    );
    providers.expire_sync_state(Family::Google, email, &calendar);
    let before = lists();
    synced(calendars.run_sync(&job).await.unwrap());
    assert_eq!(
        lists() - before,
        2,
        "the refused incremental read, then the full one"
    );
    assert!(!free_hours(&app, &expert).await.contains(&eleven));
    assert_eq!(
        raw_table(&app)
            .await
            .matches("S(\"imported_busy\")")
            .count(),
        1
    );

    // 429 with a short Retry-After is waited out in place: the sync still reads everything.
    providers.put_event(
        Family::Google,
        email,
        &calendar,
        external(Family::Google, ten, json!({"id": "lunch1"})),
    );
    providers.inject(Injected {
        method: Method::GET,
        path: "/google/calendar/v3/calendars".into(),
        status: 429,
        retry_after: Some(1),
        reason: "rateLimitExceeded".into(),
    });
    let report = synced(calendars.run_sync(&job).await.unwrap());
    assert_eq!(report.stored, 1);
    assert!(!free_hours(&app, &expert).await.contains(&ten));
    // A long one goes back to the queue with it, imported time kept.
    providers.inject(Injected {
        method: Method::GET,
        path: "/google/calendar/v3/calendars".into(),
        status: 429,
        retry_after: Some(30),
        reason: "rateLimitExceeded".into(),
    });
    let outcome = calendars.run_sync(&job).await.unwrap();
    assert!(
        matches!(&outcome, SyncOutcome::Degraded { retry_after: Some(d), .. } if d.as_secs() == 30),
        "{outcome:?}"
    );
    assert_eq!(
        raw_table(&app)
            .await
            .matches("S(\"imported_busy\")")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlook_reads_the_default_calendar_by_delta_and_others_by_a_windowed_view() {
    let counter = RequestCounter::default();
    let app = spawn_app_counting(counter.clone()).await;
    let email = "ada@outlook.test";
    let providers = &app.providers;
    primary(&app, Family::Microsoft, email);
    let team = providers.add_calendar(Family::Microsoft, email, "Team", true, false);
    let (expert, ada, connection, job) = connected(&app, Family::Microsoft, email).await;
    assert_eq!(connection["calendars"].as_array().unwrap().len(), 2);
    let default = primary(&app, Family::Microsoft, email);
    let calendars = app.services.calendars.as_ref().unwrap();
    let deltas = || providers.requests(&Method::GET, "/calendarView/delta");
    let views = || providers.requests(&Method::GET, &format!("/calendars/{team}/calendarView"));
    let (ten, one, three) = (monday_at(10, 0), monday_at(13, 0), monday_at(15, 0));
    let dentist = providers.put_event(
        Family::Microsoft,
        email,
        &default,
        external(Family::Microsoft, ten, json!({})),
    );
    // Free by the rules: shown as free, declined by the expert, cancelled.
    providers.put_event(
        Family::Microsoft,
        email,
        &default,
        external(Family::Microsoft, one, json!({"showAs": "free"})),
    );
    providers.put_event(
        Family::Microsoft,
        email,
        &default,
        external(
            Family::Microsoft,
            one,
            json!({"responseStatus": {"response": "declined"}}),
        ),
    );
    providers.put_event(
        Family::Microsoft,
        email,
        &team,
        external(Family::Microsoft, three, json!({})),
    );
    let report = synced(calendars.run_sync(&job).await.unwrap());
    assert_eq!((report.fetched, report.stored), (4, 2), "{report:?}");
    let hours = free_hours(&app, &expert).await;
    assert!(
        !hours.contains(&ten) && hours.contains(&one) && !hours.contains(&three),
        "{hours:?}"
    );

    // Nothing changed: one delta request and one view, DynamoDB only read.
    let (d, v) = (deltas(), views());
    counter.take();
    let report = synced(calendars.run_sync(&job).await.unwrap());
    assert_eq!(report.fetched, 0, "{report:?}");
    assert_eq!((deltas() - d, views() - v), (1, 1));
    assert_eq!(counter.take(), 2, "GetItem + Query, no write");

    // Moved and deleted in the default calendar: reflected after one sync each.
    providers.put_event(
        Family::Microsoft,
        email,
        &default,
        external(Family::Microsoft, one, json!({"id": dentist})),
    );
    synced(calendars.run_sync(&job).await.unwrap());
    let hours = free_hours(&app, &expert).await;
    assert!(hours.contains(&ten) && !hours.contains(&one), "{hours:?}");
    assert!(providers.delete_event(Family::Microsoft, email, &default, &dentist));
    let report = synced(calendars.run_sync(&job).await.unwrap());
    assert!(report.freed >= 1, "{report:?}");
    assert!(free_hours(&app, &expert).await.contains(&one));

    // The delta state expires (410 syncStateNotFound): one full round again.
    providers.put_event(
        Family::Microsoft,
        email,
        &default,
        external(Family::Microsoft, ten, json!({})),
    );
    providers.expire_sync_state(Family::Microsoft, email, &default);
    let d = deltas();
    synced(calendars.run_sync(&job).await.unwrap());
    assert_eq!(deltas() - d, 2, "the refused link, then a new round");
    assert!(!free_hours(&app, &expert).await.contains(&ten));

    // An expert who does not count out-of-office as busy.
    providers.put_event(
        Family::Microsoft,
        email,
        &team,
        external(
            Family::Microsoft,
            monday_at(16, 0),
            json!({"showAs": "oof"}),
        ),
    );
    synced(calendars.run_sync(&job).await.unwrap());
    assert!(!free_hours(&app, &expert).await.contains(&monday_at(16, 0)));
    let path = format!("{CALENDARS}/{}", connection["id"].as_str().unwrap());
    let patched = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&ada),
            &json!({"preferences": {"out_of_office_blocks": false}}),
        )
        .await;
    assert_eq!(
        patched.ok(StatusCode::OK)["preferences"]["out_of_office_blocks"],
        false
    );
    // The change queued a sync; the daily full read applies it (here: at once).
    app.drain_queue(&app.calendar_sync_queue).await;
    app.clock.advance(Duration::hours(25));
    synced(calendars.run_sync(&job).await.unwrap());
    assert!(free_hours(&app, &expert).await.contains(&monday_at(16, 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_refresh_tokens_survive_two_refreshes_at_once_and_a_revoked_grant_asks_for_reauth()
{
    let app = spawn_app().await;
    let email = "ada@outlook.test";
    let (_, ada, _, job) = connected(&app, Family::Microsoft, email).await;
    let calendars = app.services.calendars.as_ref().unwrap();
    synced(calendars.run_sync(&job).await.unwrap());
    // Two Lambda instances refresh at the same moment: Microsoft rotates the refresh token
    // on each use and takes the used one back. Both syncs succeed and what is stored works.
    let (one, two) = (
        app.another_calendar_instance().await,
        app.another_calendar_instance().await,
    );
    app.providers.expire_access_tokens();
    let tokens = || app.providers.requests(&Method::POST, "/oauth2/v2.0/token");
    let before = tokens();
    let (a, b) = tokio::join!(one.run_sync(&job), two.run_sync(&job));
    for outcome in [a.unwrap(), b.unwrap()] {
        assert!(
            matches!(outcome, SyncOutcome::Synced(_) | SyncOutcome::Superseded),
            "{outcome:?}"
        );
    }
    assert!(tokens() - before >= 2, "each instance refreshed");
    app.providers.expire_access_tokens();
    let third = app.another_calendar_instance().await;
    synced(third.run_sync(&job).await.unwrap());
    assert_eq!(app.providers.live_refresh_tokens(Family::Microsoft), 1);
    assert_eq!(connections(&app, &ada).await[0]["status"], "ok");

    // The user revokes our access: needs_reauth at the first refusal, one email, no retry
    // storm (the job is done), imported time kept.
    app.providers.revoke_grants(Family::Microsoft, email);
    app.providers.expire_access_tokens();
    let refusals = || async {
        crate::events::emails_to("ada@example.com")
            .await
            .into_iter()
            .filter(|(subject, _)| {
                subject == "Your Microsoft Outlook calendar needs to be connected again"
            })
            .count()
    };
    let told = refusals().await;
    let fresh = app.another_calendar_instance().await;
    assert_eq!(
        fresh.run_sync(&job).await.unwrap(),
        SyncOutcome::NeedsReauth
    );
    assert_eq!(
        fresh.run_sync(&job).await.unwrap(),
        SyncOutcome::NeedsReauth
    );
    assert_eq!(refusals().await, told + 1);
    let status = &connections(&app, &ada).await[0];
    assert_eq!(status["status"], "needs_reauth");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("connect the calendar again")
    );
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
    record.message_id = Some("refused".into());
    record.body = Some(serde_json::to_string(&job).unwrap());
    event.records = vec![record];
    assert!(
        calendar_sync::handle(&fresh, event)
            .await
            .batch_item_failures
            .is_empty(),
        "a refused grant is not retried"
    );
}
