//! Cancellation windows: each produces exactly the Stripe calls and amounts of the policy.

use chrono::Duration;
use http::StatusCode;
use marketplace::clock::Clock;
use serde_json::{Value, json};

use crate::booking::{book, bookable_expert, booking, monday_at, three_days_before};
use crate::helpers::{TestApp, TestResponse, User, spawn_app};

#[derive(Clone, Copy, Debug)]
enum Payment {
    /// Session within 6 days: authorised at booking, captured later.
    Held,
    /// Session further ahead: charged at booking.
    Charged,
    /// Never paid.
    Unpaid,
}

pub async fn cancel(app: &TestApp, user: &User, id: &str) -> TestResponse {
    let path = format!("/v1/appointments/{id}/cancel");
    app.post(&path, Some(user), &json!({"reason": "plans changed"}))
        .await
}

struct Outcome {
    intent: Value,
    refunds: Vec<Value>,
    body: Value,
}

/// Books Monday 09:00 (60 min, 180.00 usd), pays as `payment` says, moves the clock to
/// `hours_before` the start, and lets `by` cancel; with `webhooks_first` Stripe's webhooks
/// reach us before Stripe's answers do.
async fn scenario(payment: Payment, by: &str, hours_before: i64, webhooks_first: bool) -> Outcome {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    if !matches!(payment, Payment::Charged) {
        three_days_before(&app);
    }
    let held = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let held = held.ok(StatusCode::CREATED).clone();
    let secret = held["payment_client_secret"].as_str().unwrap().to_owned();
    if !matches!(payment, Payment::Unpaid) {
        assert_eq!(app.pay(&secret, "pm_card_visa").await, 200);
    }
    app.clock
        .advance(monday_at(9, 0) - Duration::hours(hours_before) - app.clock.now());
    let canceller = if by == "client" {
        app.client("bob")
    } else {
        app.expert("ada")
    };
    let id = held["id"].as_str().unwrap().to_owned();
    app.stripe.deliver_before_answering(webhooks_first);
    let response = cancel(&app, &canceller, &id).await;
    let body = response.ok(StatusCode::OK).clone();
    app.stripe.settle().await;
    // The time is free again at once.
    book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await
    .ok(StatusCode::CREATED);
    // Cancelling twice is refused, and strangers are told nothing.
    cancel(&app, &canceller, &id)
        .await
        .problem(StatusCode::CONFLICT, "not-cancellable");
    cancel(&app, &app.client("mallory"), &id)
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    let intent_id = secret.split("_secret_").next().unwrap();
    Outcome {
        intent: app.stripe.payment_intent(intent_id).unwrap(),
        refunds: app.stripe.refunds(),
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cancellation_window_moves_exactly_the_policys_money() {
    // (payment, who, hours before, PaymentIntent status, amount received, fee, refund amount, refunds made)
    let cases = [
        (Payment::Held, "client", 48, "canceled", 0, 1_800, 18_000, 0),
        (
            Payment::Held,
            "client",
            10,
            "succeeded",
            9_000,
            900,
            9_000,
            0,
        ),
        (Payment::Held, "client", 1, "succeeded", 18_000, 1_800, 0, 0),
        (Payment::Held, "expert", 1, "canceled", 0, 1_800, 18_000, 0),
        (
            Payment::Charged,
            "client",
            48,
            "succeeded",
            18_000,
            1_800,
            18_000,
            1,
        ),
        (
            Payment::Charged,
            "client",
            10,
            "succeeded",
            18_000,
            1_800,
            9_000,
            1,
        ),
        (
            Payment::Charged,
            "client",
            1,
            "succeeded",
            18_000,
            1_800,
            0,
            0,
        ),
        (
            Payment::Charged,
            "expert",
            1,
            "succeeded",
            18_000,
            1_800,
            18_000,
            1,
        ),
        (Payment::Unpaid, "client", 1, "canceled", 0, 1_800, 0, 0),
    ];
    // Either order of Stripe's answer and its webhook ends the same way.
    let orders = [false, true];
    for (webhooks_first, (payment, by, hours, status, received, fee, refund, refunds)) in
        orders.into_iter().flat_map(|o| cases.map(|c| (o, c)))
    {
        let case = format!(
            "{payment:?} cancelled by the {by} {hours} h before (webhooks first: {webhooks_first})"
        );
        let outcome = scenario(payment, by, hours, webhooks_first).await;
        assert_eq!(outcome.intent["status"], status, "{case}");
        assert_eq!(outcome.intent["amount_received"], received, "{case}");
        assert_eq!(outcome.intent["application_fee_amount"], fee, "{case}");
        assert_eq!(outcome.body["status"], "cancelled", "{case}");
        assert_eq!(outcome.body["cancellation"]["by"], by, "{case}");
        assert_eq!(
            outcome.body["cancellation"]["refund"],
            json!({"amount": refund, "currency": "usd"}),
            "{case}"
        );
        assert_eq!(outcome.refunds.len(), refunds, "{case}");
        if let Some(made) = outcome.refunds.first() {
            // The platform's fee and the expert's transfer (16,200 of 18,000) come back in
            // proportion.
            assert_eq!(made["amount"], refund, "{case}");
            assert_eq!(made["test_application_fee_refunded"], refund / 10, "{case}");
            assert_eq!(made["test_transfer_reversed"], refund * 9 / 10, "{case}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_stripe_refuses_changes_nothing_and_leaves_no_trace() {
    let app = spawn_app().await;
    let (id, intent) = confirmed(&app).await;
    // Stripe fails the cancel and every retry of it under a new key.
    for _ in 0..4 {
        app.stripe.fail_next(
            http::Method::POST,
            "/v1/payment_intents/",
            StatusCode::INTERNAL_SERVER_ERROR,
        );
    }
    cancel(&app, &app.client("bob"), &id)
        .await
        .problem(StatusCode::BAD_GATEWAY, "payment-provider-error");
    let kept = app
        .get(&format!("/v1/appointments/{id}"), Some(&app.client("bob")))
        .await;
    assert_eq!(kept.body["status"], "confirmed");
    assert_eq!(
        app.stripe.payment_intent(&intent).unwrap()["status"],
        "requires_capture"
    );
    // Cancelled at Stripe later by someone else (the dashboard): the refused request's
    // cancellation is not taken up; the booking stays on, with the incident shown.
    assert_eq!(app.cancel_at_stripe(&intent).await, 200);
    let ended = app
        .get(&format!("/v1/appointments/{id}"), Some(&app.client("bob")))
        .await;
    assert_eq!(ended.body["status"], "confirmed");
    assert_eq!(ended.body["cancellation"], Value::Null);
    assert_eq!(ended.body["payment_incident"]["kind"], "canceled_at_stripe");
}

async fn complete(app: &TestApp, user: &User, id: &str, no_show: bool) -> TestResponse {
    let path = format!("/v1/appointments/{id}/complete");
    app.post(&path, Some(user), &json!({"client_no_show": no_show}))
        .await
}

/// A confirmed, authorised booking for Monday 09:00 seen from three days before.
async fn confirmed(app: &TestApp) -> (String, String) {
    let expert = bookable_expert(app, 18_000, "usd").await;
    three_days_before(app);
    let held = book(
        app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let held = held.ok(StatusCode::CREATED).clone();
    let secret = held["payment_client_secret"].as_str().unwrap().to_owned();
    assert_eq!(app.pay(&secret, "pm_card_visa").await, 200);
    let intent = secret.split("_secret_").next().unwrap().to_owned();
    (held["id"].as_str().unwrap().to_owned(), intent)
}

fn captures_of(app: &TestApp, intent: &str) -> usize {
    app.stripe
        .events()
        .iter()
        .filter(|e| e["type"] == "payment_intent.succeeded" && e["data"]["object"]["id"] == intent)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expert_completes_from_the_start_and_the_payment_is_captured_once() {
    let app = spawn_app().await;
    let (id, intent) = confirmed(&app).await;
    complete(&app, &app.expert("ada"), &id, false)
        .await
        .problem(StatusCode::CONFLICT, "not-completable");
    complete(&app, &app.client("bob"), &id, false)
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    complete(&app, &app.client("mallory"), &id, false)
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    // After the session: the expert's click and an (early) sweep at the same moment.
    app.clock.advance(
        monday_at(10, 5) + Duration::hours(marketplace::booking::AUTO_COMPLETE_HOURS)
            - app.clock.now(),
    );
    let ada = app.expert("ada");
    let (clicked, swept) = tokio::join!(
        complete(&app, &ada, &id, true),
        reminders::run(&app.services)
    );
    // Whichever came second either saw it completed or lost the status change: never a
    // second capture, never a 500.
    match clicked.status {
        StatusCode::OK => assert_eq!(clicked.body["status"], "completed"),
        _ => {
            clicked.problem(StatusCode::CONFLICT, "not-completable");
        }
    }
    let swept = swept.unwrap();
    app.stripe.settle().await;
    assert_eq!(captures_of(&app, &intent), 1, "captured exactly once");
    let stored = app.stripe.payment_intent(&intent).unwrap();
    assert_eq!(
        (
            stored["amount_received"].as_i64(),
            stored["application_fee_amount"].as_i64()
        ),
        (Some(18_000), Some(1_800))
    );
    let completion = &app
        .get(&format!("/v1/appointments/{id}"), Some(&app.client("bob")))
        .await
        .body["completion"];
    assert!(swept.completed <= 1);
    assert_eq!(
        completion["client_no_show"],
        swept.completed == 0,
        "{completion}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncompleted_session_completes_itself_a_day_after_its_end() {
    let app = spawn_app().await;
    let (id, intent) = confirmed(&app).await;
    app.clock
        .advance(monday_at(10, 0) + Duration::hours(23) - app.clock.now());
    assert_eq!(
        reminders::run(&app.services).await.unwrap().completed,
        0,
        "not yet"
    );
    app.clock.advance(Duration::hours(2));
    let (first, second) =
        tokio::join!(reminders::run(&app.services), reminders::run(&app.services));
    assert_eq!(
        first.unwrap().completed + second.unwrap().completed,
        1,
        "two overlapping sweeps complete once"
    );
    app.stripe.settle().await;
    assert_eq!(captures_of(&app, &intent), 1);
    let view = app
        .get(&format!("/v1/appointments/{id}"), Some(&app.expert("ada")))
        .await;
    let view = view.ok(StatusCode::OK);
    assert_eq!(view["status"], "completed");
    assert_eq!(view["completion"]["automatic"], true);
}

pub async fn reschedule(
    app: &TestApp,
    user: &User,
    id: &str,
    start: chrono::DateTime<chrono::Utc>,
) -> TestResponse {
    let path = format!("/v1/appointments/{id}/reschedule");
    app.post(&path, Some(user), &json!({"start": start.to_rfc3339()}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_an_appointment_claims_the_new_time_and_frees_the_old() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let held = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let id = held.ok(StatusCode::CREATED)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let taken = book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(13, 0), 60),
    )
    .await;
    taken.ok(StatusCode::CREATED);
    // Onto a taken slot: 409, nothing moves.
    reschedule(&app, &app.client("bob"), &id, monday_at(13, 0))
        .await
        .problem(StatusCode::CONFLICT, "slot-unavailable");
    // Half an hour later overlaps only its own old time: fine.
    let moved = reschedule(&app, &app.client("bob"), &id, monday_at(9, 30)).await;
    assert_eq!(
        moved.ok(StatusCode::OK)["start"],
        monday_at(9, 30).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let moved = reschedule(&app, &app.client("bob"), &id, monday_at(11, 0)).await;
    assert_eq!(
        moved.ok(StatusCode::OK)["end"],
        monday_at(12, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    // The old time is free, the new one taken, and the dashboard shows the new order.
    book(
        &app,
        &app.client("dave"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await
    .ok(StatusCode::CREATED);
    book(
        &app,
        &app.client("erin"),
        Some("k"),
        &booking(&expert, monday_at(11, 0), 60),
    )
    .await
    .problem(StatusCode::CONFLICT, "slot-unavailable");
    let dashboard = app
        .get("/v1/appointments?role=expert", Some(&app.expert("ada")))
        .await;
    let starts: Vec<&str> = dashboard.body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["start"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_unstable();
    assert_eq!(starts, sorted);
    assert!(
        starts.contains(
            &monday_at(11, 0)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str()
        )
    );
    // Too close to the session for the client; the expert may still move it.
    app.clock
        .advance(monday_at(11, 0) - Duration::hours(10) - app.clock.now());
    reschedule(&app, &app.client("bob"), &id, monday_at(15, 0))
        .await
        .problem(StatusCode::CONFLICT, "not-reschedulable");
    reschedule(&app, &app.expert("ada"), &id, monday_at(15, 0))
        .await
        .ok(StatusCode::OK);
    reschedule(&app, &app.client("mallory"), &id, monday_at(16, 0))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parties_moving_two_appointments_into_one_slot_at_once_one_wins() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let first = book(
        &app,
        &app.client("bob"),
        Some("k"),
        &booking(&expert, monday_at(9, 0), 60),
    )
    .await;
    let second = book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(14, 0), 60),
    )
    .await;
    let first = first.ok(StatusCode::CREATED)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = second.ok(StatusCode::CREATED)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (bob, ada) = (app.client("bob"), app.expert("ada"));
    let (a, b) = tokio::join!(
        reschedule(&app, &bob, &first, monday_at(11, 0)),
        reschedule(&app, &ada, &second, monday_at(11, 30))
    );
    let wins = [&a, &b]
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(wins, 1, "{} / {}", a.body, b.body);
    for response in [&a, &b] {
        if response.status != StatusCode::OK {
            response.problem(StatusCode::CONFLICT, "slot-unavailable");
        }
    }
    // The table agrees: the winner claims its new time and no longer its old one, the loser
    // still its own, and no two claims overlap.
    let (winner, winner_was, loser, loser_at) = if a.status == StatusCode::OK {
        (&first, monday_at(9, 0), &second, monday_at(14, 0))
    } else {
        (&second, monday_at(14, 0), &first, monday_at(9, 0))
    };
    let winner_at = if a.status == StatusCode::OK {
        monday_at(11, 0)
    } else {
        monday_at(11, 30)
    };
    let claims = crate::booking::monday_claims(&app, &expert).await;
    let covers = |id: &str, at: chrono::DateTime<chrono::Utc>| {
        claims
            .iter()
            .any(|c| c.appointment_id.to_string() == id && c.start <= at && at < c.end)
    };
    assert_eq!(claims.len(), 2, "{claims:?}");
    assert!(covers(winner, winner_at), "{claims:?}");
    assert!(!covers(winner, winner_was), "{claims:?}");
    assert!(covers(loser, loser_at), "{claims:?}");
    assert!(
        claims[0].end <= claims[1].start || claims[1].end <= claims[0].start,
        "{claims:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earnings_reconcile_to_the_cent_with_the_payments_recorded() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    // 14:00, more than six days ahead: charged at booking.
    let far = book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(14, 0), 60),
    )
    .await;
    let far = far.ok(StatusCode::CREATED).clone();
    assert_eq!(
        app.pay(
            far["payment_client_secret"].as_str().unwrap(),
            "pm_card_visa"
        )
        .await,
        200
    );
    // 09:00 and 11:00 booked three days before: held.
    three_days_before(&app);
    let mut held = Vec::new();
    for (client, hour) in [("bob", 9), ("dave", 11)] {
        let booked = book(
            &app,
            &app.client(client),
            Some("k"),
            &booking(&expert, monday_at(hour, 0), 60),
        )
        .await;
        let booked = booked.ok(StatusCode::CREATED).clone();
        assert_eq!(
            app.pay(
                booked["payment_client_secret"].as_str().unwrap(),
                "pm_card_visa"
            )
            .await,
            200
        );
        held.push(booked["id"].as_str().unwrap().to_owned());
    }
    // 11:00 cancelled by its client 10 h before (half kept, captured); 14:00 likewise (half
    // refunded); 09:00 completed (captured in full).
    app.clock
        .advance(monday_at(11, 0) - Duration::hours(10) - app.clock.now());
    cancel(&app, &app.client("dave"), &held[1])
        .await
        .ok(StatusCode::OK);
    app.clock
        .advance(monday_at(14, 0) - Duration::hours(10) - app.clock.now());
    cancel(&app, &app.client("carol"), far["id"].as_str().unwrap())
        .await
        .ok(StatusCode::OK);
    app.clock.advance(monday_at(10, 5) - app.clock.now());
    complete(&app, &app.expert("ada"), &held[0], false)
        .await
        .ok(StatusCode::OK);
    app.stripe.settle().await;

    let window = format!(
        "/v1/experts/me/earnings?from={}&to={}",
        monday_at(0, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        monday_at(23, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let report = app.get(&window, Some(&app.expert("ada"))).await;
    let totals = report.ok(StatusCode::OK)["totals"].clone();
    assert_eq!(
        totals,
        json!([{"currency": "usd", "gross": 45_000, "platform_fees": 3_600, "refunds": 9_000,
                "net": 32_400, "disputed": 0, "lost": 0}])
    );
    // The same figures from Stripe's side: what each PaymentIntent captured and refunded.
    let intents: Vec<Value> = app
        .stripe
        .events()
        .into_iter()
        .filter(|e| e["type"] == "payment_intent.succeeded")
        .map(|e| e["data"]["object"].clone())
        .collect();
    let captured: i64 = intents
        .iter()
        .map(|i| i["amount_received"].as_i64().unwrap())
        .sum();
    let refunded: i64 = app
        .stripe
        .refunds()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .sum();
    assert_eq!((captured, refunded), (45_000, 9_000));
    app.get("/v1/experts/me/earnings", Some(&app.client("bob")))
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    // The platform's report over the same window: the same totals (one expert here).
    let platform = window.replace("/v1/experts/me/earnings", "/v1/admin/earnings");
    let report = app
        .get(&platform, Some(&app.user("root", &["admins"])))
        .await;
    assert_eq!(report.ok(StatusCode::OK)["totals"], totals);
    app.get(&platform, Some(&app.expert("ada")))
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/admin/earnings", Some(&app.user("root", &["admins"])))
        .await
        .problem(StatusCode::BAD_REQUEST, "validation-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_problem_stops_automatic_completion() {
    let app = spawn_app().await;
    let (id, intent) = confirmed(&app).await;
    let path = format!("/v1/appointments/{id}/problem");
    let report = |user: User| {
        let (app, path) = (&app, path.clone());
        async move {
            let body = json!({"description": "The expert never joined."});
            app.post(&path, Some(&user), &body).await
        }
    };
    report(app.client("bob"))
        .await
        .problem(StatusCode::CONFLICT, "problem-not-accepted");
    app.clock.advance(monday_at(9, 30) - app.clock.now());
    report(app.expert("ada"))
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    let reported = report(app.client("bob")).await;
    assert_eq!(
        reported.ok(StatusCode::OK)["problem"]["description"],
        "The expert never joined."
    );
    report(app.client("bob"))
        .await
        .problem(StatusCode::CONFLICT, "problem-not-accepted");
    app.clock.advance(Duration::hours(48));
    assert_eq!(reminders::run(&app.services).await.unwrap().completed, 0);
    app.stripe.settle().await;
    assert_eq!(
        captures_of(&app, &intent),
        0,
        "nothing captured while the problem is open"
    );
    let view = app
        .get(&format!("/v1/appointments/{id}"), Some(&app.client("bob")))
        .await;
    assert_eq!(view.ok(StatusCode::OK)["status"], "confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invite_follows_the_appointment_with_one_uid_and_a_rising_sequence() {
    let app = spawn_app().await;
    let (id, _) = confirmed(&app).await;
    let invite = |user: User| {
        let (app, path) = (&app, format!("/v1/appointments/{id}/invite.ics"));
        async move {
            let request = http::Request::get(path)
                .header(
                    "authorization",
                    format!("Bearer {}", user.token_for_tests()),
                )
                .body(axum::body::Body::empty())
                .unwrap();
            let response = tower::ServiceExt::oneshot(app.gateway.clone(), request)
                .await
                .unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                String::from_utf8(bytes.to_vec())
                    .unwrap()
                    .replace("\r\n ", ""),
            )
        }
    };
    let field = |ics: &str, name: &str| {
        ics.split("\r\n")
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_owned))
            .unwrap_or_default()
    };
    let (status, first) = invite(app.client("bob")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(field(&first, "METHOD"), "REQUEST");
    assert_eq!(field(&first, "SEQUENCE"), "0");
    assert_eq!(field(&first, "UID"), format!("{id}@expert-marketplace"));
    assert_eq!(
        field(&first, "DTSTART"),
        monday_at(9, 0).format("%Y%m%dT%H%M%SZ").to_string()
    );
    assert!(first.contains("mailto:bob@example.com") && first.contains("mailto:ada@example.com"));
    assert!(field(&first, "URL").starts_with("https://meet.jit.si/expert-session-"));

    reschedule(&app, &app.expert("ada"), &id, monday_at(11, 0))
        .await
        .ok(StatusCode::OK);
    let (_, moved) = invite(app.expert("ada")).await;
    assert_eq!(field(&moved, "SEQUENCE"), "1");
    assert_eq!(
        field(&moved, "DTSTART"),
        monday_at(11, 0).format("%Y%m%dT%H%M%SZ").to_string()
    );

    cancel(&app, &app.client("bob"), &id)
        .await
        .ok(StatusCode::OK);
    let (_, cancelled) = invite(app.client("bob")).await;
    assert_eq!(field(&cancelled, "METHOD"), "CANCEL");
    assert_eq!(field(&cancelled, "SEQUENCE"), "2");
    assert_eq!(field(&cancelled, "UID"), field(&first, "UID"));

    let (status, _) = invite(app.client("mallory")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
