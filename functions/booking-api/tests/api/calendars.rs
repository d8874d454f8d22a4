//! Calendar connections through the API, against Radicale (CalDAV) and moto (KMS, SQS).

use chrono::{DateTime, Duration, Utc};
use http::{Method, StatusCode};
use local_stack::radicale::RadicaleAccount;
use marketplace::calendar::connection::{CalendarConnection, ConnectionStatus, Provider};
use marketplace::calendar::secrets::SealedSecret;
use marketplace::calendar::service::SyncJob;
use marketplace::calendar::sync::SyncOutcome;
use marketplace::clock::Clock;
use marketplace::ids::{ConnectionId, ExpertId};
use serde_json::{Value, json};

use crate::booking::{book, bookable_expert, booking, monday_at, three_days_before};
use crate::helpers::{DynamoProbe, TestApp, User, profile_body, spawn_app, spawn_app_counting};

pub(crate) const CALENDARS: &str = "/v1/experts/me/calendars";

/// An expert with a profile, and a Radicale account with an event calendar and a task list.
pub(crate) async fn expert_with_account(app: &TestApp, sub: &str) -> (User, RadicaleAccount) {
    let expert = app.expert(sub);
    app.put("/v1/experts/me", Some(&expert), &profile_body())
        .await
        .ok(StatusCode::OK);
    let account = RadicaleAccount::create(&[("work", "VEVENT"), ("chores", "VTODO")])
        .await
        .unwrap();
    (expert, account)
}

pub(crate) fn connect_body(account: &RadicaleAccount) -> Value {
    json!({
        "provider": "caldav",
        "server_url": account.server_url.as_str(),
        "username": account.username,
        "password": account.password,
    })
}

/// Every item of the test's table, as DynamoDB JSON text.
pub(crate) async fn raw_table(app: &TestApp) -> String {
    let items = app
        .store
        .client()
        .scan()
        .table_name(app.store.table())
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    format!("{items:?}")
}

/// The sync jobs waiting on the calendar-sync queue (taken off it).
pub(crate) async fn sync_jobs(app: &TestApp) -> Vec<Value> {
    app.drain_queue(&app.calendar_sync_queue).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_discovers_the_event_calendars_and_seals_the_password() {
    let app = spawn_app().await;
    let (ada, account) = expert_with_account(&app, "ada").await;
    let created = app
        .post(CALENDARS, Some(&ada), &connect_body(&account))
        .await;
    let connection = created.ok(StatusCode::CREATED).clone();
    assert_eq!(connection["provider"], "caldav");
    assert_eq!(connection["account"], account.username.as_str());
    assert_eq!(connection["status"], "ok");
    let calendars = connection["calendars"].as_array().unwrap();
    assert_eq!(
        calendars.len(),
        1,
        "the task list is not a calendar of events"
    );
    assert_eq!(calendars[0]["name"], "work");
    assert_eq!(calendars[0]["busy_source"], true);
    assert_eq!(calendars[0]["booking_target"], true);
    let text = connection.to_string();
    assert!(!text.contains(&account.password), "{text}");

    // Listed, counted on the public profile (as a yes), sealed in the table, a sync queued.
    let listed = app.get(CALENDARS, Some(&ada)).await;
    assert_eq!(
        listed.ok(StatusCode::OK)["connections"][0]["id"],
        connection["id"]
    );
    let own = app.get("/v1/experts/me", Some(&ada)).await;
    let public = app
        .get(
            &format!("/v1/experts/{}", own.body["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(public.ok(StatusCode::OK)["calendar_connected"], true);
    let table = raw_table(&app).await;
    assert!(table.contains("S(\"calendar_connection\")"));
    assert!(
        !table.contains(&account.password),
        "the password is in the table"
    );
    let jobs = sync_jobs(&app).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["connection_id"], connection["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_cannot_be_made_says_why_and_stores_nothing() {
    let app = spawn_app().await;
    let (ada, account) = expert_with_account(&app, "ada").await;
    let body = |server_url: &str, password: &str| {
        json!({"provider": "caldav", "server_url": server_url,
               "username": account.username, "password": password})
    };
    let radicale = account.server_url.as_str();
    let cases = [
        (body(radicale, "wrong"), "calendar-credentials-refused"),
        // moto speaks HTTP, not WebDAV.
        (
            body(
                &std::env::var("AWS_ENDPOINT_URL").unwrap(),
                &account.password,
            ),
            "not-caldav",
        ),
        // Nothing listens on the discard port.
        (
            body("http://127.0.0.1:9/", &account.password),
            "calendar-unreachable",
        ),
        // Refused before any packet: not https, or a link-local (metadata) address.
        (
            body("http://calendar.example.com/", &account.password),
            "calendar-address-refused",
        ),
        (
            body("https://169.254.169.254/", &account.password),
            "calendar-address-refused",
        ),
        (
            body("https://[::1]/", &account.password),
            "calendar-address-refused",
        ),
        (
            json!({"provider": "google", "username": "a", "password": "b"}),
            "validation-error",
        ),
        (
            json!({"provider": "caldav", "server_url": "not a url", "username": "", "password": ""}),
            "validation-error",
        ),
    ];
    for (body, slug) in cases {
        let answer = app.post(CALENDARS, Some(&ada), &body).await;
        answer.problem(StatusCode::BAD_REQUEST, slug);
        assert!(!answer.body.to_string().contains(&account.password));
    }
    let listed = app.get(CALENDARS, Some(&ada)).await;
    assert_eq!(listed.ok(StatusCode::OK)["connections"], json!([]));
    assert!(!raw_table(&app).await.contains("S(\"calendar_connection\")"));
    assert!(sync_jobs(&app).await.is_empty());
    // Without a profile there is nothing to connect to.
    app.post(
        CALENDARS,
        Some(&app.expert("newcomer")),
        &connect_body(&account),
    )
    .await
    .problem(StatusCode::CONFLICT, "profile-required");
    app.post(CALENDARS, Some(&app.client("bob")), &connect_body(&account))
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_booking_target_across_connections_and_strangers_see_nothing() {
    let app = spawn_app().await;
    let (ada, first_account) = expert_with_account(&app, "ada").await;
    let second_account = RadicaleAccount::create(&[("private", "VEVENT"), ("team", "VEVENT")])
        .await
        .unwrap();
    let first = app
        .post(CALENDARS, Some(&ada), &connect_body(&first_account))
        .await
        .ok(StatusCode::CREATED)
        .clone();
    let second = app
        .post(CALENDARS, Some(&ada), &connect_body(&second_account))
        .await
        .ok(StatusCode::CREATED)
        .clone();
    let targets = |connection: &Value| -> usize {
        connection["calendars"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["booking_target"] == true)
            .count()
    };
    assert_eq!(
        targets(&second),
        0,
        "the first connection already takes bookings"
    );
    let team = second["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "team")
        .unwrap()["id"]
        .clone();
    let path = format!("{CALENDARS}/{}", second["id"].as_str().unwrap());
    let patched = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&ada),
            &json!({"calendars": [{"id": team, "booking_target": true, "busy_source": false}]}),
        )
        .await;
    let patched = patched.ok(StatusCode::OK);
    assert_eq!(targets(patched), 1);
    let listed = app.get(CALENDARS, Some(&ada)).await;
    let all = listed.ok(StatusCode::OK)["connections"].as_array().unwrap();
    assert_eq!(all.iter().map(targets).sum::<usize>(), 1, "{all:?}");
    assert_eq!(
        targets(&all[0]),
        0,
        "the first connection gave its target up"
    );

    // Unknown calendar ids are refused; nothing changes.
    app.send_json(
        Method::PATCH,
        &path,
        Some(&ada),
        &json!({"calendars": [{"id": "nope", "busy_source": false}]}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "validation-error");

    // Another expert reaches none of it: 404 on every route, nothing changed.
    let (mallory, _) = expert_with_account(&app, "mallory").await;
    let first_path = format!("{CALENDARS}/{}", first["id"].as_str().unwrap());
    for (method, path, body) in [
        (Method::PATCH, first_path.clone(), json!({"calendars": []})),
        (Method::DELETE, first_path.clone(), Value::Null),
        (Method::POST, format!("{first_path}/sync"), Value::Null),
    ] {
        app.send_json(method, &path, Some(&mallory), &body)
            .await
            .problem(StatusCode::NOT_FOUND, "not-found");
    }
    assert_eq!(
        app.get(CALENDARS, Some(&mallory)).await.body["connections"],
        json!([])
    );

    // Sync now: one job. Disconnect: gone, the profile says so, a second time 404.
    sync_jobs(&app).await;
    app.send_json(
        Method::POST,
        &format!("{first_path}/sync"),
        Some(&ada),
        &Value::Null,
    )
    .await
    .ok(StatusCode::ACCEPTED);
    assert_eq!(sync_jobs(&app).await.len(), 1);
    for connection in [&first, &second] {
        let path = format!("{CALENDARS}/{}", connection["id"].as_str().unwrap());
        let gone = app
            .send(Method::DELETE, &path, Some(&ada), None, Vec::new())
            .await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
    }
    app.send(Method::DELETE, &first_path, Some(&ada), None, Vec::new())
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(
        app.get(CALENDARS, Some(&ada)).await.body["connections"],
        json!([])
    );
    assert_eq!(
        app.get("/v1/experts/me", Some(&ada)).await.body["calendar_connected"],
        false
    );
    assert!(!raw_table(&app).await.contains("S(\"calendar_connection\")"));
}

pub(crate) struct Connected {
    pub expert: String,
    pub ada: User,
    pub account: RadicaleAccount,
    /// A sync job of the connection.
    pub job: SyncJob,
}

/// Bookable Ada, seen from three days before Monday, with a Radicale calendar connected.
async fn connected_expert(app: &TestApp) -> Connected {
    connected_expert_through(app, None).await
}

/// The same, connected through `server_url` (a proxy in front of Radicale) when given.
pub(crate) async fn connected_expert_through(
    app: &TestApp,
    server_url: Option<&reqwest::Url>,
) -> Connected {
    let expert = bookable_expert(app, 18_000, "usd").await;
    three_days_before(app);
    let ada = app.expert("ada");
    let account = RadicaleAccount::create(&[("work", "VEVENT")])
        .await
        .unwrap();
    let mut body = connect_body(&account);
    if let Some(url) = server_url {
        body["server_url"] = json!(url.as_str());
    }
    let connection = app
        .post(CALENDARS, Some(&ada), &body)
        .await
        .ok(StatusCode::CREATED)
        .clone();
    let job = SyncJob::of(
        expert.parse().unwrap(),
        connection["id"].as_str().unwrap().parse().unwrap(),
    );
    Connected {
        expert,
        ada,
        account,
        job,
    }
}

/// The starts of the free hours of Monday 09:00-17:00 (London).
pub(crate) async fn free_hours(app: &TestApp, expert: &str) -> Vec<DateTime<Utc>> {
    let format = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let slots = app
        .get(
            &format!(
                "/v1/experts/{expert}/slots?from={}&to={}&duration=60&step=60",
                format(monday_at(9, 0)),
                format(monday_at(17, 0))
            ),
            None,
        )
        .await;
    slots.ok(StatusCode::OK)["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// An event from `start` for an hour, as another CalDAV client writes it.
pub(crate) fn event(uid: &str, start: DateTime<Utc>) -> String {
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//another client//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        stamp(start),
        stamp(start + Duration::hours(1))
    )
}

pub(crate) async fn put_event(account: &RadicaleAccount, name: &str, body: String) {
    let status = account
        .request(Method::PUT, &format!("work/{name}.ics"))
        .unwrap()
        .header("content-type", "text/calendar")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "PUT {name}: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_the_calendar_block_move_and_free_slots_after_one_sync_each() {
    let counter = DynamoProbe::default();
    let app = spawn_app_counting(counter.clone()).await;
    let Connected {
        expert,
        ada,
        account,
        job,
    } = connected_expert(&app).await;
    let calendars = app.services.calendars.as_ref().unwrap();
    let sync = || calendars.run_sync(&job);
    assert!(matches!(sync().await.unwrap(), SyncOutcome::Synced(_)));
    let (ten, eleven, one) = (monday_at(10, 0), monday_at(11, 0), monday_at(13, 0));
    let all = free_hours(&app, &expert).await;
    assert!(all.contains(&ten) && all.contains(&one), "{all:?}");

    // Written by another client: blocks after one sync; a booking over it is refused.
    put_event(&account, "dentist", event("dentist-1", ten)).await;
    counter.take();
    let SyncOutcome::Synced(report) = sync().await.unwrap() else {
        panic!("not synced")
    };
    assert_eq!((report.fetched, report.stored, report.freed), (1, 1, 0));
    // One changed event: the connection, the expert partition, one transaction; CalDAV: one
    // REPORT and one multiget of that member (not a re-read of the calendar).
    assert_eq!(counter.take(), ["GetItem", "Query", "TransactWriteItems"]);
    let hours = free_hours(&app, &expert).await;
    assert!(
        !hours.contains(&ten) && hours.contains(&eleven),
        "{hours:?}"
    );
    // Five days of slots for an expert with a connected calendar: profile, settings, imported
    // busy time, holds and the calendar's freshness all come from one Query.
    let format = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    counter.take();
    let week = app
        .get(
            &format!(
                "/v1/experts/{expert}/slots?from={}&to={}&duration=60",
                format(monday_at(0, 0)),
                format(monday_at(0, 0) + Duration::days(5))
            ),
            None,
        )
        .await;
    assert!(
        week.ok(StatusCode::OK)["slots"].as_array().unwrap().len() > 8,
        "more than Monday's"
    );
    assert_eq!(counter.take(), ["Query"]);
    book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, ten, 60),
    )
    .await
    .problem(StatusCode::CONFLICT, "slot-unavailable");

    // Nothing changed: one REPORT to Radicale, DynamoDB only read (the connection, the
    // expert partition), nothing written.
    counter.take();
    let SyncOutcome::Synced(report) = sync().await.unwrap() else {
        panic!("not synced")
    };
    assert_eq!(report.fetched, 0);
    assert_eq!(counter.take(), ["GetItem", "Query"], "no write");

    // Moved: the block moves. Deleted: the slot is free again.
    put_event(&account, "dentist", event("dentist-1", one)).await;
    sync().await.unwrap();
    let hours = free_hours(&app, &expert).await;
    assert!(hours.contains(&ten) && !hours.contains(&one), "{hours:?}");
    let status = account
        .request(Method::DELETE, "work/dentist.ics")
        .unwrap()
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
    let SyncOutcome::Synced(report) = sync().await.unwrap() else {
        panic!("not synced")
    };
    assert_eq!(report.freed, 1);
    assert_eq!(free_hours(&app, &expert).await, all);

    // A second event blocks; then the account's password is changed under us (the Apple ID
    // case): `needs_reauth`, told why, and the imported time is kept, not freed.
    put_event(&account, "standup", event("standup-1", eleven)).await;
    sync().await.unwrap();
    assert!(!free_hours(&app, &expert).await.contains(&eleven));
    let listed = app.get(CALENDARS, Some(&ada)).await;
    let status = &listed.ok(StatusCode::OK)["connections"][0];
    assert_eq!(status["status"], "ok");
    assert!(status["last_synced_at"].is_string());
    let mut account = account;
    account.change_password().unwrap();
    // Other tests mail ada@example.com too: count this email only.
    let refusals = || async {
        crate::events::emails_to("ada@example.com")
            .await
            .into_iter()
            .filter(|(subject, _)| subject == "Your calendar needs to be connected again")
            .count()
    };
    let told = refusals().await;
    assert_eq!(sync().await.unwrap(), SyncOutcome::NeedsReauth);
    // Told once, however often the refusal is seen again.
    assert_eq!(sync().await.unwrap(), SyncOutcome::NeedsReauth);
    assert_eq!(refusals().await, told + 1);
    let listed = app.get(CALENDARS, Some(&ada)).await;
    let status = &listed.ok(StatusCode::OK)["connections"][0];
    assert_eq!(status["status"], "needs_reauth");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("app-specific password"),
        "{status}"
    );
    // A calendar that cannot be read is never taken as free: every slot is hidden and a
    // booking is refused until it can be read (here: until it is disconnected). What it
    // imported is kept, not freed.
    assert!(free_hours(&app, &expert).await.is_empty());
    let slots = app
        .get(&format!("/v1/experts/{expert}/slots?duration=60"), None)
        .await;
    assert!(
        slots.body["hidden_because"]
            .as_str()
            .unwrap()
            .contains("calendar")
    );
    book(
        &app,
        &app.client("bob"),
        Some("k2"),
        &booking(&expert, one, 60),
    )
    .await
    .problem(StatusCode::CONFLICT, "calendar-unreadable");
    assert_eq!(
        raw_table(&app)
            .await
            .matches("S(\"imported_busy\")")
            .count(),
        1,
        "the standup is still imported"
    );

    // Disconnect: the imported time goes with it, at once.
    let path = format!("{CALENDARS}/{}", job.connection_id);
    let gone = app
        .send(Method::DELETE, &path, Some(&ada), None, Vec::new())
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(free_hours(&app, &expert).await, all);
    // A job for the deleted connection does nothing.
    assert_eq!(sync().await.unwrap(), SyncOutcome::Gone);
}

/// The busy intervals of each item the expert's connections imported, as stored, sorted.
async fn imported_intervals(app: &TestApp, expert: &str) -> Vec<Vec<(String, String)>> {
    #[derive(serde::Deserialize)]
    struct Item {
        intervals: Vec<marketplace::availability::Interval>,
    }
    let items = app
        .store
        .client()
        .query()
        .table_name(app.store.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("EXPERT#{expert}")),
        )
        .expression_attribute_values(
            ":prefix",
            aws_sdk_dynamodb::types::AttributeValue::S("BUSY#~cal#".into()),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let format = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut all: Vec<Vec<(String, String)>> = items
        .into_iter()
        .map(|item| {
            serde_dynamo::from_item::<_, Item>(item)
                .unwrap()
                .intervals
                .into_iter()
                .map(|i| (format(i.start), format(i.end)))
                .collect()
        })
        .collect();
    all.sort();
    all
}

const NEW_YORK: &str = "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

fn calendar(body: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//another client//EN\r\n{body}END:VCALENDAR\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recurrences_across_dst_exdates_declines_transparency_and_all_day_events_block_exactly() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    // Monday 2 March 2026, six days before New York moves its clocks (8 March).
    let now: DateTime<Utc> = "2026-03-02T00:00:00Z".parse().unwrap();
    app.clock.advance(now - app.clock.now());
    let ada = app.expert("ada");
    let account = RadicaleAccount::create(&[("work", "VEVENT")])
        .await
        .unwrap();
    let connection = app
        .post(CALENDARS, Some(&ada), &connect_body(&account))
        .await
        .ok(StatusCode::CREATED)
        .clone();
    // A weekly 09:00 New York series without BYDAY, anchored at its DTSTART: the second
    // instance moved to 11:00, the third struck out.
    let weekly = calendar(&format!(
        "{NEW_YORK}BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260201T000000Z\r\nDTSTART;TZID=America/New_York:20260302T090000\r\nDTEND;TZID=America/New_York:20260302T100000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID=America/New_York:20260316T090000\r\nSUMMARY:Stand-up\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260201T000000Z\r\nRECURRENCE-ID;TZID=America/New_York:20260309T090000\r\nDTSTART;TZID=America/New_York:20260309T110000\r\nDTEND;TZID=America/New_York:20260309T120000\r\nSUMMARY:Stand-up (moved)\r\nEND:VEVENT\r\n"
    ));
    let transparent = calendar(
        "BEGIN:VEVENT\r\nUID:focus-1\r\nDTSTAMP:20260201T000000Z\r\nDTSTART:20260303T090000Z\r\nDTEND:20260303T100000Z\r\nTRANSP:TRANSPARENT\r\nSUMMARY:Focus\r\nEND:VEVENT\r\n",
    );
    let declined = calendar(
        "BEGIN:VEVENT\r\nUID:invite-1\r\nDTSTAMP:20260201T000000Z\r\nDTSTART:20260304T090000Z\r\nDTEND:20260304T100000Z\r\nORGANIZER:mailto:boss@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@example.com\r\nATTENDEE;PARTSTAT=DECLINED:mailto:Ada@Example.com\r\nSUMMARY:Offsite\r\nEND:VEVENT\r\n",
    );
    // All day on 7 April, in the expert's London (summer time then): 23:00Z to 23:00Z.
    let all_day = calendar(
        "BEGIN:VEVENT\r\nUID:holiday-1\r\nDTSTAMP:20260201T000000Z\r\nDTSTART;VALUE=DATE:20260407\r\nDTEND;VALUE=DATE:20260408\r\nSUMMARY:Holiday\r\nEND:VEVENT\r\n",
    );
    for (name, body) in [
        ("weekly", weekly),
        ("focus", transparent),
        ("invite", declined),
        ("holiday", all_day),
    ] {
        put_event(&account, name, body).await;
    }
    let job = SyncJob::of(
        expert.parse().unwrap(),
        connection["id"].as_str().unwrap().parse().unwrap(),
    );
    let calendars = app.services.calendars.as_ref().unwrap();
    let SyncOutcome::Synced(report) = calendars.run_sync(&job).await.unwrap() else {
        panic!("not synced")
    };
    assert_eq!((report.fetched, report.skipped), (4, 0), "{report:?}");
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        imported_intervals(&app, &expert).await,
        vec![
            // 14:00Z on standard time, the moved 11:00 EDT = 15:00Z, 13:00Z on daylight time.
            vec![
                pair("2026-03-02T14:00:00Z", "2026-03-02T15:00:00Z"),
                pair("2026-03-09T15:00:00Z", "2026-03-09T16:00:00Z"),
                pair("2026-03-23T13:00:00Z", "2026-03-23T14:00:00Z"),
            ],
            vec![pair("2026-04-06T23:00:00Z", "2026-04-07T23:00:00Z")],
        ],
        "the transparent event and the declined invitation block nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_at_once_queue_each_of_200_due_connections_exactly_once() {
    let app = spawn_app().await;
    let (ada, _) = expert_with_account(&app, "ada").await;
    let own = app.get("/v1/experts/me", Some(&ada)).await;
    let expert: ExpertId = own.body["id"].as_str().unwrap().parse().unwrap();
    let now = app.clock.now();
    let mut ids = Vec::new();
    for _ in 0..200 {
        let connection = CalendarConnection {
            id: ConnectionId::new(),
            expert_id: expert,
            provider: Provider::Caldav,
            account: "ada@example.com".into(),
            own_addresses: Vec::new(),
            server_url: Some("https://caldav.example.com/".into()),
            status: ConnectionStatus::Ok,
            last_synced_at: None,
            next_sync_at: now - Duration::minutes(1),
            last_error: None,
            degraded_since: None,
            calendars: Vec::new(),
            preferences: Default::default(),
            push: Vec::new(),
            created_at: now,
            version: 1,
            secret_version: 1,
        };
        let secret = SealedSecret {
            wrapped_key: "a2V5".into(),
            nonce: "bm9uY2U=".into(),
            ciphertext: "c2VjcmV0".into(),
        };
        app.store
            .create_connection(&connection, secret)
            .await
            .unwrap();
        ids.push(connection.id.to_string());
    }
    ids.sort();
    let calendars = app.services.calendars.as_ref().unwrap();
    let (a, b) = tokio::join!(calendars.enqueue_due(), calendars.enqueue_due());
    assert_eq!(a.unwrap() + b.unwrap(), 200);
    // Counted, not collected into a set: a connection queued twice shows.
    let mut queued: Vec<String> = sync_jobs(&app)
        .await
        .iter()
        .map(|job| job["connection_id"].as_str().unwrap().to_owned())
        .collect();
    queued.sort();
    assert_eq!(queued, ids, "each once");
    // Not due again until the interval has passed.
    assert_eq!(calendars.enqueue_due().await.unwrap(), 0);
    app.clock.advance(Duration::minutes(6));
    assert_eq!(calendars.enqueue_due().await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_function_retries_what_it_could_not_do_and_drops_nothing() {
    let app = spawn_app().await;
    let calendars = app.services.calendars.as_ref().unwrap();
    let record = |id: &str, body: &str| {
        let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
        record.message_id = Some(id.into());
        record.body = Some(body.into());
        record
    };
    let gone = json!({"expert_id": ExpertId::new().to_string(),
                      "connection_id": ConnectionId::new().to_string()});
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = vec![
        record("unreadable", "{not json"),
        record(
            "unknown-field",
            r#"{"expert_id": "x", "connection_id": "y", "extra": 1}"#,
        ),
        record("deleted-connection", &gone.to_string()),
    ];
    let response = calendar_sync::handle(calendars, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // Unreadable jobs come back (and reach the dead-letter queue); a job for a connection
    // that no longer exists is done.
    assert_eq!(failed, ["unreadable", "unknown-field"]);
}

/// Relays the outbox to the bus and runs the calendar-sync function over its queue, as the
/// schedule and Lambda's SQS trigger do.
pub(crate) async fn deliver_to_calendar(app: &TestApp) {
    app.services.relay.as_ref().unwrap().run().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&marketplace::config::aws_sdk_config().await);
    let calendars = app.services.calendars.as_ref().unwrap();
    while local_stack::queue_pump::calendar_syncs(&sqs, &app.calendar_sync_queue, calendars)
        .await
        .unwrap()
        != (0, 0)
    {}
}

/// The booking's event as Radicale holds it: (status, ETag, body).
pub(crate) async fn event_in_radicale(
    account: &RadicaleAccount,
    id: &str,
) -> (u16, String, String) {
    let response = account
        .request(Method::GET, &format!("work/{id}@expert-marketplace.ics"))
        .unwrap()
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .map(|e| e.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, etag, response.text().await.unwrap())
}

/// How many objects the calendar holds.
pub(crate) async fn objects_in(account: &RadicaleAccount) -> usize {
    let body = account
        .request(Method::from_bytes(b"PROPFIND").unwrap(), "work/")
        .unwrap()
        .header("depth", "1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.matches(".ics</").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_appear_move_and_leave_the_experts_calendar() {
    let counter = DynamoProbe::default();
    let app = spawn_app_counting(counter.clone()).await;
    let Connected {
        expert,
        ada,
        account,
        job,
    } = connected_expert(&app).await;
    let id = crate::conversation::paid(&app, &expert, "bob", 10).await;
    deliver_to_calendar(&app).await;

    // Written with the appointment's UID and times; no notes, no money.
    let (status, etag, body) = event_in_radicale(&account, &id).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("UID:{id}@expert-marketplace")),
        "{body}"
    );
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    assert!(body.contains(&format!("DTSTART:{}", stamp(monday_at(10, 0)))));
    assert!(body.contains("https://meet.jit.si/"));
    // (Money is shown as "180.00 USD" wherever we show it.)
    for absent in [
        "tax return",
        "180.00",
        "USD",
        "usd",
        "ATTENDEE",
        "ORGANIZER",
        "METHOD",
    ] {
        assert!(!body.contains(absent), "{absent} in {body}");
    }
    // The confirmation delivered again: still one event.
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
    assert_eq!(objects_in(&account).await, 1);
    assert_eq!(
        event_in_radicale(&account, &id).await.1,
        etag,
        "not rewritten"
    );

    // Moved: the same resource, a new ETag and time. Cancelled: gone.
    crate::cancel::reschedule(&app, &app.client("bob"), &id, monday_at(14, 0))
        .await
        .ok(StatusCode::OK);
    deliver_to_calendar(&app).await;
    let (status, moved_etag, body) = event_in_radicale(&account, &id).await;
    assert_eq!(status, 200);
    assert_ne!(moved_etag, etag);
    assert!(
        body.contains(&format!("DTSTART:{}", stamp(monday_at(14, 0)))),
        "{body}"
    );
    assert_eq!(objects_in(&account).await, 1);
    crate::cancel::cancel(&app, &app.client("bob"), &id)
        .await
        .ok(StatusCode::OK);
    deliver_to_calendar(&app).await;
    assert_eq!(event_in_radicale(&account, &id).await.0, 404);
    assert_eq!(objects_in(&account).await, 0);

    // The expert deletes a booking's event in the calendar: the booking is flagged, its time
    // stays blocked, nothing is written back, and the next sync writes nothing.
    let other = crate::conversation::paid(&app, &expert, "bob", 11).await;
    deliver_to_calendar(&app).await;
    assert_eq!(event_in_radicale(&account, &other).await.0, 200);
    let status = account
        .request(
            Method::DELETE,
            &format!("work/{other}@expert-marketplace.ics"),
        )
        .unwrap()
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
    let calendars = app.services.calendars.as_ref().unwrap();
    calendars.run_sync(&job).await.unwrap();
    let seen = app
        .get(&format!("/v1/appointments/{other}"), Some(&ada))
        .await;
    let seen = seen.ok(StatusCode::OK);
    assert_eq!(seen["status"], "confirmed");
    assert_eq!(
        seen["calendar_attention"]["reason"], "deleted_in_calendar",
        "{seen}"
    );
    assert!(
        seen["calendar_attention"]["detail"]
            .as_str()
            .unwrap()
            .contains("deleted"),
        "{seen}"
    );
    assert!(!free_hours(&app, &expert).await.contains(&monday_at(11, 0)));
    calendars.run_sync(&job).await.unwrap();
    counter.take();
    calendars.run_sync(&job).await.unwrap();
    assert_eq!(counter.take(), ["GetItem", "Query"], "no write");
    assert_eq!(objects_in(&account).await, 0, "not recreated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_never_reaches_the_logs() {
    let app = spawn_app().await;
    let Connected {
        account, job, ada, ..
    } = connected_expert(&app).await;
    let calendars = app.services.calendars.as_ref().unwrap();
    put_event(&account, "dentist", event("dentist-1", monday_at(10, 0))).await;
    calendars.run_sync(&job).await.unwrap();
    let mut wrong = connect_body(&account);
    wrong["password"] = json!(format!("{}-wrong", account.password));
    app.post(CALENDARS, Some(&ada), &wrong)
        .await
        .problem(StatusCode::BAD_REQUEST, "calendar-credentials-refused");
    let text = String::from_utf8_lossy(&crate::helpers::CAPTURED_LOGS.lock().unwrap()).into_owned();
    // The capture holds the CalDAV client's connections (debug level) of every test so far.
    assert!(text.contains("reqwest::connect"), "nothing captured");
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", account.username, account.password));
    assert!(!text.contains(&account.password), "password in the logs");
    assert!(!text.contains(&basic), "credentials in the logs");
}

/// How many calendars take bookings across all of `expert`'s connections.
async fn booking_targets(app: &TestApp, expert: &User) -> usize {
    let listed = app.get(CALENDARS, Some(expert)).await;
    listed.ok(StatusCode::OK)["connections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["calendars"].as_array().unwrap().iter())
        .filter(|c| c["booking_target"] == true)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_and_choices_at_once_leave_exactly_one_booking_target() {
    let app = spawn_app().await;
    let (ada, first) = expert_with_account(&app, "ada").await;
    let mut accounts = vec![first];
    for _ in 1..8 {
        accounts.push(
            RadicaleAccount::create(&[("work", "VEVENT")])
                .await
                .unwrap(),
        );
    }
    // Eight connects at once: each reads that no calendar takes bookings yet.
    let mut racing = tokio::task::JoinSet::new();
    for account in &accounts {
        let (app, ada, body) = (app.clone(), ada.clone(), connect_body(account));
        racing.spawn(async move { app.post(CALENDARS, Some(&ada), &body).await });
    }
    let mut connected = Vec::new();
    while let Some(answer) = racing.join_next().await {
        connected.push(answer.unwrap().ok(StatusCode::CREATED).clone());
    }
    assert_eq!(connected.len(), 8);
    assert_eq!(booking_targets(&app, &ada).await, 1);
    // Two connections each choose their calendar as the target at once.
    let listed = app.get(CALENDARS, Some(&ada)).await;
    let without: Vec<Value> = listed.ok(StatusCode::OK)["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["calendars"][0]["booking_target"] == false)
        .take(2)
        .cloned()
        .collect();
    let mut racing = tokio::task::JoinSet::new();
    for connection in &without {
        let path = format!("{CALENDARS}/{}", connection["id"].as_str().unwrap());
        let body = json!({"calendars": [{"id": connection["calendars"][0]["id"], "booking_target": true}]});
        let (app, ada) = (app.clone(), ada.clone());
        racing.spawn(async move { app.send_json(Method::PATCH, &path, Some(&ada), &body).await });
    }
    while let Some(answer) = racing.join_next().await {
        answer.unwrap().ok(StatusCode::OK);
    }
    assert_eq!(booking_targets(&app, &ada).await, 1);
    // Disconnecting the holder frees the target: the next connection takes it.
    let listed = app.get(CALENDARS, Some(&ada)).await;
    let holder = listed.ok(StatusCode::OK)["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["calendars"][0]["booking_target"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.send(
        Method::DELETE,
        &format!("{CALENDARS}/{holder}"),
        Some(&ada),
        None,
        Vec::new(),
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    assert_eq!(booking_targets(&app, &ada).await, 0);
    let fresh = RadicaleAccount::create(&[("work", "VEVENT")])
        .await
        .unwrap();
    let again = app.post(CALENDARS, Some(&ada), &connect_body(&fresh)).await;
    assert_eq!(
        again.ok(StatusCode::CREATED)["calendars"][0]["booking_target"],
        true
    );
    assert_eq!(booking_targets(&app, &ada).await, 1);
}
