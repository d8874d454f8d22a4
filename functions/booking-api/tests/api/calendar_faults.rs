//! Calendars that fail: a server that stops answering mid-sync, throttles, or answers hostile
//! data; busy time that grew stale before a booking; addresses that must never be called; and
//! a booking's event moved by the expert. Against Radicale (behind a fault proxy) and moto.

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use http::{Method, StatusCode};
use local_stack::fault_proxy::{Fault, FaultProxy};
use marketplace::calendar::guard::StaticLookup;
use marketplace::calendar::sync::SyncOutcome;
use serde_json::{Value, json};

use crate::booking::{book, booking, monday_at};
use crate::calendars::{
    CALENDARS, Connected, connected_expert_through, deliver_to_calendar, event, event_in_radicale,
    expert_with_account, free_hours, put_event, raw_table,
};
use crate::helpers::{DynamoProbe, TestApp, spawn_app, spawn_app_counting, spawn_app_with};

/// A fault proxy in front of the local Radicale.
async fn proxy() -> FaultProxy {
    let radicale = reqwest::Url::parse(&std::env::var("RADICALE_URL").unwrap()).unwrap();
    FaultProxy::start(radicale).await.unwrap()
}

async fn imported_items(app: &TestApp) -> usize {
    raw_table(app).await.matches("S(\"imported_busy\")").count()
}

async fn status_of(app: &TestApp, connected: &Connected) -> Value {
    let listed = app.get(CALENDARS, Some(&connected.ada)).await;
    listed.ok(StatusCode::OK)["connections"][0].clone()
}

/// The emails ada@example.com got with this subject.
async fn emails_about(subject: &str) -> usize {
    crate::events::emails_to("ada@example.com")
        .await
        .into_iter()
        .filter(|(s, _)| s == subject)
        .count()
}

const UNREACHABLE_SUBJECT: &str = "We cannot read your calendar";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_that_stops_answering_mid_sync_is_degraded_keeps_its_busy_time_and_recovers() {
    let app = spawn_app().await;
    let proxy = proxy().await;
    let connected = connected_expert_through(&app, Some(&proxy.url())).await;
    let (expert, account, job) = (&connected.expert, &connected.account, &connected.job);
    let calendars = app.services.calendars.as_ref().unwrap();
    let (ten, eleven, one, three) = (
        monday_at(10, 0),
        monday_at(11, 0),
        monday_at(13, 0),
        monday_at(15, 0),
    );
    put_event(account, "dentist", event("dentist-1", ten)).await;
    put_event(account, "lunch", event("lunch-1", one)).await;
    assert!(matches!(
        calendars.run_sync(job).await.unwrap(),
        SyncOutcome::Synced(_)
    ));
    let before = free_hours(&app, expert).await;
    assert!(
        !before.contains(&ten) && !before.contains(&one),
        "{before:?}"
    );
    assert_eq!(imported_items(&app).await, 2);

    // Changes wait in the calendar: the dentist moves, lunch goes, a call comes. The server
    // answers the sync's REPORT, then stops answering before the events are fetched.
    put_event(account, "dentist", event("dentist-1", eleven)).await;
    let gone = account
        .request(Method::DELETE, "work/lunch.ics")
        .unwrap()
        .send()
        .await
        .unwrap();
    assert!(gone.status().is_success());
    put_event(account, "call", event("call-1", three)).await;
    let (passed, _) = proxy.counts();
    proxy.fail_after(1, Fault::Drop);
    let outcome = calendars.run_sync(job).await.unwrap();
    assert!(
        matches!(outcome, SyncOutcome::Degraded { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        proxy.counts(),
        (passed + 1, 1),
        "REPORT passed, multiget dropped"
    );

    // Degraded, told why; nothing imported was freed or changed, not even the deleted lunch.
    let status = status_of(&app, &connected).await;
    assert_eq!(status["status"], "degraded", "{status}");
    assert!(status["last_error"].is_string(), "{status}");
    assert!(status["degraded_since"].is_string());
    assert_eq!(imported_items(&app).await, 2);
    // Never taken as free: slots hidden, bookings refused.
    assert!(free_hours(&app, expert).await.is_empty());
    book(
        &app,
        &app.client("bob"),
        Some("while-down"),
        &booking(expert, monday_at(16, 0), 60),
    )
    .await
    .problem(StatusCode::CONFLICT, "calendar-unreadable");

    // Still failing ten minutes later: the expert is emailed, once.
    let told = emails_about(UNREACHABLE_SUBJECT).await;
    proxy.fail(Fault::Drop);
    app.clock.advance(Duration::minutes(9));
    calendars.run_sync(job).await.unwrap();
    assert_eq!(emails_about(UNREACHABLE_SUBJECT).await, told, "not yet");
    app.clock.advance(Duration::minutes(2));
    calendars.run_sync(job).await.unwrap();
    calendars.run_sync(job).await.unwrap();
    assert_eq!(emails_about(UNREACHABLE_SUBJECT).await, told + 1);

    // Back: every change lands in one sync and the slots return.
    proxy.heal();
    assert!(matches!(
        calendars.run_sync(job).await.unwrap(),
        SyncOutcome::Synced(_)
    ));
    // (Slots end 15 minutes before the next event: 10:00 is taken by the dentist's buffer.)
    let after = free_hours(&app, expert).await;
    assert!(after.contains(&one), "freed: {after:?}");
    assert!(
        !after.contains(&eleven) && !after.contains(&three),
        "blocked: {after:?}"
    );
    let status = status_of(&app, &connected).await;
    assert_eq!(status["status"], "ok");
    assert!(status.get("degraded_since").is_none(), "{status}");
    assert_eq!(imported_items(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_read_comes_back_after_its_retry_after_not_the_visibility_timeout() {
    let app = spawn_app().await;
    let proxy = proxy().await;
    let connected = connected_expert_through(&app, Some(&proxy.url())).await;
    let sqs = aws_sdk_sqs::Client::new(&marketplace::config::aws_sdk_config().await);
    let calendars = app.services.calendars.as_ref().unwrap();
    let queue = &app.calendar_sync_queue;
    // Connecting queued the first sync: the server throttles it, asking for 12 seconds.
    proxy.fail(Fault::Status {
        status: 429,
        retry_after: Some(12),
    });
    let pump = || local_stack::queue_pump::calendar_syncs(&sqs, queue, calendars);
    assert_eq!(pump().await.unwrap(), (0, 1));
    let failed_at = Instant::now();
    let status = status_of(&app, &connected).await;
    assert_eq!(status["status"], "degraded");
    assert!(
        status["last_error"].as_str().unwrap().contains("429"),
        "{status}"
    );
    // Not back at once; back long before the queue's 120-second visibility timeout.
    assert_eq!(pump().await.unwrap(), (0, 0));
    proxy.heal();
    let mut back = None;
    while failed_at.elapsed() < StdDuration::from_secs(40) {
        if pump().await.unwrap() == (1, 0) {
            back = Some(failed_at.elapsed());
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
    let back = back.expect("the job came back within 40 s");
    assert!(back >= StdDuration::from_secs(10), "after {back:?}");
    assert_eq!(status_of(&app, &connected).await["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_busy_time_is_read_again_before_a_booking_and_an_unreadable_calendar_refuses_it() {
    let counter = DynamoProbe::default();
    let app = spawn_app_counting(counter.clone()).await;
    let proxy = proxy().await;
    let connected = connected_expert_through(&app, Some(&proxy.url())).await;
    let (expert, account, job) = (&connected.expert, &connected.account, &connected.job);
    let calendars = app.services.calendars.as_ref().unwrap();
    calendars.run_sync(job).await.unwrap();
    let bob = app.client("bob");

    // An unchanged sync writes nothing while the last confirmed read is recent, and only the
    // read time once it is 10 minutes old (the heartbeat).
    app.clock.advance(Duration::minutes(9));
    counter.take();
    calendars.run_sync(job).await.unwrap();
    assert_eq!(counter.take(), ["GetItem", "Query"]);
    app.clock.advance(Duration::minutes(1));
    calendars.run_sync(job).await.unwrap();
    assert_eq!(
        counter.take(),
        ["GetItem", "Query", "UpdateItem"],
        "and the read time"
    );

    // The schedule stops for 16 minutes while the expert adds an event: the booking reads the
    // calendar first, sees it, and refuses the slot.
    app.clock.advance(Duration::minutes(16));
    put_event(account, "dentist", event("dentist-1", monday_at(10, 0))).await;
    let (passed, _) = proxy.counts();
    book(
        &app,
        &bob,
        Some("stale-1"),
        &booking(expert, monday_at(10, 0), 60),
    )
    .await
    .problem(StatusCode::CONFLICT, "slot-unavailable");
    assert_eq!(proxy.counts().0 - passed, 2, "one REPORT, one multiget");
    assert_eq!(imported_items(&app).await, 1);
    // Fresh now: the next booking reads nothing first.
    book(
        &app,
        &bob,
        Some("stale-2"),
        &booking(expert, monday_at(11, 0), 60),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(proxy.counts().0 - passed, 2);

    // Stale again, and the calendar cannot be read: the booking is refused, not placed on
    // stale data, and the slots are hidden until a read works.
    app.clock.advance(Duration::minutes(16));
    proxy.fail(Fault::Drop);
    book(
        &app,
        &bob,
        Some("stale-3"),
        &booking(expert, monday_at(13, 0), 60),
    )
    .await
    .problem(StatusCode::CONFLICT, "calendar-unreadable");
    assert_eq!(
        status_of(&app, &connected).await["status"],
        "degraded",
        "the refused read was recorded"
    );
    assert!(free_hours(&app, expert).await.is_empty());
    proxy.heal();
    calendars.run_sync(job).await.unwrap();
    book(
        &app,
        &bob,
        Some("stale-4"),
        &booking(expert, monday_at(13, 0), 60),
    )
    .await
    .ok(StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_expert_moves_flags_its_booking_until_the_booking_itself_moves() {
    let counter = DynamoProbe::default();
    let app = spawn_app_counting(counter.clone()).await;
    let connected = connected_expert_through(&app, None).await;
    let (expert, account, job) = (&connected.expert, &connected.account, &connected.job);
    let calendars = app.services.calendars.as_ref().unwrap();
    let id = crate::conversation::paid(&app, expert, "bob", 10).await;
    deliver_to_calendar(&app).await;
    let (status, etag, body) = event_in_radicale(account, &id).await;
    assert_eq!(status, 200, "{body}");
    // The sync that follows our own write reads nothing back (the ETag is ours).
    calendars.run_sync(job).await.unwrap();

    // The expert drags the event to 15:00 in their calendar app.
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let moved = body
        .replace(
            &format!("DTSTART:{}", stamp(monday_at(10, 0))),
            &format!("DTSTART:{}", stamp(monday_at(15, 0))),
        )
        .replace(
            &format!("DTEND:{}", stamp(monday_at(11, 0))),
            &format!("DTEND:{}", stamp(monday_at(16, 0))),
        );
    assert_ne!(moved, body);
    let written = account
        .request(Method::PUT, &format!("work/{id}@expert-marketplace.ics"))
        .unwrap()
        .header("content-type", "text/calendar")
        .header("if-match", &etag)
        .body(moved)
        .send()
        .await
        .unwrap();
    assert!(written.status().is_success());
    calendars.run_sync(job).await.unwrap();
    let seen = app
        .get(&format!("/v1/appointments/{id}"), Some(&connected.ada))
        .await;
    let seen = seen.ok(StatusCode::OK).clone();
    assert_eq!(seen["status"], "confirmed");
    assert_eq!(
        seen["calendar_attention"]["reason"], "moved_in_calendar",
        "{seen}"
    );
    // The booking's hour stays blocked; the event is left where the expert put it; the next
    // sync writes nothing.
    assert!(!free_hours(&app, expert).await.contains(&monday_at(10, 0)));
    deliver_to_calendar(&app).await;
    let (_, still, body) = event_in_radicale(account, &id).await;
    assert!(body.contains(&format!("DTSTART:{}", stamp(monday_at(15, 0)))));
    counter.take();
    calendars.run_sync(job).await.unwrap();
    assert_eq!(counter.take(), ["GetItem", "Query"], "no write");

    // The booking is moved (an explicit action): the event follows it, the flag goes.
    crate::cancel::reschedule(&app, &app.client("bob"), &id, monday_at(14, 0))
        .await
        .ok(StatusCode::OK);
    deliver_to_calendar(&app).await;
    let (_, rewritten, body) = event_in_radicale(account, &id).await;
    assert_ne!(rewritten, still);
    assert!(
        body.contains(&format!("DTSTART:{}", stamp(monday_at(14, 0)))),
        "{body}"
    );
    let seen = app
        .get(&format!("/v1/appointments/{id}"), Some(&connected.ada))
        .await;
    assert!(
        seen.body.get("calendar_attention").is_none(),
        "{}",
        seen.body
    );
}

/// A server on loopback that redirects every request to `location`.
async fn redirector(location: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .fallback(move || async move { (StatusCode::MOVED_PERMANENTLY, [("location", location)]) });
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_addresses_are_refused_before_any_packet_leaves_loopback() {
    // Production rules: only `redirector.test` (a server of this test on 127.0.0.1) is allowed
    // locally; every other name resolves through the test's table, never through DNS.
    let app = spawn_app_with(DynamoProbe::default(), |options| {
        options.calendar_local_hosts = vec!["redirector.test".into()];
        options.calendar_lookup = Some(StaticLookup::new([
            ("redirector.test", vec!["127.0.0.1".parse().unwrap()]),
            ("metadata.test", vec!["169.254.169.254".parse().unwrap()]),
            ("intranet.test", vec!["10.0.0.7".parse().unwrap()]),
            ("loopback.test", vec!["127.0.0.1".parse().unwrap()]),
            (
                "mixed.test",
                vec![
                    "93.184.216.34".parse().unwrap(),
                    "10.0.0.8".parse().unwrap(),
                ],
            ),
        ]));
    })
    .await;
    let (ada, account) = expert_with_account(&app, "ada").await;
    let to_metadata = redirector("https://metadata.test/latest/meta-data/").await;
    let to_plain_metadata = redirector("http://169.254.169.254/latest/meta-data/").await;
    let cases: Vec<(String, &str)> = vec![
        ("http://calendar.example.com/".into(), "plain http"),
        ("https://127.0.0.1/".into(), "loopback literal"),
        ("https://10.1.2.3/".into(), "private literal"),
        (
            "https://169.254.169.254/latest/meta-data/".into(),
            "metadata literal",
        ),
        (
            "https://[::ffff:169.254.169.254]/".into(),
            "mapped metadata",
        ),
        ("https://[fd00:ec2::254]/".into(), "metadata over IPv6"),
        (
            "https://metadata.test/".into(),
            "name of the metadata address",
        ),
        ("https://intranet.test/".into(), "name of a private address"),
        (
            "https://loopback.test/".into(),
            "name of loopback, not allowed",
        ),
        (
            "https://mixed.test/".into(),
            "one private address among public ones",
        ),
        (
            format!("http://redirector.test:{to_metadata}/"),
            "redirect to a name of the metadata address",
        ),
        (
            format!("http://redirector.test:{to_plain_metadata}/"),
            "redirect to the metadata address",
        ),
    ];
    for (server_url, case) in &cases {
        let answer = app
            .post(
                CALENDARS,
                Some(&ada),
                &json!({"provider": "caldav", "server_url": server_url,
                        "username": account.username, "password": account.password}),
            )
            .await;
        let problems = answer.problem(StatusCode::BAD_REQUEST, "calendar-address-refused");
        assert!(
            answer.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("https") || d.contains("private or local")),
            "{case}: {} {problems:?}",
            answer.body
        );
    }
    assert!(!raw_table(&app).await.contains("S(\"calendar_connection\")"));
}

/// A one-hour event from `start` carrying `padding` bytes of description (folded).
fn padded_event(uid: &str, start: chrono::DateTime<chrono::Utc>, padding: usize) -> String {
    let line: String = "x".repeat(70);
    let description: String = (0..padding / 72)
        .map(|i| {
            if i == 0 {
                format!("DESCRIPTION:{line}\r\n")
            } else {
                format!(" {line}\r\n")
            }
        })
        .collect();
    event(uid, start).replace("SUMMARY:", &format!("{description}SUMMARY:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_calendar_data_is_skipped_and_the_rest_of_the_calendar_still_syncs() {
    let app = spawn_app().await;
    let proxy = proxy().await;
    let connected = connected_expert_through(&app, Some(&proxy.url())).await;
    let (expert, account, job) = (&connected.expert, &connected.account, &connected.job);
    let calendars = app.services.calendars.as_ref().unwrap();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    // Radicale stores only what it can parse, so the corrupt one is corrupted on the way: the
    // proxy rewrites its DTSTART in every answer.
    let corrupt_start = format!("DTSTART:{}", stamp(monday_at(12, 0)));
    proxy.rewrite(&corrupt_start, "DTSTART:20261307T990000Z");
    let endless = event("endless-1", monday_at(9, 0) - Duration::days(30))
        .replace("SUMMARY:", "RRULE:FREQ=MINUTELY\r\nSUMMARY:");
    let cases = [
        ("good", event("good-1", monday_at(10, 0)), true),
        ("corrupt", event("corrupt-1", monday_at(12, 0)), false),
        (
            "five-megabytes",
            padded_event("big-1", monday_at(13, 0), 5 << 20),
            false,
        ),
        ("endless-minutely", endless, false),
    ];
    for (name, body, _) in &cases {
        put_event(account, name, body.clone()).await;
    }
    let outcome = calendars.run_sync(job).await.unwrap();
    let SyncOutcome::Synced(report) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (report.fetched, report.stored, report.skipped),
        (4, 1, 3),
        "{report:?}"
    );
    // Only the good event blocks; the others block nothing and left no item behind.
    assert_eq!(imported_items(&app).await, 1);
    let hours = free_hours(&app, expert).await;
    assert!(!hours.contains(&monday_at(10, 0)), "{hours:?}");
    for free in [12, 13, 14, 16] {
        assert!(hours.contains(&monday_at(free, 0)), "{free}:00 {hours:?}");
    }
    assert_eq!(status_of(&app, &connected).await["status"], "ok");
}
