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
use crate::calendars::{CALENDARS, deliver_to_calendar, free_hours, raw_table};
use crate::helpers::{DynamoProbe, TestApp, User, spawn_app, spawn_app_counting};

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
    let counter = DynamoProbe::default();
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
    assert_eq!(counter.take(), ["GetItem", "Query"], "no write");

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
    let counter = DynamoProbe::default();
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
    assert_eq!(counter.take(), ["GetItem", "Query"], "no write");

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
async fn every_outlook_calendar_is_listed_though_graph_pages_them() {
    let app = spawn_app().await;
    let email = "ada@outlook.test";
    primary(&app, Family::Microsoft, email);
    for n in 0..12 {
        app.providers.add_calendar(
            Family::Microsoft,
            email,
            &format!("Shared {n}"),
            false,
            false,
        );
    }
    let (_, _, connection, _) = connected(&app, Family::Microsoft, email).await;
    let names: Vec<&str> = connection["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 13, "{names:?}");
    assert!(names.contains(&"Shared 11"), "{names:?}");
    assert_eq!(
        app.providers.requests(&Method::GET, "/me/calendars"),
        2,
        "ten a page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_refresh_tokens_survive_two_refreshes_at_once_and_a_revoked_grant_asks_for_reauth()
{
    let app = spawn_app().await;
    let email = "ada@outlook.test";
    let (_, ada, _, job) = connected(&app, Family::Microsoft, email).await;
    let calendars = app.services.calendars.as_ref().unwrap();
    synced(calendars.run_sync(&job).await.unwrap());
    // Two Lambda instances refresh at the same moment: Microsoft answers a new refresh token
    // to each. Both syncs succeed and what is stored works.
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

/// A push notification as Google sends it: headers only.
async fn google_notice(app: &TestApp, channel: &str, token: &str) -> crate::helpers::TestResponse {
    let request = http::Request::builder()
        .method(Method::POST)
        .uri("/v1/webhooks/google")
        .header("x-goog-channel-id", channel)
        .header("x-goog-channel-token", token)
        .header("x-goog-resource-state", "exists")
        .header("x-goog-resource-id", "ret1");
    app.send_request(request, None, Vec::new()).await
}

/// The sync jobs waiting on the queue (taken off it).
async fn queued(app: &TestApp) -> Vec<SyncJob> {
    app.drain_queue(&app.calendar_sync_queue)
        .await
        .into_iter()
        .map(|job| serde_json::from_value(job).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_notification_queues_one_sync_and_forged_or_unknown_ones_queue_nothing() {
    let app = spawn_app().await;
    let email = "ada@gmail.test";
    let (expert, ada, connection, job) = connected(&app, Family::Google, email).await;
    let calendar = primary(&app, Family::Google, email);
    let calendars = app.services.calendars.as_ref().unwrap();
    // The first sync opens a channel on the busy-source calendar; Google's first message on
    // it (`sync`) queues nothing.
    synced(calendars.run_sync(&job).await.unwrap());
    app.providers.settle().await;
    let watches = app.providers.watches();
    assert_eq!(watches.len(), 1, "{watches:?}");
    let channel = watches[0].clone();
    assert_eq!(
        channel.address,
        format!("http://{}/v1/webhooks/google", app.address)
    );
    assert!(channel.secret.as_deref().is_some_and(|t| t.len() >= 43));
    assert!(queued(&app).await.is_empty());

    // A change in the calendar: Google posts (headers only); one job, and after it the
    // slot is blocked. Steps: the change, the notification, one GetItem and one SendMessage
    // in the webhook, the job, one events.list in the sync.
    let ten = monday_at(10, 0);
    app.providers.put_event(
        Family::Google,
        email,
        &calendar,
        external(Family::Google, ten, json!({})),
    );
    app.providers.settle().await;
    let jobs = queued(&app).await;
    assert_eq!(jobs, std::slice::from_ref(&job));
    let lists = app.providers.requests(&Method::GET, "/events");
    synced(calendars.run_sync(&jobs[0]).await.unwrap());
    assert_eq!(app.providers.requests(&Method::GET, "/events") - lists, 1);
    assert!(!free_hours(&app, &expert).await.contains(&ten));

    // The right channel with a wrong token: refused, nothing queued. An unknown channel: a
    // no-op.
    google_notice(&app, &channel.id, "forged")
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    let unknown = google_notice(&app, "ch-unknown", "x").await;
    assert_eq!(unknown.ok(StatusCode::OK)["queued"], 0);
    assert!(queued(&app).await.is_empty());
    // The genuine token, sent by hand, queues one.
    let genuine = google_notice(&app, &channel.id, channel.secret.as_deref().unwrap()).await;
    assert_eq!(genuine.ok(StatusCode::OK)["queued"], 1);
    assert_eq!(queued(&app).await.len(), 1);

    // Disconnected: the channel is stopped at Google, the grant revoked, and a late
    // notification on the old channel is a no-op.
    let path = format!("{CALENDARS}/{}", connection["id"].as_str().unwrap());
    let gone = app
        .send(Method::DELETE, &path, Some(&ada), None, Vec::new())
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert!(app.providers.watches().is_empty());
    assert_eq!(app.providers.requests(&Method::POST, "/google/revoke"), 1);
    let late = google_notice(&app, &channel.id, channel.secret.as_deref().unwrap()).await;
    assert_eq!(late.ok(StatusCode::OK)["queued"], 0);
    assert!(queued(&app).await.is_empty());
}

/// A Graph notification batch, posted as Graph posts it.
async fn graph_notice(app: &TestApp, entries: Value) -> crate::helpers::TestResponse {
    app.post("/v1/webhooks/microsoft", None, &json!({"value": entries}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_notifications_answer_the_handshake_check_client_state_and_renew_when_asked() {
    let app = spawn_app().await;
    let email = "ada@outlook.test";
    let (expert, _, _, job) = connected(&app, Family::Microsoft, email).await;
    let calendar = primary(&app, Family::Microsoft, email);
    let calendars = app.services.calendars.as_ref().unwrap();
    // The first sync subscribes; Graph validated our endpoint (the handshake) first.
    synced(calendars.run_sync(&job).await.unwrap());
    let watches = app.providers.watches();
    assert_eq!(watches.len(), 1, "{watches:?}");
    let subscription = watches[0].clone();
    let state = subscription.secret.clone().unwrap();
    assert_eq!(
        subscription.lifecycle_address.as_deref(),
        Some(subscription.address.as_str())
    );

    // The handshake, as Graph sends it: the token back as text/plain, at once.
    let handshake = browser()
        .post(format!(
            "http://{}/v1/webhooks/microsoft?validationToken=Validation%3A%20Testing%20client%20application",
            app.address
        ))
        .header("content-type", "text/plain; charset=utf-8")
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), StatusCode::OK);
    assert!(
        handshake.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        handshake.text().await.unwrap(),
        "Validation: Testing client application"
    );

    // A change: one job; after it the slot is blocked.
    let ten = monday_at(10, 0);
    app.providers.put_event(
        Family::Microsoft,
        email,
        &calendar,
        external(Family::Microsoft, ten, json!({})),
    );
    app.providers.settle().await;
    let jobs = queued(&app).await;
    assert_eq!(jobs, std::slice::from_ref(&job));
    synced(calendars.run_sync(&jobs[0]).await.unwrap());
    assert!(!free_hours(&app, &expert).await.contains(&ten));

    // A forged clientState refuses the whole batch: nothing queued.
    let entry = |client_state: &str, extra: Value| {
        let mut entry = json!({"subscriptionId": subscription.id, "clientState": client_state,
                               "changeType": "updated", "resource": "Users/x/Events/y"});
        if let (Some(entry), Some(extra)) = (entry.as_object_mut(), extra.as_object()) {
            entry.extend(extra.clone());
        }
        entry
    };
    graph_notice(
        &app,
        json!([entry(&state, json!({})), entry("forged", json!({}))]),
    )
    .await
    .problem(StatusCode::FORBIDDEN, "forbidden");
    assert!(queued(&app).await.is_empty());
    // Two notifications of one connection: one job.
    let two = graph_notice(
        &app,
        json!([entry(&state, json!({})), entry(&state, json!({}))]),
    )
    .await;
    assert_eq!(two.ok(StatusCode::ACCEPTED)["queued"], 1);
    assert_eq!(queued(&app).await.len(), 1);

    // Lifecycle: reauthorization required renews the subscription in place.
    let patches = || {
        app.providers
            .requests(&Method::PATCH, "/v1.0/subscriptions")
    };
    let before = patches();
    let asked = graph_notice(
        &app,
        json!([{"lifecycleEvent": "reauthorizationRequired", "subscriptionId": subscription.id,
                "clientState": state, "subscriptionExpirationDateTime": "2026-12-10T00:00:00Z"}]),
    )
    .await;
    assert_eq!(asked.ok(StatusCode::ACCEPTED)["queued"], 1);
    let renewal = queued(&app).await;
    assert!(renewal[0].renew_push, "{renewal:?}");
    synced(calendars.run_sync(&renewal[0]).await.unwrap());
    assert_eq!(patches() - before, 1);
    assert_eq!(app.providers.watches()[0].id, subscription.id);

    // Removed by Graph: the renewal finds it gone and subscribes again; the old one no longer
    // counts.
    app.providers.drop_watch(&subscription.id);
    let removed = graph_notice(
        &app,
        json!([{"lifecycleEvent": "subscriptionRemoved", "subscriptionId": subscription.id, "clientState": state}]),
    )
    .await;
    assert_eq!(removed.ok(StatusCode::ACCEPTED)["queued"], 1);
    synced(calendars.run_sync(&queued(&app).await[0]).await.unwrap());
    let now = app.providers.watches();
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].id, subscription.id);
    let stale = graph_notice(&app, json!([entry(&state, json!({}))])).await;
    assert_eq!(stale.ok(StatusCode::ACCEPTED)["queued"], 0);
    // Missed notifications: a plain sync.
    let missed = graph_notice(
        &app,
        json!([{"lifecycleEvent": "missed", "subscriptionId": now[0].id, "clientState": now[0].secret}]),
    )
    .await;
    assert_eq!(missed.ok(StatusCode::ACCEPTED)["queued"], 1);
    assert!(!queued(&app).await[0].renew_push);
    // Disconnected: the subscription is deleted at Graph (there is no revocation of one
    // refresh token to call).
    let ada = app.expert("ada");
    let id = connections(&app, &ada).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = app
        .send(
            Method::DELETE,
            &format!("{CALENDARS}/{id}"),
            Some(&ada),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert!(app.providers.watches().is_empty());
    // Not a Graph batch at all: 400, nothing queued.
    app.post("/v1/webhooks/microsoft", None, &json!({"hello": 1}))
        .await
        .problem(StatusCode::BAD_REQUEST, "validation-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_channels_are_renewed_by_the_schedule_that_template_yaml_declares() {
    // The schedule: template.yaml gives the reminders function an EventBridge schedule of at
    // most 5 minutes; its run queues every due sync, and a due sync renews the channels.
    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(local_stack::template_path()).unwrap())
            .unwrap();
    let events = &template["Resources"]["RemindersFunction"]["Properties"]["Events"];
    let schedule = events
        .as_mapping()
        .unwrap()
        .values()
        .find(|e| e["Type"] == "Schedule")
        .expect("the reminders function has a schedule");
    let rate = schedule["Properties"]["Schedule"].as_str().unwrap();
    let minutes: u32 = rate
        .strip_prefix("rate(")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(minutes <= 5, "{rate}");

    let app = spawn_app().await;
    let (google, outlook) = ("ada@gmail.test", "ada@outlook.test");
    let (expert, ada, _, google_job) = connected(&app, Family::Google, google).await;
    primary(&app, Family::Microsoft, outlook);
    let outlook_connection = connect(&app, &ada, Family::Microsoft, outlook).await;
    let outlook_job = job_of(&expert, &outlook_connection);
    let calendars = app.services.calendars.as_ref().unwrap();
    synced(calendars.run_sync(&google_job).await.unwrap());
    synced(calendars.run_sync(&outlook_job).await.unwrap());
    app.drain_queue(&app.calendar_sync_queue).await;
    let watches = app.providers.watches();
    let channel = watches
        .iter()
        .find(|w| w.family == Family::Google)
        .unwrap()
        .clone();
    let subscription = watches
        .iter()
        .find(|w| w.family == Family::Microsoft)
        .unwrap()
        .clone();
    let sqs = aws_sdk_sqs::Client::new(&marketplace::config::aws_sdk_config().await);
    let scheduled_run = || async {
        reminders::run(&app.services).await.unwrap();
        while local_stack::queue_pump::calendar_syncs(&sqs, &app.calendar_sync_queue, calendars)
            .await
            .unwrap()
            != (0, 0)
        {}
    };
    // Two days on, the 3-day subscription is within a day of its end: renewed in place; the
    // week-long channel is left alone.
    app.clock.advance(Duration::days(2) + Duration::hours(1));
    scheduled_run().await;
    let watches = app.providers.watches();
    let renewed = watches.iter().find(|w| w.id == subscription.id).unwrap();
    assert!(renewed.expires_at > subscription.expires_at + Duration::days(1));
    assert!(watches.iter().any(|w| w.id == channel.id));
    // Six days on, the channel is within a day of its end: a new one is opened and stored, then
    // the old one stopped; a notification on the old one queues nothing, on the new one a job.
    app.clock.advance(Duration::days(4));
    scheduled_run().await;
    let watches = app.providers.watches();
    let google_now: Vec<_> = watches
        .iter()
        .filter(|w| w.family == Family::Google)
        .collect();
    assert_eq!(google_now.len(), 1, "{watches:?}");
    assert_ne!(google_now[0].id, channel.id);
    assert!(google_now[0].expires_at > channel.expires_at);
    let old = google_notice(&app, &channel.id, channel.secret.as_deref().unwrap()).await;
    assert_eq!(old.ok(StatusCode::OK)["queued"], 0);
    let new = google_notice(
        &app,
        &google_now[0].id,
        google_now[0].secret.as_deref().unwrap(),
    )
    .await;
    assert_eq!(new.ok(StatusCode::OK)["queued"], 1);
}

/// The expert's booking events in `family`'s calendar (ours, by their id or transactionId).
fn ours(app: &TestApp, family: Family, email: &str, calendar: &str) -> Vec<Value> {
    app.providers
        .events(family, email, calendar)
        .into_iter()
        .filter(|e| {
            e["id"].as_str().is_some_and(|id| id.starts_with("mkt"))
                || e["transactionId"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("apt_"))
        })
        .collect()
}

async fn choose_conferencing(app: &TestApp, ada: &User, connection: &Value, choice: &str) {
    let path = format!("{CALENDARS}/{}", connection["id"].as_str().unwrap());
    let saved = app
        .send_json(
            Method::PATCH,
            &path,
            Some(ada),
            &json!({"preferences": {"conferencing": choice}}),
        )
        .await;
    assert_eq!(
        saved.ok(StatusCode::OK)["preferences"]["conferencing"],
        choice
    );
    app.drain_queue(&app.calendar_sync_queue).await;
}

async fn meeting_url(app: &TestApp, user: &User, id: &str) -> String {
    let seen = app.get(&format!("/v1/appointments/{id}"), Some(user)).await;
    seen.ok(StatusCode::OK)["meeting_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_reach_google_once_follow_moves_and_carry_a_meet_link_when_chosen() {
    let app = spawn_app().await;
    let email = "ada@gmail.test";
    let (expert, ada, connection, job) = connected(&app, Family::Google, email).await;
    let calendar = primary(&app, Family::Google, email);
    let calendars = app.services.calendars.as_ref().unwrap();
    // Meet was not chosen on a CalDAV or Outlook connection: refused there, accepted here.
    choose_conferencing(&app, &ada, &connection, "google_meet").await;
    let bob = app.client("bob");
    let id = crate::conversation::paid(&app, &expert, "bob", 10).await;
    deliver_to_calendar(&app).await;
    let events = ours(&app, Family::Google, email, &calendar);
    assert_eq!(events.len(), 1, "{events:?}");
    let appointment: marketplace::ids::AppointmentId = id.parse().unwrap();
    assert_eq!(
        events[0]["id"],
        marketplace::calendar::google::event_id(appointment)
    );
    assert_eq!(
        events[0]["start"]["dateTime"],
        monday_at(10, 0).to_rfc3339()
    );
    for absent in ["About my tax return", "180.00", "attendees"] {
        assert!(!events[0].to_string().contains(absent), "{absent}");
    }
    // The Meet link (made asynchronously, polled until ready) is the meeting link now.
    let link = meeting_url(&app, &bob, &id).await;
    assert!(link.starts_with("https://meet.google.com/"), "{link}");
    assert_eq!(meeting_url(&app, &ada, &id).await, link);

    // Delivered again: still one event. Moved: the same event, the same Meet link.
    let again = json!({"detail-type": "booking.confirmed", "detail": {
        "id": "evt_again", "version": 1, "kind": "booking.confirmed", "appointment_id": id,
        "expert_id": expert, "occurred_at": "2026-11-25T00:00:00Z"}});
    let sqs = aws_sdk_sqs::Client::new(&marketplace::config::aws_sdk_config().await);
    sqs.send_message()
        .queue_url(&app.calendar_sync_queue)
        .message_body(again.to_string())
        .send()
        .await
        .unwrap();
    deliver_to_calendar(&app).await;
    assert_eq!(ours(&app, Family::Google, email, &calendar).len(), 1);
    crate::cancel::reschedule(&app, &bob, &id, monday_at(14, 0))
        .await
        .ok(StatusCode::OK);
    deliver_to_calendar(&app).await;
    let moved = ours(&app, Family::Google, email, &calendar);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["id"], events[0]["id"]);
    assert_eq!(moved[0]["start"]["dateTime"], monday_at(14, 0).to_rfc3339());
    assert_ne!(moved[0]["etag"], events[0]["etag"]);
    assert_eq!(
        meeting_url(&app, &bob, &id).await,
        link,
        "the link survives the move"
    );
    // The sync after our own writes reads them as ours: nothing imported, nothing flagged.
    synced(calendars.run_sync(&job).await.unwrap());
    assert!(!raw_table(&app).await.contains("S(\"imported_busy\")"));
    crate::cancel::cancel(&app, &bob, &id)
        .await
        .ok(StatusCode::OK);
    deliver_to_calendar(&app).await;
    assert!(ours(&app, Family::Google, email, &calendar).is_empty());

    // Google cannot make a Meet link: the default link stays, the appointment says why, and
    // the expert is told.
    app.providers.refuse_conferencing(Family::Google, true);
    let kept_default = |subject: &str| {
        subject == "No Google Meet link: your session keeps its default meeting link"
    };
    let told = crate::events::emails_to("ada@example.com")
        .await
        .iter()
        .filter(|(s, _)| kept_default(s))
        .count();
    let second = crate::conversation::paid(&app, &expert, "bob", 11).await;
    deliver_to_calendar(&app).await;
    assert!(
        meeting_url(&app, &bob, &second)
            .await
            .starts_with("https://meet.jit.si/")
    );
    let seen = app
        .get(&format!("/v1/appointments/{second}"), Some(&ada))
        .await;
    let conference = &seen.ok(StatusCode::OK)["conference"];
    assert_eq!(conference["provider"], "google_meet");
    assert!(
        conference["failure"].as_str().unwrap().contains("Meet"),
        "{conference}"
    );
    let now_told = crate::events::emails_to("ada@example.com")
        .await
        .iter()
        .filter(|(s, _)| kept_default(s))
        .count();
    assert_eq!(now_told, told + 1);

    // The expert deletes the booking's event in Google Calendar: the booking is flagged, its
    // hour stays blocked, and nothing is written back.
    let event_id = marketplace::calendar::google::event_id(second.parse().unwrap());
    assert!(
        app.providers
            .delete_event(Family::Google, email, &calendar, &event_id)
    );
    synced(calendars.run_sync(&job).await.unwrap());
    let seen = app
        .get(&format!("/v1/appointments/{second}"), Some(&ada))
        .await;
    assert_eq!(
        seen.ok(StatusCode::OK)["calendar_attention"]["reason"],
        "deleted_in_calendar"
    );
    assert!(!free_hours(&app, &expert).await.contains(&monday_at(11, 0)));
    deliver_to_calendar(&app).await;
    assert!(ours(&app, Family::Google, email, &calendar).is_empty());

    // Our write's answer lost, and the expert deletes the event before the retry: the
    // retry's insert is a 409, and the event it names reads as cancelled. The booking is
    // flagged, not recorded as written.
    let third = crate::conversation::paid(&app, &expert, "bob", 15).await;
    deliver_to_calendar(&app).await;
    let appointment = third.parse().unwrap();
    app.store
        .set_calendar_event(appointment, None, None)
        .await
        .unwrap();
    assert!(app.providers.delete_event(
        Family::Google,
        email,
        &calendar,
        &marketplace::calendar::google::event_id(appointment)
    ));
    calendars.push_booking(appointment).await.unwrap();
    let seen = app
        .get(&format!("/v1/appointments/{third}"), Some(&ada))
        .await;
    assert_eq!(
        seen.ok(StatusCode::OK)["calendar_attention"]["reason"],
        "deleted_in_calendar"
    );
    assert!(ours(&app, Family::Google, email, &calendar).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_reach_outlook_with_a_transaction_id_and_a_teams_link_when_chosen() {
    let app = spawn_app().await;
    let email = "ada@outlook.test";
    let (expert, ada, connection, job) = connected(&app, Family::Microsoft, email).await;
    let calendar = primary(&app, Family::Microsoft, email);
    let calendars = app.services.calendars.as_ref().unwrap();
    // Meet is Google's: refused on an Outlook connection.
    let path = format!("{CALENDARS}/{}", connection["id"].as_str().unwrap());
    app.send_json(
        Method::PATCH,
        &path,
        Some(&ada),
        &json!({"preferences": {"conferencing": "google_meet"}}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "validation-error");
    choose_conferencing(&app, &ada, &connection, "teams").await;
    let bob = app.client("bob");
    let id = crate::conversation::paid(&app, &expert, "bob", 10).await;
    deliver_to_calendar(&app).await;
    let events = ours(&app, Family::Microsoft, email, &calendar);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["transactionId"], id.as_str());
    assert_eq!(
        events[0]["start"]["dateTime"],
        monday_at(10, 0).format("%Y-%m-%dT%H:%M:%S").to_string()
    );
    let link = meeting_url(&app, &bob, &id).await;
    assert!(link.starts_with("https://teams.microsoft.com/"), "{link}");

    // Our write's answer lost (the job dies after the create): the retry finds the event by
    // its extended property and makes no other (a repeated create here makes a copy).
    app.store
        .set_calendar_event(id.parse().unwrap(), None, None)
        .await
        .unwrap();
    calendars.push_booking(id.parse().unwrap()).await.unwrap();
    assert_eq!(ours(&app, Family::Microsoft, email, &calendar).len(), 1);

    // Two deliveries of one booking at once: both create, both read back, one event stays.
    let twice = crate::conversation::paid(&app, &expert, "bob", 13).await;
    let appointment = twice.parse().unwrap();
    let (a, b) = tokio::join!(
        calendars.push_booking(appointment),
        calendars.push_booking(appointment)
    );
    a.unwrap();
    b.unwrap();
    deliver_to_calendar(&app).await;
    let copies = ours(&app, Family::Microsoft, email, &calendar)
        .into_iter()
        .filter(|e| e["transactionId"] == twice.as_str())
        .count();
    assert_eq!(copies, 1);
    crate::cancel::cancel(&app, &bob, &twice)
        .await
        .ok(StatusCode::OK);
    deliver_to_calendar(&app).await;

    // Moved and cancelled.
    crate::cancel::reschedule(&app, &bob, &id, monday_at(14, 0))
        .await
        .ok(StatusCode::OK);
    deliver_to_calendar(&app).await;
    let moved = ours(&app, Family::Microsoft, email, &calendar);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["id"], events[0]["id"]);
    assert_eq!(
        moved[0]["start"]["dateTime"],
        monday_at(14, 0).format("%Y-%m-%dT%H:%M:%S").to_string()
    );
    assert_eq!(meeting_url(&app, &bob, &id).await, link);
    crate::cancel::cancel(&app, &bob, &id)
        .await
        .ok(StatusCode::OK);
    deliver_to_calendar(&app).await;
    assert!(ours(&app, Family::Microsoft, email, &calendar).is_empty());

    // A booking whose event the expert deletes in Outlook: the delta's removal row is ours
    // (found by its lookup), so the booking is flagged and its hour stays blocked.
    let second = crate::conversation::paid(&app, &expert, "bob", 11).await;
    deliver_to_calendar(&app).await;
    synced(calendars.run_sync(&job).await.unwrap());
    let written = ours(&app, Family::Microsoft, email, &calendar);
    let event_id = written[0]["id"].as_str().unwrap().to_owned();
    assert!(
        app.providers
            .delete_event(Family::Microsoft, email, &calendar, &event_id)
    );
    synced(calendars.run_sync(&job).await.unwrap());
    let seen = app
        .get(&format!("/v1/appointments/{second}"), Some(&ada))
        .await;
    assert_eq!(
        seen.ok(StatusCode::OK)["calendar_attention"]["reason"],
        "deleted_in_calendar"
    );
    assert!(!free_hours(&app, &expert).await.contains(&monday_at(11, 0)));

    // Teams refused by the provider: the default link stays, the appointment says why.
    app.providers.refuse_conferencing(Family::Microsoft, true);
    let third = crate::conversation::paid(&app, &expert, "bob", 15).await;
    deliver_to_calendar(&app).await;
    assert!(
        meeting_url(&app, &bob, &third)
            .await
            .starts_with("https://meet.jit.si/")
    );
    let seen = app
        .get(&format!("/v1/appointments/{third}"), Some(&ada))
        .await;
    assert!(
        seen.ok(StatusCode::OK)["conference"]["failure"]
            .as_str()
            .unwrap()
            .contains("Teams")
    );
}

/// Sets the connection's calendar named `name` as the booking target (and a busy source).
async fn target(app: &TestApp, ada: &User, connection: &Value, name: &str) {
    let choices: Vec<Value> = connection["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!({"id": c["id"], "booking_target": c["name"] == name, "busy_source": true}))
        .collect();
    let path = format!("{CALENDARS}/{}", connection["id"].as_str().unwrap());
    app.send_json(
        Method::PATCH,
        &path,
        Some(ada),
        &json!({ "calendars": choices }),
    )
    .await
    .ok(StatusCode::OK);
    app.drain_queue(&app.calendar_sync_queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_event_missing_from_a_read_is_flagged_only_when_it_is_gone() {
    let email = "ada@outlook.test";
    // In the default calendar, read by delta: once the session has ended, the next day's
    // round no longer covers it, and Graph names an event changed outside a round's window
    // as removed. In another calendar, read by a windowed view: an ended session is not
    // listed at all.
    for calendar_name in [None, Some("Team")] {
        let app = spawn_app().await;
        let team = app
            .providers
            .add_calendar(Family::Microsoft, email, "Team", true, false);
        let (expert, ada, connection, job) = connected(&app, Family::Microsoft, email).await;
        let calendar = match calendar_name {
            Some(name) => {
                target(&app, &ada, &connection, name).await;
                team.clone()
            }
            None => primary(&app, Family::Microsoft, email),
        };
        let calendars = app.services.calendars.as_ref().unwrap();
        let id = crate::conversation::paid(&app, &expert, "bob", 10).await;
        let later = crate::conversation::paid(&app, &expert, "bob", 15).await;
        deliver_to_calendar(&app).await;
        synced(calendars.run_sync(&job).await.unwrap());
        let written = ours(&app, Family::Microsoft, email, &calendar);
        assert_eq!(written.len(), 2, "{calendar_name:?}");
        let event_of = |appointment: &str| {
            written
                .iter()
                .find(|e| e["transactionId"] == appointment)
                .unwrap()
                .clone()
        };

        // The session is over, not yet completed; the daily read starts a new round.
        app.clock.advance(monday_at(11, 30) - app.clock_now());
        synced(calendars.run_sync(&job).await.unwrap());
        // The expert adds a note to the past event.
        let mut noted = event_of(&id);
        noted["subject"] = json!("Consultation (notes added)");
        app.providers
            .put_event(Family::Microsoft, email, &calendar, noted);
        synced(calendars.run_sync(&job).await.unwrap());
        let seen = app.get(&format!("/v1/appointments/{id}"), Some(&ada)).await;
        assert_eq!(
            seen.ok(StatusCode::OK)["calendar_attention"],
            Value::Null,
            "{calendar_name:?}: the event is still there"
        );

        // The later session's event deleted for real: flagged.
        let event_id = event_of(&later)["id"].as_str().unwrap().to_owned();
        assert!(
            app.providers
                .delete_event(Family::Microsoft, email, &calendar, &event_id)
        );
        synced(calendars.run_sync(&job).await.unwrap());
        let seen = app
            .get(&format!("/v1/appointments/{later}"), Some(&ada))
            .await;
        assert_eq!(
            seen.ok(StatusCode::OK)["calendar_attention"]["reason"],
            "deleted_in_calendar",
            "{calendar_name:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_reaches_the_logs() {
    let app = spawn_app().await;
    let (_, _, _, job) = connected(&app, Family::Microsoft, "ada@outlook.test").await;
    let calendars = app.services.calendars.as_ref().unwrap();
    app.providers.expire_access_tokens();
    synced(calendars.run_sync(&job).await.unwrap());
    let text = String::from_utf8_lossy(&crate::helpers::CAPTURED_LOGS.lock().unwrap()).into_owned();
    assert!(text.contains("reqwest"), "nothing captured");
    let tokens = app.providers.issued_tokens();
    assert!(tokens.len() >= 3);
    for token in tokens {
        assert!(!text.contains(&token), "a token is in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_read_and_the_token_of_the_last_one_kept() {
    for (family, email) in [
        (Family::Google, "ada@gmail.test"),
        (Family::Microsoft, "ada@outlook.test"),
    ] {
        let app = spawn_app().await;
        let (_, _, _, job) = connected(&app, family, email).await;
        let calendar = primary(&app, family, email);
        let calendars = app.services.calendars.as_ref().unwrap();
        app.providers.limit_pages(2);
        for day in 0..7 {
            app.providers.put_event(
                family,
                email,
                &calendar,
                external(family, monday_at(10, 0) + Duration::days(day), json!({})),
            );
        }
        let reads = || {
            app.providers.requests(&Method::GET, "/calendars/")
                + app.providers.requests(&Method::GET, "/calendarView/delta")
        };
        let before = reads();
        let report = synced(calendars.run_sync(&job).await.unwrap());
        assert_eq!(
            (report.fetched, report.stored),
            (7, 7),
            "{family:?} {report:?}"
        );
        assert_eq!(reads() - before, 4, "{family:?}: 7 events, 2 a page");
        assert_eq!(
            raw_table(&app)
                .await
                .matches("S(\"imported_busy\")")
                .count(),
            7
        );
        // The token came with the last page: the next read asks only for what changed, and
        // its second page repeats the token (a page asked for without it is refused).
        for hour in [15, 16, 17] {
            app.providers.put_event(
                family,
                email,
                &calendar,
                external(family, monday_at(hour, 0), json!({})),
            );
        }
        let before = reads();
        let report = synced(calendars.run_sync(&job).await.unwrap());
        assert_eq!(
            (report.fetched, report.stored),
            (3, 3),
            "{family:?} {report:?}"
        );
        assert_eq!(reads() - before, 2, "{family:?}: 3 changes, 2 a page");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_callbacks_arriving_at_once_leave_exactly_one_booking_target() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    app.put(
        "/v1/experts/me",
        Some(&ada),
        &crate::helpers::profile_body(),
    )
    .await
    .ok(StatusCode::OK);
    // Four consents given one after the other; the browsers come back to us at once.
    let mut returns = Vec::new();
    for (i, family) in [
        Family::Google,
        Family::Microsoft,
        Family::Google,
        Family::Microsoft,
    ]
    .into_iter()
    .enumerate()
    {
        app.providers
            .consent_as(family, &format!("ada{i}@example.com"));
        let url = authorize(&app, &ada, family).await;
        returns.push(consent(&url).await);
    }
    let mut racing = tokio::task::JoinSet::new();
    for back in returns {
        racing.spawn(async move { callback(&back).await });
    }
    while let Some(outcome) = racing.join_next().await {
        assert_eq!(outcome.unwrap()["status"], "connected");
    }
    let all = connections(&app, &ada).await;
    assert_eq!(all.len(), 4);
    let targets = all
        .iter()
        .flat_map(|c| c["calendars"].as_array().unwrap().iter())
        .filter(|c| c["booking_target"] == true)
        .count();
    assert_eq!(targets, 1);
}
