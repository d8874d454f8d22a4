//! Domain events: written with the change they announce, relayed to the bus, delivered to the
//! notifications queue by the template's rule.

use chrono::{DateTime, Duration, Utc};
use http::StatusCode;
use serde_json::{Value, json};

use crate::booking::{book, bookable_expert, booking, monday_at, three_days_before};
use crate::helpers::{TestApp, spawn_app};

/// Everything the notifications queue holds now, as (detail-type, detail).
async fn drain(app: &TestApp) -> Vec<(String, Value)> {
    app.drain_queue(&app.notifications_queue)
        .await
        .into_iter()
        .map(|envelope| {
            (
                envelope["detail-type"].as_str().unwrap().to_owned(),
                envelope["detail"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_reach_the_notifications_queue_through_the_outbox() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let held = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let held = held.ok(StatusCode::CREATED).clone();
    let id = held["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.pay(
            held["payment_client_secret"].as_str().unwrap(),
            "pm_card_visa"
        )
        .await,
        200
    );
    app.post(
        &format!("/v1/appointments/{id}/messages"),
        Some(&app.client("bob")),
        &json!({"body": "See you Monday."}),
    )
    .await
    .ok(StatusCode::CREATED);

    // Written with the changes, not yet published: a crash now would lose nothing.
    let pending = app.store.pending_events(100).await.unwrap();
    let kinds: Vec<&str> = pending.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["booking.confirmed", "message.posted"]);
    assert!(drain(&app).await.is_empty());

    let relayed = app
        .services
        .relay
        .as_ref()
        .expect("relay")
        .run()
        .await
        .unwrap();
    assert_eq!((relayed.published, relayed.failed), (2, 0));
    assert!(app.store.pending_events(100).await.unwrap().is_empty());
    let delivered = drain(&app).await;
    let types: Vec<&str> = delivered.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["booking.confirmed", "message.posted"]);
    for (_, detail) in &delivered {
        assert_eq!(detail["appointment_id"], id.as_str());
        assert_eq!(detail["version"], 1);
        assert!(detail["id"].as_str().unwrap().starts_with("evt_"));
    }
    // Relaying again publishes nothing more.
    let again = app.services.relay.as_ref().unwrap().run().await.unwrap();
    assert_eq!(again.published, 0);
    assert!(drain(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_fails_keeps_every_event_for_the_next_run() {
    let app = spawn_app().await;
    monday_with_ada(&app, &fresh_client("relay"), true).await;
    let sdk = marketplace::config::aws_sdk_config().await;
    // EventBridge refuses the whole call (no such bus): the relay fails half-way.
    let broken = marketplace::events::EventRelay::new(
        app.store.clone(),
        aws_sdk_eventbridge::Client::new(&sdk),
        "no-such-bus",
    );
    assert!(broken.run().await.is_err());
    let pending = app.store.pending_events(100).await.unwrap();
    assert_eq!(pending.len(), 1, "the confirmation is still in the outbox");
    assert!(drain(&app).await.is_empty());

    let relayed = app.services.relay.as_ref().unwrap().run().await.unwrap();
    assert_eq!((relayed.published, relayed.failed), (1, 0));
    let delivered = drain(&app).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].1["id"], json!(pending[0].id));
}

/// What moto recorded of `kind` (`sent-email`, `sent-sms`) for `to`, from our moto wrapper's
/// view (`infra/moto_server.py`).
async fn moto_sent(kind: &str, to: &str) -> Value {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let response = reqwest::Client::new()
        .get(format!("{endpoint}/_local/{kind}"))
        .query(&[("to", to)])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// The emails moto recorded for `address`, as (subject header, decoded calendar part).
pub async fn emails_to(address: &str) -> Vec<(String, String)> {
    use base64::Engine;
    let sent = moto_sent("sent-email", address).await;
    let decode = |b64: &str| {
        let compact: String = b64.split_whitespace().collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .unwrap(),
        )
        .unwrap()
    };
    sent.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let raw = m["raw_data"].as_str().unwrap();
            let subject = raw
                .lines()
                .find_map(|l| l.strip_prefix("Subject: =?UTF-8?B?"))
                .map(|s| decode(s.trim_end_matches("?=")))
                .unwrap_or_default();
            let calendar = raw
                .split("Content-Type: text/calendar")
                .nth(1)
                .and_then(|part| part.split("\r\n\r\n").nth(1))
                .and_then(|body| body.split("--").next())
                .map(decode)
                .unwrap_or_default();
            (subject, calendar)
        })
        .collect()
}

/// What an invite says, as a real iCalendar parser (the icalendar crate) reads it.
#[derive(Debug)]
struct Invite {
    method: String,
    uid: String,
    sequence: u32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// The invite in an email's calendar part; `None` for an email without one.
fn invite(calendar: &str) -> Option<Invite> {
    use icalendar::{CalendarDateTime, Component, DatePerhapsTime};
    if calendar.is_empty() {
        return None;
    }
    let parsed: icalendar::Calendar = calendar.parse().expect("a valid iCalendar object");
    let event = parsed
        .iter()
        .find_map(|c| c.as_event())
        .expect("one VEVENT");
    let utc = |time: Option<DatePerhapsTime>| match time {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(time))) => time,
        other => panic!("times are UTC: {other:?}"),
    };
    Some(Invite {
        method: parsed
            .property_value("METHOD")
            .unwrap_or_default()
            .to_owned(),
        uid: event.get_uid().unwrap_or_default().to_owned(),
        sequence: event.get_sequence().expect("a SEQUENCE"),
        start: utc(event.get_start()),
        end: utc(event.get_end()),
    })
}

/// How many invites for appointment `id` sit among `mail`.
fn invites_for(mail: &[(String, String)], id: &str) -> usize {
    let uid = format!("{id}@expert-marketplace");
    mail.iter()
        .filter(|(_, c)| invite(c).is_some_and(|i| i.uid == uid))
        .count()
}

/// A client name whose mail is theirs alone, since moto keeps every test's mail together.
pub fn fresh_client(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new()).to_lowercase()
}

/// Holds Monday 09:00 with Ada for `client`, paid with a good card when `paid`.
async fn monday_with_ada(app: &TestApp, client: &str, paid: bool) -> String {
    let expert = bookable_expert(app, 18_000, "usd").await;
    three_days_before(app);
    let held = book(
        app,
        &app.client(client),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let held = held.ok(StatusCode::CREATED).clone();
    if paid {
        let secret = held["payment_client_secret"].as_str().unwrap();
        assert_eq!(app.pay(secret, "pm_card_visa").await, 200);
    }
    held["id"].as_str().unwrap().to_owned()
}

/// Runs the notifications queue dry through the notifier, as its SQS trigger would.
pub async fn deliver(app: &TestApp) {
    let sdk = marketplace::config::aws_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    while local_stack::queue_pump::notifications(&sqs, &app.notifications_queue, &app.services)
        .await
        .unwrap()
        != (0, 0)
    {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_party_gets_one_email_per_change_with_the_invite() {
    let app = spawn_app().await;
    let client = fresh_client("notify");
    let id = monday_with_ada(&app, &client, true).await;
    let relay = app.services.relay.as_ref().unwrap();
    let sdk = marketplace::config::aws_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let pump =
        || local_stack::queue_pump::notifications(&sqs, &app.notifications_queue, &app.services);
    let confirmed = app.store.pending_events(10).await.unwrap().remove(0);
    relay.run().await.unwrap();
    assert_eq!(pump().await.unwrap(), (1, 0));
    let address = format!("{client}@example.com");
    let mail = emails_to(&address).await;
    assert_eq!(mail.len(), 1, "one confirmation for the client");
    assert!(
        mail[0].0.starts_with("Booked: consultation with Ada"),
        "{}",
        mail[0].0
    );
    let request = invite(&mail[0].1).expect("the invite");
    assert_eq!(request.method, "REQUEST");
    assert_eq!(request.uid, format!("{id}@expert-marketplace"));
    assert_eq!(request.sequence, 0);
    assert_eq!(request.start, monday_at(9, 0));
    assert_eq!(request.end, monday_at(10, 0));
    assert_eq!(
        invites_for(&emails_to("ada@example.com").await, &id),
        1,
        "one confirmation for the expert"
    );

    // The same event again (a redelivery): nobody is emailed twice.
    assert_eq!(
        app.services.notifications.handle(&confirmed).await.unwrap(),
        0
    );
    assert_eq!(emails_to(&address).await.len(), 1);

    // Cancelled: the same UID, a higher SEQUENCE, METHOD:CANCEL.
    app.post(
        &format!("/v1/appointments/{id}/cancel"),
        Some(&app.client(&client)),
        &json!({"reason": "ill"}),
    )
    .await
    .ok(StatusCode::OK);
    relay.run().await.unwrap();
    assert_eq!(pump().await.unwrap(), (1, 0));
    let mail = emails_to(&address).await;
    assert_eq!(mail.len(), 2);
    let cancel = invite(&mail[1].1).expect("the cancellation");
    assert_eq!(cancel.method, "CANCEL");
    assert_eq!(cancel.uid, request.uid);
    assert!(cancel.sequence > request.sequence);
    assert_eq!((cancel.start, cancel.end), (request.start, request.end));
    assert!(mail[1].0.starts_with("Cancelled:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_go_out_once_a_day_and_an_hour_before_even_when_sweeps_overlap() {
    use marketplace::clock::Clock;
    let app = spawn_app().await;
    let client = fresh_client("remind");
    // The client also wants texts; the expert gave no phone. A number of its own, as moto
    // keeps every text it was sent.
    let phone = &format!("+1212{:07}", ulid::Ulid::new().random() % 10_000_000);
    let settings = json!({"display_name": "Bob", "time_zone": "America/New_York",
                          "phone": phone, "notifications": {"email": true, "sms": true}});
    app.put("/v1/me", Some(&app.client(&client)), &settings)
        .await
        .ok(StatusCode::OK);
    monday_with_ada(&app, &client, true).await;
    let address = format!("{client}@example.com");
    assert_eq!(
        reminders::run(&app.services).await.unwrap().reminders,
        0,
        "nothing due yet"
    );
    deliver(&app).await;
    let before = emails_to(&address).await.len();

    // Late by an hour, and two sweeps at once: the day-before reminder goes out once.
    app.clock
        .advance(monday_at(9, 0) - Duration::hours(23) - app.clock.now());
    let (a, b) = tokio::join!(reminders::run(&app.services), reminders::run(&app.services));
    assert_eq!(a.unwrap().reminders + b.unwrap().reminders, 1);
    deliver(&app).await;
    // An hour before: the second one, once, however often the schedule fires.
    app.clock
        .advance(monday_at(9, 0) - Duration::minutes(50) - app.clock.now());
    assert_eq!(reminders::run(&app.services).await.unwrap().reminders, 1);
    assert_eq!(reminders::run(&app.services).await.unwrap().reminders, 0);
    deliver(&app).await;
    let subjects: Vec<String> = emails_to(&address)
        .await
        .into_iter()
        .skip(before)
        .map(|(s, _)| s)
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(
        subjects[0].starts_with("Tomorrow:") && subjects[1].starts_with("In one hour:"),
        "{subjects:?}"
    );
    let texts: Vec<String> = texts_to(phone).await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    // In the client's zone, with the link to join.
    let when = monday_at(9, 0)
        .with_timezone(&chrono_tz::America::New_York)
        .format("%a %-d %b %H:%M %Z");
    assert!(
        texts[0].starts_with(&format!(
            "Tomorrow: consultation with Ada at {when}. Join: https://"
        )),
        "{texts:?}"
    );
    assert!(texts[1].starts_with("In one hour:"), "{texts:?}");
}

/// The SMS moto recorded for `phone`, oldest first.
async fn texts_to(phone: &str) -> Vec<String> {
    moto_sent("sent-sms", phone)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_announced_to_the_other_party_only() {
    let app = spawn_app().await;
    let client = fresh_client("letters");
    let id = monday_with_ada(&app, &client, false).await;
    app.post(
        &format!("/v1/appointments/{id}/messages"),
        Some(&app.expert("ada")),
        &json!({"body": "Please bring invoices."}),
    )
    .await
    .ok(StatusCode::CREATED);
    app.services.relay.as_ref().unwrap().run().await.unwrap();
    deliver(&app).await;
    let mail = emails_to(&format!("{client}@example.com")).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].0, "New message from Ada");
    assert!(mail[0].1.is_empty(), "no invite with a message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_record_is_retried_then_dead_lettered_and_a_redelivered_batch_emails_nobody_twice()
 {
    let app = spawn_app().await;
    let client = fresh_client("killed");
    let id = monday_with_ada(&app, &client, true).await;
    app.services.relay.as_ref().unwrap().run().await.unwrap();
    let sdk = marketplace::config::aws_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // The injected error: a record no consumer can read, in the same batch as the confirmation.
    sqs.send_message()
        .queue_url(&app.notifications_queue)
        .message_body(r#"{"detail":{"kind":"booking.exploded"}}"#)
        .send()
        .await
        .unwrap();
    // Retries come back at once instead of after the template's 60 s.
    sqs.set_queue_attributes()
        .queue_url(&app.notifications_queue)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "0",
        )
        .send()
        .await
        .unwrap();

    // The notifier handles the batch and dies before the poller deletes anything.
    let batch = sqs
        .receive_message()
        .queue_url(&app.notifications_queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(batch.len(), 2);
    let response =
        notifier::handle(&app.services, local_stack::queue_pump::sqs_event(&batch)).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "only the poison fails"
    );
    let address = format!("{client}@example.com");
    assert_eq!(emails_to(&address).await.len(), 1);
    // A relay that dies after PutEvents but before clearing its outbox entry publishes the
    // confirmation again next run: a second message with the same event.
    let confirmation = batch
        .iter()
        .filter_map(|m| m.body())
        .find(|body| body.contains("booking.confirmed"))
        .expect("the confirmation");
    sqs.send_message()
        .queue_url(&app.notifications_queue)
        .message_body(confirmation)
        .send()
        .await
        .unwrap();

    // Redelivered until the redrive limit (5 receives): the confirmation is not emailed again,
    // the poison ends in the dead-letter queue.
    let mut rounds = 0;
    loop {
        let (handled, failed) =
            local_stack::queue_pump::notifications(&sqs, &app.notifications_queue, &app.services)
                .await
                .unwrap();
        if (handled, failed) == (0, 0) {
            break;
        }
        rounds += 1;
        assert!(rounds <= 10, "the poison never left the queue");
    }
    assert_eq!(emails_to(&address).await.len(), 1, "no duplicate email");
    assert_eq!(invites_for(&emails_to("ada@example.com").await, &id), 1);
    let dead = sqs
        .receive_message()
        .queue_url(&app.notifications_dead_letters)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body().unwrap().contains("booking.exploded"));
}
