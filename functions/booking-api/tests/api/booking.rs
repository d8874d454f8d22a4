//! Booking and paying: holds, prices, Stripe, webhooks, idempotency, and no double booking.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};
use http::{Method, StatusCode};
use marketplace::booking::AppointmentStatus;
use marketplace::ids::AppointmentId;
use serde_json::{Value, json};

use crate::helpers::{DynamoProbe, TestApp, TestResponse, User, spawn_app, spawn_app_counting};

/// A bookable expert in London: Mondays 09:00-17:00, 30/60-minute slots, 15 minutes after.
pub async fn bookable_expert(app: &TestApp, rate: i64, currency: &str) -> String {
    bookable_expert_as(app, "ada", rate, currency).await
}

/// `bookable_expert` signed in as `sub` (whose email is `<sub>@example.com`).
pub async fn bookable_expert_as(app: &TestApp, sub: &str, rate: i64, currency: &str) -> String {
    let ada = app.expert(sub);
    let profile = app
        .put(
            "/v1/experts/me",
            Some(&ada),
            &json!({"display_name": "Ada", "hourly_rate": {"amount": rate, "currency": currency},
                    "time_zone": "Europe/London"}),
        )
        .await;
    let id = profile.ok(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.put(
        "/v1/experts/me/availability",
        Some(&ada),
        &json!({"rules": [{"day": "mon", "start": "09:00", "end": "17:00"}],
                "buffer_after_minutes": 15, "minimum_notice_minutes": 0,
                "horizon_days": 365, "slot_durations": [30, 60]}),
    )
    .await
    .ok(StatusCode::OK);
    app.onboard(sub).await;
    id
}

pub fn monday_at(hour: u32, minute: u32) -> DateTime<Utc> {
    let mut day = (Utc::now() + Duration::days(7)).date_naive();
    while day.weekday() != Weekday::Mon {
        day = day.succ_opt().unwrap();
    }
    chrono_tz::Europe::London
        .from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

/// Moves the services' clock to three days before the Monday sessions: close enough to be
/// authorised now and captured after the session.
pub fn three_days_before(app: &TestApp) {
    app.clock
        .advance(monday_at(9, 0) - Utc::now() - Duration::days(3));
}

pub fn booking(expert: &str, start: DateTime<Utc>, minutes: u32) -> Value {
    json!({"expert_id": expert, "start": start.to_rfc3339(), "duration_minutes": minutes,
           "notes": "About my tax return."})
}

pub async fn book(app: &TestApp, client: &User, key: Option<&str>, body: &Value) -> TestResponse {
    let mut request = http::Request::builder()
        .method(Method::POST)
        .uri("/v1/appointments")
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    app.send_request(request, Some(client), body.to_string().into_bytes())
        .await
}

async fn status_of(app: &TestApp, response: &TestResponse) -> AppointmentStatus {
    let id: AppointmentId = response.body["id"].as_str().unwrap().parse().unwrap();
    app.store.appointment(id).await.unwrap().unwrap().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_books_pays_and_the_webhook_confirms_with_a_ten_percent_fee() {
    let counter = DynamoProbe::default();
    let app = spawn_app_counting(counter.clone()).await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let bob = app.client("bob");
    counter.take();
    let held = book(
        &app,
        &bob,
        Some("key-1"),
        &booking(&expert, monday_at(10, 0), 60),
    )
    .await;
    assert_eq!(
        counter.take(),
        ["Query", "TransactWriteItems", "UpdateItem"],
        "the expert's partition, the hold, and the PaymentIntent's id stored"
    );
    assert_eq!(
        app.stripe.request_count("POST /v1/payment_intents"),
        1,
        "one Stripe call"
    );
    let body = held.ok(StatusCode::CREATED).clone();
    assert_eq!(body["status"], "pending_payment");
    assert_eq!(body["total"], json!({"amount": 18000, "currency": "usd"}));
    assert_eq!(
        body["platform_fee"],
        json!({"amount": 1800, "currency": "usd"})
    );
    assert_eq!(
        body["expert_earnings"],
        json!({"amount": 16200, "currency": "usd"})
    );
    let secret = body["payment_client_secret"].as_str().unwrap().to_owned();

    // What Stripe was asked for: a manual-capture destination charge with a 10% fee.
    let intent_id = secret.split("_secret_").next().unwrap();
    let created = app
        .stripe
        .events()
        .into_iter()
        .filter(|e| e["type"] == "account.updated")
        .count();
    assert_eq!(created, 1);
    assert_eq!(app.pay(&secret, "pm_card_visa").await, 200);
    let captured_event = app
        .stripe
        .events()
        .into_iter()
        .find(|e| e["type"] == "payment_intent.amount_capturable_updated")
        .expect("Stripe reported the authorisation");
    let intent = &captured_event["data"]["object"];
    assert_eq!(intent["id"], intent_id);
    assert_eq!(intent["application_fee_amount"], 1800);
    assert_eq!(intent["capture_method"], "manual");
    assert_eq!(intent["metadata"]["appointment_id"], body["id"]);
    assert_eq!(status_of(&app, &held).await, AppointmentStatus::Confirmed);
    let id: AppointmentId = body["id"].as_str().unwrap().parse().unwrap();
    let record = app
        .store
        .payment_record(id)
        .await
        .unwrap()
        .expect("payment record");
    let (state, received, refunded) =
        (record.state, record.amount_received, record.amount_refunded);
    assert_eq!((state.as_str(), received, refunded), ("authorized", 0, 0));

    // The slot is gone for everyone else.
    let slots = app
        .get(
            &format!(
                "/v1/experts/{expert}/slots?from={}&to={}&duration=60&step=60",
                monday_at(9, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                monday_at(13, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None,
        )
        .await;
    let starts: Vec<String> = slots.body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect();
    let ten = monday_at(10, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let eleven = monday_at(11, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        !starts.contains(&ten) && !starts.contains(&eleven),
        "10:00 is booked and 11:00 is in its buffer: {starts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_decimal_currencies_are_priced_in_whole_yen() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 12_345, "jpy").await;
    three_days_before(&app);
    let held = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 30),
    )
    .await;
    let body = held.ok(StatusCode::CREATED).clone();
    assert_eq!(body["total"], json!({"amount": 6173, "currency": "jpy"}));
    assert_eq!(
        body["platform_fee"],
        json!({"amount": 617, "currency": "jpy"})
    );
    assert_eq!(
        body["expert_earnings"],
        json!({"amount": 5556, "currency": "jpy"})
    );
    let secret = body["payment_client_secret"].as_str().unwrap();
    assert_eq!(app.pay(secret, "pm_card_visa").await, 200);
    assert_eq!(status_of(&app, &held).await, AppointmentStatus::Confirmed);
    let authorised = app
        .stripe
        .events()
        .into_iter()
        .find(|e| e["type"] == "payment_intent.amount_capturable_updated")
        .expect("authorised");
    let intent = &authorised["data"]["object"];
    assert_eq!(
        (intent["amount"].as_i64(), intent["currency"].as_str()),
        (Some(6173), Some("jpy"))
    );
    assert_eq!(
        intent["application_fee_amount"], 617,
        "whole yen, no minor unit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_gives_the_same_booking_and_a_new_body_is_refused() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let bob = app.client("bob");
    let body = booking(&expert, monday_at(14, 0), 60);
    let first = book(&app, &bob, Some("same"), &body).await;
    let first = first.ok(StatusCode::CREATED).clone();
    let again = book(&app, &bob, Some("same"), &body).await;
    let again = again.ok(StatusCode::CREATED).clone();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(
        again["payment_client_secret"],
        first["payment_client_secret"]
    );
    let other = booking(&expert, monday_at(15, 0), 60);
    book(&app, &bob, Some("same"), &other)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    book(&app, &bob, None, &other)
        .await
        .problem(StatusCode::BAD_REQUEST, "validation-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_clients_on_overlapping_slots_make_exactly_one_booking() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    // 10:00 for 60, 10:30 for 30, 10:45 for 30: with the 15-minute after-buffer every pair
    // overlaps, so at most one can hold.
    let choices = [
        (monday_at(10, 0), 60),
        (monday_at(10, 30), 30),
        (monday_at(10, 45), 30),
    ];
    let attempts: Vec<_> = (0..50)
        .map(|i| {
            let app = app.clone();
            let (start, minutes) = choices[i % choices.len()];
            let body = booking(&expert, start, minutes);
            tokio::spawn(async move {
                let client = app.client(&format!("client-{i}"));
                book(&app, &client, Some(&format!("key-{i}")), &body).await
            })
        })
        .collect();
    let mut won = Vec::new();
    for attempt in attempts {
        let response = attempt.await.unwrap();
        match response.status {
            StatusCode::CREATED => won.push(response),
            _ => {
                response.problem(StatusCode::CONFLICT, "slot-unavailable");
            }
        }
    }
    assert_eq!(won.len(), 1, "exactly one booking wins");
    let dates = marketplace::booking::days_touched(&marketplace::availability::Interval {
        start: monday_at(9, 0),
        end: monday_at(12, 0),
    });
    let expert_id = expert.parse().unwrap();
    let days = app.store.claim_days(expert_id, &dates).await.unwrap();
    let claims: Vec<_> = days.iter().flat_map(|d| d.claims.iter()).collect();
    assert_eq!(claims.len(), 1, "one claim holds the time: {claims:?}");
    assert_eq!(
        claims[0].appointment_id.to_string(),
        won[0].body["id"].as_str().unwrap()
    );
}

/// The claims on the expert's Monday.
pub(crate) async fn monday_claims(app: &TestApp, expert: &str) -> Vec<marketplace::booking::Claim> {
    let dates = marketplace::booking::days_touched(&marketplace::availability::Interval {
        start: monday_at(0, 0),
        end: monday_at(23, 0),
    });
    let days = app
        .store
        .claim_days(expert.parse().unwrap(), &dates)
        .await
        .unwrap();
    days.into_iter().flat_map(|d| d.claims).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_conflict_is_read_again_and_a_lasting_one_answers_409() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let bob = app.client("bob");
    let book_at = |key: &'static str, hour: u32| {
        let (app, bob, body) = (&app, &bob, booking(&expert, monday_at(hour, 0), 60));
        async move { book(app, bob, Some(key), &body).await }
    };
    // DynamoDB cancels the transaction twice for a concurrent one on the claim day: the
    // booking reads the day again each time and is made on the third try.
    app.dynamo.conflict_next(2);
    app.dynamo.take();
    book_at("k1", 10).await.ok(StatusCode::CREATED);
    let mut expected: Vec<&str> = ["Query", "TransactWriteItems"].repeat(3);
    expected.push("UpdateItem");
    assert_eq!(app.dynamo.take(), expected);

    // A conflict on every try: 409 `conflict`, and nothing written (the key is still free).
    app.dynamo.conflict_next(usize::MAX);
    book_at("k2", 14)
        .await
        .problem(StatusCode::CONFLICT, "conflict");
    app.dynamo.conflict_next(0);
    assert_eq!(monday_claims(&app, &expert).await.len(), 1);
    book_at("k2", 14).await.ok(StatusCode::CREATED);
    assert_eq!(monday_claims(&app, &expert).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_that_read_before_either_writes_are_kept_apart_by_the_conditions_alone() {
    for stripped in [false, true] {
        let app = spawn_app().await;
        let expert = bookable_expert(&app, 18_000, "usd").await;
        if stripped {
            app.dynamo.strip_claim_conditions();
        }
        // Both transactions wait until both are in flight: each booking has read the day
        // before either writes, so the service's own check passes for both.
        app.dynamo.hold_transactions(2);
        let body = booking(&expert, monday_at(10, 0), 60);
        let attempts: Vec<_> = ["bob", "carol"]
            .into_iter()
            .map(|client| {
                let (app, body) = (app.clone(), body.clone());
                tokio::spawn(async move { book(&app, &app.client(client), Some("k"), &body).await })
            })
            .collect();
        let mut made = 0;
        for attempt in attempts {
            let response = attempt.await.unwrap();
            if response.status == StatusCode::CREATED {
                made += 1;
            } else {
                response.problem(StatusCode::CONFLICT, "slot-unavailable");
            }
        }
        if stripped {
            // Without the conditions both are made: they are what keeps bookings apart (and
            // what the fifty-client test above relies on).
            assert_eq!(made, 2);
        } else {
            assert_eq!(made, 1);
            assert_eq!(monday_claims(&app, &expert).await.len(), 1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_leaves_the_hold_pending_and_a_canceled_intent_frees_the_slot() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let held = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let secret = held.ok(StatusCode::CREATED)["payment_client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.pay(&secret, "pm_card_chargeDeclined").await, 402);
    assert_eq!(
        status_of(&app, &held).await,
        AppointmentStatus::PendingPayment
    );
    // Someone else cannot take the held slot.
    book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await
    .problem(StatusCode::CONFLICT, "slot-unavailable");
    // Stripe cancels the intent: the unpaid hold has expired and the time is free again.
    let intent = secret.split("_secret_").next().unwrap();
    assert_eq!(app.cancel_at_stripe(intent).await, 200);
    assert_eq!(status_of(&app, &held).await, AppointmentStatus::Expired);
    book(
        &app,
        &app.client("carol"),
        Some("k2"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await
    .ok(StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripe_failure_releases_the_hold_and_answers_502() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    // Stripe keeps failing: the first try and each retry under a new key.
    for _ in 0..4 {
        app.stripe.fail_next(
            Method::POST,
            "/v1/payment_intents",
            StatusCode::INTERNAL_SERVER_ERROR,
        );
    }
    let failed = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    failed.problem(StatusCode::BAD_GATEWAY, "payment-provider-error");
    assert_eq!(app.stripe.request_count("POST /v1/payment_intents"), 4);
    book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await
    .ok(StatusCode::CREATED);
}

/// Everything stored about appointment `id`: its items (appointment, payment record,
/// reminders), its expert's claim lists, and the outbox events about it.
async fn snapshot(app: &TestApp, id: &str, expert: &str) -> Vec<((String, String), Value)> {
    app.table_items()
        .await
        .into_iter()
        .filter(|((pk, sk), item)| {
            *pk == format!("APPT#{id}")
                || (*pk == format!("EXPERT#{expert}") && sk.ends_with("#claims"))
                || (pk == "OUTBOX" && item["appointment_id"] == id)
        })
        .collect()
}

/// A fixed-seed Fisher-Yates shuffle, so that a failure can be replayed.
fn shuffled(mut items: Vec<Value>, mut seed: u64) -> Vec<Value> {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
    items
}

/// Delivers every event at once, each to its endpoint, and waits for all of them.
async fn deliver_all(app: &TestApp, events: Vec<Value>) {
    let deliveries: Vec<_> = events
        .into_iter()
        .filter_map(|e| app.stripe.redeliver(e))
        .collect();
    for delivery in deliveries {
        delivery.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_duplicated_and_conflicting_webhooks_end_in_one_state() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    // Stripe holds every delivery: none is processed before all are sent.
    app.stripe.pause_deliveries(true);
    let held = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let held = held.ok(StatusCode::CREATED).clone();
    let id = held["id"].as_str().unwrap().to_owned();
    let secret = held["payment_client_secret"].as_str().unwrap();
    assert_eq!(app.pay(secret, "pm_card_visa").await, 200);
    let originals: Vec<Value> = app
        .stripe
        .events()
        .into_iter()
        .filter(|e| e["account"].is_null())
        .collect();
    assert!(originals.len() >= 3, "created, charge, authorisation");
    app.stripe.pause_deliveries(false);
    // The originals, twice each, shuffled and all in flight together.
    let twice: Vec<Value> = originals
        .iter()
        .flat_map(|e| [e.clone(), e.clone()])
        .collect();
    deliver_all(&app, shuffled(twice, 0x5eed)).await;
    let appointment = app.store.appointment(id.parse().unwrap()).await.unwrap();
    assert_eq!(appointment.unwrap().status, AppointmentStatus::Confirmed);
    let first = snapshot(&app, &id, &expert).await;
    let record = &first
        .iter()
        .find(|((_, sk), _)| sk == "PAYMENT")
        .expect("payment record")
        .1;
    assert_eq!(
        (record["state"].clone(), record["amount_capturable"].clone()),
        (json!("authorized"), json!(18_000))
    );
    assert_eq!(
        first.iter().filter(|((pk, _), _)| pk == "OUTBOX").count(),
        1,
        "one booking.confirmed"
    );
    // Copies under fresh ids (past the event-id check), with a conflicting pair: the
    // authorisation claimed as cancelled, and as captured.
    let authorisation = originals
        .iter()
        .find(|e| e["type"] == "payment_intent.amount_capturable_updated")
        .unwrap();
    let mut copies: Vec<Value> = originals.clone();
    for (kind, status) in [
        ("payment_intent.canceled", "canceled"),
        ("payment_intent.succeeded", "succeeded"),
    ] {
        let mut forged = authorisation.clone();
        forged["type"] = json!(kind);
        forged["data"]["object"]["status"] = json!(status);
        copies.push(forged);
    }
    for copy in &mut copies {
        copy["id"] = json!(format!("evt_{}", ulid::Ulid::new()));
    }
    deliver_all(&app, shuffled(copies, 0xc0ffee)).await;
    assert_eq!(
        snapshot(&app, &id, &expert).await,
        first,
        "appointment, payment record, claims and outbox unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_clients_book_only_bookable_experts_and_only_free_slots() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    book(
        &app,
        &app.expert("eve"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await
    .problem(StatusCode::FORBIDDEN, "forbidden");
    let bob = app.client("bob");
    for (body, pointer) in [
        (booking(&expert, monday_at(9, 0), 45), "/duration_minutes"),
        (
            json!({"expert_id": expert, "start": "soon", "duration_minutes": 60}),
            "/start",
        ),
    ] {
        let pointers = book(&app, &bob, Some("k"), &body)
            .await
            .problem(StatusCode::BAD_REQUEST, "validation-error");
        assert_eq!(pointers, [pointer]);
    }
    for start in [monday_at(8, 0), monday_at(16, 30), monday_at(9, 7)] {
        book(&app, &bob, Some("k"), &booking(&expert, start, 60))
            .await
            .problem(StatusCode::CONFLICT, "slot-unavailable");
    }
    // An expert without payouts is not bookable.
    let eve = app.expert("eve");
    let profile = app
        .put(
            "/v1/experts/me",
            Some(&eve),
            &crate::helpers::profile_body(),
        )
        .await;
    let eve_id = profile.ok(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.put(
        "/v1/experts/me/availability",
        Some(&eve),
        &crate::helpers::availability_body(),
    )
    .await
    .ok(StatusCode::OK);
    book(
        &app,
        &bob,
        Some("k"),
        &booking(&eve_id, monday_at(9, 0), 60),
    )
    .await
    .problem(StatusCode::CONFLICT, "expert-not-bookable");
}

async fn intent_status(app: &TestApp, secret: &str) -> String {
    let intent = secret.split("_secret_").next().unwrap();
    let body: Value = reqwest::Client::new()
        .get(format!("{}/v1/payment_intents/{intent}", app.stripe_url))
        .bearer_auth(local_stack::dev_server::LOCAL_STRIPE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["status"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_hold_expires_its_intent_is_cancelled_and_the_slot_frees() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let held = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let secret = held.ok(StatusCode::CREATED)["payment_client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!(report.expired, 0, "nothing has lapsed yet");
    app.clock
        .advance(Duration::minutes(marketplace::booking::HOLD_MINUTES + 1));
    // Even before any sweep, the lapsed hold no longer blocks the slot...
    let slots = app
        .get(
            &format!(
                "/v1/experts/{expert}/slots?from={}&to={}&duration=60&step=60",
                monday_at(9, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                monday_at(10, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None,
        )
        .await;
    assert_eq!(slots.body["slots"].as_array().unwrap().len(), 1);
    // ...and the sweep ends it: appointment expired, PaymentIntent cancelled; also when the
    // webhook of its cancellation lands before Stripe's answer does.
    app.stripe.deliver_before_answering(true);
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!((report.expired, report.confirmed), (1, 0));
    assert_eq!(status_of(&app, &held).await, AppointmentStatus::Expired);
    assert_eq!(intent_status(&app, &secret).await, "canceled");
    assert_eq!(
        reminders::run(&app.services).await.unwrap().expired,
        0,
        "a sweep twice changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_hold_whose_webhook_was_missed_is_confirmed_by_the_sweep() {
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
    let secret = held.ok(StatusCode::CREATED)["payment_client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.stripe.pause_deliveries(true);
    assert_eq!(app.pay(&secret, "pm_card_visa").await, 200);
    assert_eq!(
        status_of(&app, &held).await,
        AppointmentStatus::PendingPayment
    );
    app.clock
        .advance(Duration::minutes(marketplace::booking::HOLD_MINUTES + 1));
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!((report.expired, report.confirmed), (0, 1));
    assert_eq!(status_of(&app, &held).await, AppointmentStatus::Confirmed);
    assert_eq!(intent_status(&app, &secret).await, "requires_capture");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_after_the_slot_was_lost_is_given_back() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let late = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let secret = late.ok(StatusCode::CREATED)["payment_client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock
        .advance(Duration::minutes(marketplace::booking::HOLD_MINUTES + 1));
    book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(app.pay(&secret, "pm_card_visa").await, 200);
    assert_eq!(status_of(&app, &late).await, AppointmentStatus::Cancelled);
    assert_eq!(
        intent_status(&app, &secret).await,
        "canceled",
        "the authorisation is released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_within_six_days_are_captured_after_and_later_ones_at_booking() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    // Next Monday, at least a week ahead: charged at booking.
    let far = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let far_secret = far.ok(StatusCode::CREATED)["payment_client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.pay(&far_secret, "pm_card_visa").await, 200);
    assert_eq!(intent_status(&app, &far_secret).await, "succeeded");
    assert_eq!(status_of(&app, &far).await, AppointmentStatus::Confirmed);
    // Seen from three days before the session: held, then captured with its 10% fee.
    app.clock
        .advance(monday_at(9, 0) - Utc::now() - Duration::days(3));
    let near = book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(11, 0), 60),
    )
    .await;
    let near_secret = near.ok(StatusCode::CREATED)["payment_client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.pay(&near_secret, "pm_card_visa").await, 200);
    assert_eq!(intent_status(&app, &near_secret).await, "requires_capture");
    let id: AppointmentId = near.body["id"].as_str().unwrap().parse().unwrap();
    let captured = app.services.bookings.capture(id).await.unwrap();
    assert_eq!(captured.amount_received, 18_000);
    let capture_event = app
        .stripe
        .events()
        .into_iter()
        .filter(|e| e["type"] == "payment_intent.succeeded")
        .find(|e| e["data"]["object"]["metadata"]["appointment_id"] == id.to_string())
        .expect("capture reported");
    assert_eq!(
        capture_event["data"]["object"]["application_fee_amount"],
        1800
    );
    assert_eq!(
        app.services
            .bookings
            .capture(id)
            .await
            .unwrap()
            .amount_received,
        18_000,
        "capturing twice is a no-op"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_for_a_lost_slot_is_refunded_in_full_and_recorded() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    // A session over a week ahead: charged at booking.
    let late = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let secret = late.ok(StatusCode::CREATED)["payment_client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock
        .advance(Duration::minutes(marketplace::booking::HOLD_MINUTES + 1));
    book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await
    .ok(StatusCode::CREATED);
    assert_eq!(app.pay(&secret, "pm_card_visa").await, 200);
    app.stripe.settle().await;
    assert_eq!(status_of(&app, &late).await, AppointmentStatus::Cancelled);
    assert_eq!(app.stripe.request_count("POST /v1/refunds"), 1);
    let id: AppointmentId = late.body["id"].as_str().unwrap().parse().unwrap();
    let record = app
        .store
        .payment_record(id)
        .await
        .unwrap()
        .expect("payment record");
    let (state, received, refunded) =
        (record.state, record.amount_received, record.amount_refunded);
    assert_eq!(
        (state.as_str(), received, refunded),
        ("captured", 18_000, 18_000)
    );
}
