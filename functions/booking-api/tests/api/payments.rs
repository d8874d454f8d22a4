//! Payments as Stripe really behaves, through the real handlers against moto and our Stripe
//! test server: authorisations that lapse 7 days after creation, PaymentIntents that are not
//! the appointment's own, Idempotency-Keys in flight (409) and 5xx answers kept under their
//! key, events in another API version, disputes, and accounts Stripe restricts.

use chrono::{DateTime, Duration, Utc};
use http::{Method, StatusCode};
use marketplace::booking::{AppointmentStatus, IncidentKind};
use marketplace::ids::AppointmentId;
use serde_json::{Value, json};

use crate::booking::{
    book, bookable_expert, bookable_expert_as, booking, monday_at, three_days_before,
};
use crate::events::{deliver, emails_to, fresh_client};
use crate::helpers::{CAPTURED_LOGS, TestApp, spawn_app, spawn_app_with};

fn intent_of(secret: &str) -> String {
    secret.split("_secret_").next().unwrap().to_owned()
}

/// Holds `start` for `client`, unpaid: (appointment, client secret).
async fn hold(
    app: &TestApp,
    expert: &str,
    client: &str,
    start: DateTime<Utc>,
) -> (AppointmentId, String) {
    let held = book(
        app,
        &app.client(client),
        Some("k"),
        &booking(expert, start, 60),
    )
    .await;
    let body = held.ok(StatusCode::CREATED);
    (
        body["id"].as_str().unwrap().parse().unwrap(),
        body["payment_client_secret"].as_str().unwrap().to_owned(),
    )
}

/// Books `start` for `client` and pays with a good card: (appointment, PaymentIntent).
async fn paid_booking(
    app: &TestApp,
    expert: &str,
    client: &str,
    start: DateTime<Utc>,
) -> (AppointmentId, String) {
    let (id, secret) = hold(app, expert, client, start).await;
    assert_eq!(app.pay(&secret, "pm_card_visa").await, 200);
    (id, intent_of(&secret))
}

/// Moves the clock to just under six days before Monday 10:00 and books that hour, paid:
/// held, to be captured after the session, though its automatic completion (24 h after its
/// end) would come after Stripe's 7-day deadline. (start, booked at, appointment, intent).
async fn held_just_under_six_days_ahead(
    app: &TestApp,
    expert: &str,
) -> (DateTime<Utc>, DateTime<Utc>, AppointmentId, String) {
    let start = monday_at(10, 0);
    let booked_at = start - Duration::minutes(6 * 24 * 60 - 30);
    app.travel_to(booked_at);
    let (id, intent) = paid_booking(app, expert, "bob", start).await;
    (start, booked_at, id, intent)
}

async fn status(app: &TestApp, id: AppointmentId) -> AppointmentStatus {
    app.store.appointment(id).await.unwrap().unwrap().status
}

async fn account_of(app: &TestApp, expert: &str) -> String {
    app.store
        .profile(expert.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .stripe_account
        .unwrap()
}

/// Relays the outbox to the bus and runs the notifications queue dry through the notifier.
async fn notify(app: &TestApp) {
    app.services.relay.as_ref().unwrap().run().await.unwrap();
    deliver(app).await;
}

/// Emails to `address` whose subject contains `text`.
async fn mails(address: &str, text: &str) -> usize {
    emails_to(address)
        .await
        .iter()
        .filter(|(subject, _)| subject.contains(text))
        .count()
}

/// An event Stripe raised, sent again as a new event: same object, a fresh id, signed now.
async fn resend_as_new(app: &TestApp, event: &Value) {
    let mut copy = event.clone();
    copy["id"] = json!(format!("evt_{}", ulid::Ulid::new()));
    if let Some(delivery) = app.stripe.redeliver(copy) {
        delivery.await.unwrap();
    }
}

fn events_of(app: &TestApp, kind: &str, object: &str) -> Vec<Value> {
    app.stripe
        .events()
        .into_iter()
        .filter(|e| e["type"] == kind && e["data"]["object"]["id"] == object)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorisation_is_captured_before_it_lapses_and_the_session_still_completes() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let (_, booked_at, id, intent) = held_just_under_six_days_ahead(&app, &expert).await;
    let appointment = app.store.appointment(id).await.unwrap().unwrap();
    assert!(!appointment.charged_at_booking);
    assert_eq!(appointment.status, AppointmentStatus::Confirmed);
    let capture_before = app
        .stripe
        .charge(
            app.stripe.payment_intent(&intent).unwrap()["latest_charge"]
                .as_str()
                .unwrap(),
        )
        .unwrap()["payment_method_details"]["card"]["capture_before"]
        .as_i64()
        .unwrap();
    assert_eq!(
        appointment.capture_deadline.map(|d| d.timestamp()),
        Some(capture_before),
        "the deadline is the charge's own"
    );

    // The sweep 6 days 19 hours later, with the session over but not yet completing: the
    // deadline is 5 hours away, so it captures now.
    app.travel_to(booked_at + Duration::days(6) + Duration::hours(19));
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!(
        (report.captured, report.completed, report.failed),
        (1, 0, 0)
    );
    let held = app.stripe.payment_intent(&intent).unwrap();
    assert_eq!(held["status"], "succeeded");
    assert_eq!(held["amount_received"], 18_000);
    assert_eq!(held["application_fee_amount"], 1_800);
    let account = account_of(&app, &expert).await;
    let transfers: Vec<Value> = app
        .stripe
        .transfers()
        .into_iter()
        .filter(|t| t["destination"] == account)
        .collect();
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0]["amount"], 16_200, "the expert's 90%");

    // Past Stripe's deadline nothing is left to lapse; a day after its end it completes.
    app.travel_to(booked_at + Duration::days(7) + Duration::hours(1));
    assert_eq!(app.stripe.expire_authorizations(), 0);
    app.stripe.settle().await;
    assert!(events_of(&app, "payment_intent.canceled", &intent).is_empty());
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!((report.captured, report.completed), (0, 1));
    assert_eq!(status(&app, id).await, AppointmentStatus::Completed);
    let record = app.store.payment_record(id).await.unwrap().unwrap();
    assert_eq!(
        (record.state.as_str(), record.amount_received),
        ("captured", 18_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_bookings_payment_cancelled_at_stripe_is_an_incident_not_a_cancellation() {
    let app = spawn_app().await;
    let ada = fresh_client("ada");
    let expert = bookable_expert_as(&app, &ada, 18_000, "usd").await;
    three_days_before(&app);
    let (lapsing, lapsing_intent) = paid_booking(&app, &expert, "bob", monday_at(9, 0)).await;
    let (second, second_intent) = paid_booking(&app, &expert, "carol", monday_at(13, 0)).await;

    // The sweeps stopped (an outage), and Stripe let both authorisations lapse.
    app.travel_to(app.clock_now() + Duration::days(7) + Duration::minutes(1));
    assert_eq!(app.stripe.expire_authorizations(), 2);
    app.stripe.settle().await;
    let appointment = app.store.appointment(lapsing).await.unwrap().unwrap();
    assert_eq!(
        appointment.status,
        AppointmentStatus::Confirmed,
        "never a silent cancellation"
    );
    let incident = appointment.payment_incident.clone().expect("an incident");
    assert_eq!(incident.kind, IncidentKind::AuthorizationLapsed);
    assert_eq!(incident.payment_intent, lapsing_intent);
    let dates = marketplace::booking::days_touched(&appointment.occupancy);
    let claims = app
        .store
        .claim_days(appointment.expert_id, &dates)
        .await
        .unwrap();
    assert!(
        claims
            .iter()
            .flat_map(|d| &d.claims)
            .any(|c| c.appointment_id == lapsing && c.expires_at.is_none()),
        "the session keeps its time"
    );
    let view = app
        .get(
            &format!("/v1/appointments/{lapsing}"),
            Some(&app.expert(&ada)),
        )
        .await;
    assert_eq!(
        view.ok(StatusCode::OK)["payment_incident"]["kind"],
        "authorization_lapsed"
    );
    assert_eq!(status(&app, second).await, AppointmentStatus::Confirmed);

    // Told once each: the expert and the operators, whatever the redeliveries.
    notify(&app).await;
    for event in events_of(&app, "payment_intent.canceled", &lapsing_intent) {
        resend_as_new(&app, &event).await;
    }
    notify(&app).await;
    let expert_address = format!("{ada}@example.com");
    assert_eq!(mails(&expert_address, "did not go through").await, 2);
    let operations = marketplace::config::LOCAL_OPERATIONS_EMAIL;
    assert_eq!(
        mails(operations, &format!("Payment incident: {lapsing}")).await,
        1
    );
    assert_eq!(
        mails(operations, &format!("Payment incident: {second}")).await,
        1
    );
    // Completing it captures nothing (there is nothing left) and keeps the incident.
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!((report.completed, report.failed), (2, 0));
    let done = app.store.appointment(lapsing).await.unwrap().unwrap();
    assert_eq!(done.status, AppointmentStatus::Completed);
    assert!(done.payment_incident.is_some());
    assert!(
        events_of(&app, "payment_intent.succeeded", &second_intent).is_empty(),
        "nothing captured"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_cancelled_in_the_dashboard_is_reported_as_such() {
    let app = spawn_app().await;
    let ada = fresh_client("ada");
    let expert = bookable_expert_as(&app, &ada, 18_000, "usd").await;
    three_days_before(&app);
    let (id, intent) = paid_booking(&app, &expert, "bob", monday_at(9, 0)).await;
    assert_eq!(app.cancel_at_stripe(&intent).await, 200);
    let appointment = app.store.appointment(id).await.unwrap().unwrap();
    assert_eq!(appointment.status, AppointmentStatus::Confirmed);
    assert_eq!(
        appointment.payment_incident.map(|i| i.kind),
        Some(IncidentKind::CanceledAtStripe)
    );
    notify(&app).await;
    assert_eq!(
        mails(&format!("{ada}@example.com"), "did not go through").await,
        1
    );
    assert_eq!(
        mails(
            marketplace::config::LOCAL_OPERATIONS_EMAIL,
            &format!("Payment incident: {id}")
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_intent_that_is_not_the_appointments_own_confirms_nothing() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 12_000, "usd").await;
    three_days_before(&app);
    let (id, secret) = hold(&app, &expert, "bob", monday_at(9, 0)).await;
    let stored = app.store.appointment(id).await.unwrap().unwrap();
    assert_eq!(
        stored.payment_intent.as_deref(),
        Some(intent_of(&secret).as_str()),
        "the intent's id is stored when Stripe made it"
    );
    let account = account_of(&app, &expert).await;
    let appointment = id.to_string();
    // Someone pays intents that name the 120 USD appointment: 1.00 USD; 120 in EUR; 120 USD
    // to nobody; and 120 USD exactly, to the expert, but not the intent we made.
    let foreign: [&[(&str, &str)]; 4] = [
        &[
            ("amount", "100"),
            ("currency", "usd"),
            ("transfer_data[destination]", &account),
        ],
        &[
            ("amount", "12000"),
            ("currency", "eur"),
            ("transfer_data[destination]", &account),
        ],
        &[("amount", "12000"), ("currency", "usd")],
        &[
            ("amount", "12000"),
            ("currency", "usd"),
            ("transfer_data[destination]", &account),
        ],
    ];
    let mut foreign_intents = Vec::new();
    for params in foreign {
        let mut form = params.to_vec();
        form.extend([
            ("capture_method", "manual"),
            ("metadata[appointment_id]", appointment.as_str()),
        ]);
        let (created, intent) = app.stripe_request("/v1/payment_intents", &form, None).await;
        assert_eq!(created, 200, "{intent}");
        let intent = intent["id"].as_str().unwrap().to_owned();
        let (confirmed, _) = app
            .stripe_request(
                &format!("/v1/payment_intents/{intent}/confirm"),
                &[("payment_method", "pm_card_visa")],
                None,
            )
            .await;
        assert_eq!(confirmed, 200);
        foreign_intents.push(intent);
    }
    assert_eq!(status(&app, id).await, AppointmentStatus::PendingPayment);
    let record = app.store.payment_record(id).await.unwrap().unwrap();
    assert_eq!(record.state, "awaiting_payment");
    // Each event is recorded as ignored, and logged with its ids.
    let items = app.table_items().await;
    for intent in &foreign_intents {
        for event in events_of(&app, "payment_intent.amount_capturable_updated", intent) {
            let marker = &items[&(
                format!("STRIPE_EVENT#{}", event["id"].as_str().unwrap()),
                "EVENT".to_owned(),
            )];
            assert_eq!(marker["outcome"], "ignored");
        }
        let logs = String::from_utf8_lossy(&CAPTURED_LOGS.lock().unwrap()).into_owned();
        assert!(
            logs.lines()
                .any(|l| l.contains("not the appointment's own") && l.contains(intent.as_str())),
            "a warning names {intent}"
        );
    }
    // The hold's sweep reads the stored intent (unpaid), not the paid foreign ones.
    app.travel_to(app.clock_now() + Duration::minutes(marketplace::booking::HOLD_MINUTES + 1));
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!((report.expired, report.confirmed), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_paid_while_webhooks_were_down_is_confirmed_from_its_stored_intent_a_day_later() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    app.stripe.pause_deliveries(true);
    let (id, _) = paid_booking(&app, &expert, "bob", monday_at(9, 0)).await;
    assert_eq!(status(&app, id).await, AppointmentStatus::PendingPayment);
    // The sweep too was down for a day: Stripe has forgotten our Idempotency-Key since.
    app.travel_to(app.clock_now() + Duration::hours(25));
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!((report.confirmed, report.expired), (1, 0));
    assert_eq!(status(&app, id).await, AppointmentStatus::Confirmed);
    assert_eq!(
        app.stripe.request_count("POST /v1/payment_intents"),
        1,
        "the stored intent is read back; none is created again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_bookings_with_one_key_get_one_appointment_and_one_payment_intent() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    // The first request's PaymentIntent takes two seconds at Stripe; the nine others are sent
    // once it is in flight, meet its key there (409) and wait for its answer.
    app.stripe.delay_next(
        Method::POST,
        "/v1/payment_intents",
        std::time::Duration::from_secs(2),
    );
    let bob = app.client("bob");
    let body = booking(&expert, monday_at(9, 0), 60);
    let mut racing = tokio::task::JoinSet::new();
    let send = |racing: &mut tokio::task::JoinSet<_>| {
        let (app, bob, body) = (app.clone(), bob.clone(), body.clone());
        racing.spawn(async move { book(&app, &bob, Some("same-key"), &body).await });
    };
    send(&mut racing);
    while app.stripe.request_count("POST /v1/payment_intents") == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for _ in 0..9 {
        send(&mut racing);
    }
    let mut answers = Vec::new();
    while let Some(answer) = racing.join_next().await {
        answers.push(answer.unwrap());
    }
    let mut seen = std::collections::BTreeSet::new();
    for answer in &answers {
        let body = answer.ok(StatusCode::CREATED);
        seen.insert((
            body["id"].as_str().unwrap().to_owned(),
            body["payment_client_secret"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    let created = app
        .stripe
        .events()
        .into_iter()
        .filter(|e| e["type"] == "payment_intent.created")
        .count();
    assert_eq!(created, 1);
    assert!(
        app.stripe.request_count("POST /v1/payment_intents") > 1,
        "the others did meet the key in flight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_in_flight_is_waited_out_and_one_failing_item_does_not_stop_the_sweep() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let (first, first_intent) = paid_booking(&app, &expert, "bob", monday_at(9, 0)).await;
    let (second, _) = paid_booking(&app, &expert, "carol", monday_at(11, 0)).await;
    let (third, third_intent) = paid_booking(&app, &expert, "dan", monday_at(13, 0)).await;
    let (fourth, _) = paid_booking(&app, &expert, "eve", monday_at(15, 0)).await;
    // A day after the sessions: the expert marks the first complete while the sweep
    // completes all of them; their captures of the first share a key and meet in flight.
    app.travel_to(monday_at(17, 0) + Duration::hours(25));
    app.stripe.delay_next(
        Method::POST,
        &format!("/v1/payment_intents/{first_intent}/capture"),
        std::time::Duration::from_millis(1_500),
    );
    // Stripe fails every capture of the third, the first try and every retry.
    for _ in 0..4 {
        app.stripe.fail_next(
            Method::POST,
            &format!("/v1/payment_intents/{third_intent}/capture"),
            StatusCode::INTERNAL_SERVER_ERROR,
        );
    }
    let path = format!("/v1/appointments/{first}/complete");
    let empty = json!({});
    let complete = app.post(&path, Some(&ada), &empty);
    let (completed, swept) = tokio::join!(complete, reminders::run(&app.services));
    completed.ok(StatusCode::OK);
    assert!(
        app.stripe.key_conflicts() >= 1,
        "the two captures met at Stripe"
    );
    let swept = swept.unwrap();
    assert_eq!(swept.failed, 1, "the third failed and was left for later");
    app.stripe.settle().await;
    assert_eq!(
        events_of(&app, "payment_intent.succeeded", &first_intent).len(),
        1,
        "captured once"
    );
    for id in [first, second, fourth] {
        assert_eq!(status(&app, id).await, AppointmentStatus::Completed);
    }
    assert_eq!(status(&app, third).await, AppointmentStatus::Confirmed);
    // The next run gets it.
    let again = reminders::run(&app.services).await.unwrap();
    assert_eq!((again.completed, again.failed), (1, 0));
    assert_eq!(status(&app, third).await, AppointmentStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_answered_with_a_5xx_is_read_back_and_retried_under_a_new_key() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let (id, intent) = paid_booking(&app, &expert, "bob", monday_at(9, 0)).await;
    app.travel_to(monday_at(10, 0));
    app.stripe.fail_next(
        Method::POST,
        &format!("/v1/payment_intents/{intent}/capture"),
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    app.post(
        &format!("/v1/appointments/{id}/complete"),
        Some(&ada),
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(status(&app, id).await, AppointmentStatus::Completed);
    assert_eq!(
        app.stripe.payment_intent(&intent).unwrap()["status"],
        "succeeded"
    );
    assert_eq!(
        app.stripe
            .request_count("POST /v1/payment_intents/{id}/capture"),
        2
    );
    // Stripe keeps the 5xx under the first key: that key could never have succeeded.
    assert_eq!(
        app.stripe.kept_answer(&format!("capture-{intent}-18000")),
        Some(StatusCode::INTERNAL_SERVER_ERROR)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experts_accounts_ask_for_the_capabilities_destination_charges_need() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let account = account_of(&app, &expert).await;
    let (status, stored) = {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/accounts/{account}", app.stripe_url))
            .bearer_auth(local_stack::dev_server::LOCAL_STRIPE_KEY)
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(
        stored["capabilities"],
        json!({"card_payments": "active", "transfers": "active"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_another_api_version_are_read_by_the_fields_we_use() {
    let app = spawn_app_with(Default::default(), |options| {
        options.stripe_event_api_version = Some("2024-06-20".to_owned());
    })
    .await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let (id, _) = paid_booking(&app, &expert, "bob", monday_at(9, 0)).await;
    assert_eq!(status(&app, id).await, AppointmentStatus::Confirmed);
    let events = app.stripe.events();
    assert!(events.iter().all(|e| e["api_version"] == "2024-06-20"));
    // In that version's shape: without a field today's typed PaymentIntent requires.
    let intents: Vec<&Value> = events
        .iter()
        .map(|e| &e["data"]["object"])
        .filter(|o| o["object"] == "payment_intent")
        .collect();
    assert!(!intents.is_empty());
    assert!(
        intents
            .iter()
            .all(|o| o.get("confirmation_method").is_none())
    );
}

/// A session more than six days ahead: charged at booking, so it can be disputed.
async fn charged_booking(
    app: &TestApp,
    expert: &str,
    client: &str,
    hour: u32,
) -> (AppointmentId, String) {
    paid_booking(app, expert, client, monday_at(hour, 0)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disputed_payment_is_shown_reported_never_refunded_and_counted_apart() {
    let app = spawn_app().await;
    let ada = fresh_client("ada");
    let expert = bookable_expert_as(&app, &ada, 18_000, "usd").await;
    let (lost, lost_intent) = charged_booking(&app, &expert, "bob", 9).await;
    let (won, won_intent) = charged_booking(&app, &expert, "carol", 13).await;
    assert_eq!(
        app.stripe.payment_intent(&lost_intent).unwrap()["status"],
        "succeeded"
    );
    for intent in [&lost_intent, &won_intent] {
        let (status, _) = app.stripe.open_dispute(intent, "fraudulent");
        assert_eq!(status, StatusCode::OK);
    }
    app.stripe.settle().await;
    let appointment = app.store.appointment(lost).await.unwrap().unwrap();
    let dispute = appointment.dispute.clone().expect("the dispute is shown");
    assert_eq!(
        (dispute.status.as_str(), dispute.amount.amount),
        ("needs_response", 18_000)
    );
    assert_eq!(dispute.withdrawn, 18_000);
    let view = app
        .get(
            &format!("/v1/appointments/{lost}"),
            Some(&app.client("bob")),
        )
        .await;
    assert_eq!(
        view.ok(StatusCode::OK)["dispute"]["status"],
        "needs_response"
    );
    let expert_user = app.expert(&ada);
    let earnings = app.get("/v1/experts/me/earnings", Some(&expert_user)).await;
    let line = earnings.ok(StatusCode::OK)["totals"][0].clone();
    assert_eq!(
        (line["disputed"].clone(), line["lost"].clone()),
        (json!(36_000), json!(0))
    );

    // A cancellation while disputed moves no money: the bank decides.
    let refunds_before = app.stripe.refunds().len();
    let cancelled = app
        .post(
            &format!("/v1/appointments/{lost}/cancel"),
            Some(&app.client("bob")),
            &json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(
        cancelled.ok(StatusCode::OK)["cancellation"]["refund"]["amount"],
        0
    );
    assert_eq!(
        app.stripe.refunds().len(),
        refunds_before,
        "no refund asked of Stripe"
    );

    // The bank decides: one lost, one won.
    let dispute_of = |intent: &str| {
        app.stripe
            .events()
            .into_iter()
            .find(|e| {
                e["type"] == "charge.dispute.created"
                    && e["data"]["object"]["payment_intent"] == intent
            })
            .unwrap()["data"]["object"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    app.stripe.settle_dispute(&dispute_of(&lost_intent), "lost");
    app.stripe.settle_dispute(&dispute_of(&won_intent), "won");
    app.stripe.settle().await;
    let won_dispute = app
        .store
        .appointment(won)
        .await
        .unwrap()
        .unwrap()
        .dispute
        .unwrap();
    assert_eq!(
        (won_dispute.status.as_str(), won_dispute.reinstated),
        ("won", 18_000)
    );
    let earnings = app.get("/v1/experts/me/earnings", Some(&expert_user)).await;
    let line = earnings.ok(StatusCode::OK)["totals"][0].clone();
    assert_eq!(
        (line["disputed"].clone(), line["lost"].clone()),
        (json!(0), json!(18_000))
    );
    let report = app
        .get(
            &format!(
                "/v1/admin/earnings?from={}&to={}",
                (monday_at(0, 0)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                (monday_at(0, 0) + Duration::days(1))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Some(&app.user("root", &["admins"])),
        )
        .await;
    assert_eq!(report.ok(StatusCode::OK)["totals"][0]["lost"], 18_000);

    // Each step told once, to the expert and the operators.
    notify(&app).await;
    for event in app
        .stripe
        .events()
        .into_iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("charge.dispute."))
    {
        resend_as_new(&app, &event).await;
    }
    notify(&app).await;
    let expert_address = format!("{ada}@example.com");
    assert_eq!(mails(&expert_address, "is disputed").await, 2);
    assert_eq!(
        mails(&expert_address, "dispute about your session").await,
        2
    );
    let operations = marketplace::config::LOCAL_OPERATIONS_EMAIL;
    assert_eq!(
        mails(operations, &format!("Dispute opened: {lost}")).await,
        1
    );
    assert_eq!(mails(operations, &format!("Dispute lost: {lost}")).await, 1);
    assert_eq!(mails(operations, &format!("Dispute won: {won}")).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_stripe_restricts_stops_new_bookings_keeps_the_old_and_is_told_once() {
    let app = spawn_app().await;
    let ada = fresh_client("ada");
    let expert = bookable_expert_as(&app, &ada, 18_000, "usd").await;
    three_days_before(&app);
    let (booked, booked_intent) = paid_booking(&app, &expert, "bob", monday_at(9, 0)).await;
    let account = account_of(&app, &expert).await;
    assert!(
        app.stripe
            .restrict_account(&account, "individual.verification.document")
    );
    app.stripe.settle().await;
    book(
        &app,
        &app.client("carol"),
        Some("k"),
        &booking(&expert, monday_at(11, 0), 60),
    )
    .await
    .problem(StatusCode::CONFLICT, "expert-not-bookable");
    let search = app.get("/v1/experts", None).await;
    assert!(
        !search.ok(StatusCode::OK).to_string().contains(&expert),
        "not listed while restricted"
    );
    // The booking made before keeps its payment: completed and captured.
    app.travel_to(monday_at(10, 0));
    app.post(
        &format!("/v1/appointments/{booked}/complete"),
        Some(&app.expert(&ada)),
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(
        app.stripe.payment_intent(&booked_intent).unwrap()["status"],
        "succeeded"
    );
    notify(&app).await;
    // Stripe sends account.updated again (a retry, another field): no second email.
    for event in app
        .stripe
        .events()
        .into_iter()
        .filter(|e| e["type"] == "account.updated" && e["data"]["object"]["id"] == account)
    {
        resend_as_new(&app, &event).await;
    }
    notify(&app).await;
    let address = format!("{ada}@example.com");
    let restricted: Vec<(String, String)> = emails_to(&address)
        .await
        .into_iter()
        .filter(|(s, _)| s.contains("Stripe needs more information"))
        .collect();
    assert_eq!(restricted.len(), 1);
    // Stripe enables the account again: bookable again.
    assert!(app.stripe.onboard_account(&account));
    app.stripe.settle().await;
    book(
        &app,
        &app.client("carol"),
        Some("k2"),
        &booking(&expert, monday_at(11, 0) + Duration::days(7), 60),
    )
    .await
    .ok(StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_before_the_session_captures_it_ahead_and_a_cancellation_is_then_refunded() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    // The card network allows 4 days 18 hours (merchant-initiated Visa); the session is 5 days
    // after booking, so the authorisation would lapse before it starts.
    app.stripe
        .set_authorization_window(Duration::days(4) + Duration::hours(18));
    let start = monday_at(10, 0);
    let booked_at = start - Duration::days(5);
    app.travel_to(booked_at);
    let (id, intent) = paid_booking(&app, &expert, "bob", start).await;
    let deadline = app
        .store
        .appointment(id)
        .await
        .unwrap()
        .unwrap()
        .capture_deadline
        .unwrap();
    // Stripe counts in whole seconds from the authorisation, a moment after the booking.
    let lag = deadline - (booked_at + Duration::days(4) + Duration::hours(18));
    assert!(lag.num_seconds().abs() <= 2, "{deadline}");
    app.travel_to(booked_at + Duration::days(4) + Duration::hours(13));
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!(
        (report.captured, report.completed),
        (1, 0),
        "captured, not completed"
    );
    assert_eq!(
        app.stripe.payment_intent(&intent).unwrap()["amount_received"],
        18_000
    );
    // 11 hours before the start the client cancels: half back under the policy, now a refund
    // with the fee and the transfer reversed in proportion.
    let cancelled = app
        .post(
            &format!("/v1/appointments/{id}/cancel"),
            Some(&app.client("bob")),
            &json!({"reason": "ill"}),
        )
        .await;
    assert_eq!(
        cancelled.ok(StatusCode::OK)["cancellation"]["refund"],
        json!({"amount": 9_000, "currency": "usd"})
    );
    let refunds: Vec<Value> = app
        .stripe
        .refunds()
        .into_iter()
        .filter(|r| r["payment_intent"] == intent)
        .collect();
    assert_eq!(refunds.len(), 1);
    assert_eq!(
        (
            refunds[0]["amount"].clone(),
            refunds[0]["test_application_fee_refunded"].clone(),
            refunds[0]["test_transfer_reversed"].clone()
        ),
        (json!(9_000), json!(900), json!(8_100))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_left_at_3d_secure_expires_and_one_still_processing_waits_for_the_network() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let hold = |client: &'static str, hour: u32| {
        let app = app.clone();
        let expert = expert.clone();
        async move {
            let held = book(
                &app,
                &app.client(client),
                Some("k"),
                &booking(&expert, monday_at(hour, 0), 60),
            )
            .await;
            let body = held.ok(StatusCode::CREATED).clone();
            let secret = body["payment_client_secret"].as_str().unwrap().to_owned();
            (
                body["id"]
                    .as_str()
                    .unwrap()
                    .parse::<AppointmentId>()
                    .unwrap(),
                secret,
            )
        }
    };
    let (abandoned, abandoned_secret) = hold("bob", 9).await;
    let (challenged, challenged_secret) = hold("carol", 11).await;
    let (slow, slow_secret) = hold("dan", 13).await;
    for secret in [&abandoned_secret, &challenged_secret] {
        assert_eq!(app.pay(secret, "pm_card_authenticationRequired").await, 200);
    }
    assert!(
        app.stripe
            .process_next_confirmation(&intent_of(&slow_secret))
    );
    assert_eq!(app.pay(&slow_secret, "pm_card_visa").await, 200);
    // The client passes the challenge: confirmed.
    let (passed, _) = app
        .stripe
        .authenticate(&intent_of(&challenged_secret), true);
    assert_eq!(passed, StatusCode::OK);
    app.stripe.settle().await;
    assert_eq!(status(&app, challenged).await, AppointmentStatus::Confirmed);
    for id in [abandoned, slow] {
        assert_eq!(status(&app, id).await, AppointmentStatus::PendingPayment);
    }
    // The holds lapse: the one left at the challenge ends, the processing one waits.
    app.travel_to(app.clock_now() + Duration::minutes(marketplace::booking::HOLD_MINUTES + 1));
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!((report.expired, report.confirmed, report.failed), (1, 0, 0));
    assert_eq!(status(&app, abandoned).await, AppointmentStatus::Expired);
    assert_eq!(
        app.stripe
            .payment_intent(&intent_of(&abandoned_secret))
            .unwrap()["status"],
        "canceled"
    );
    assert_eq!(status(&app, slow).await, AppointmentStatus::PendingPayment);
    // The network answers: nobody took the time meanwhile, so it is confirmed.
    let (finished, _) = app.stripe.finish_processing(&intent_of(&slow_secret));
    assert_eq!(finished, StatusCode::OK);
    app.stripe.settle().await;
    assert_eq!(status(&app, slow).await, AppointmentStatus::Confirmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_a_reported_problem_is_not_completed_but_its_authorisation_is_captured() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    let (start, booked_at, id, intent) = held_just_under_six_days_ahead(&app, &expert).await;
    app.travel_to(start + Duration::minutes(30));
    app.post(
        &format!("/v1/appointments/{id}/problem"),
        Some(&app.client("bob")),
        &json!({"description": "The expert never joined."}),
    )
    .await
    .ok(StatusCode::OK);
    // Support decides later; meanwhile the money is secured before Stripe lets it lapse (a
    // refund stays possible, a lapsed authorisation cannot be taken again).
    app.travel_to(booked_at + Duration::days(6) + Duration::hours(19));
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!((report.captured, report.completed), (1, 0));
    assert_eq!(
        app.stripe.payment_intent(&intent).unwrap()["status"],
        "succeeded"
    );
    app.travel_to(booked_at + Duration::days(9));
    let report = reminders::run(&app.services).await.unwrap();
    assert_eq!((report.captured, report.completed), (0, 0));
    assert_eq!(status(&app, id).await, AppointmentStatus::Confirmed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_and_a_refund_whose_answers_were_lost_are_found_done_not_made_twice() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    // Held: the capture runs at Stripe but its answer is a 500.
    three_days_before(&app);
    let (held, held_intent) = paid_booking(&app, &expert, "bob", monday_at(9, 0)).await;
    app.travel_to(monday_at(10, 0));
    app.stripe.fail_after_next(
        Method::POST,
        &format!("/v1/payment_intents/{held_intent}/capture"),
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    app.post(
        &format!("/v1/appointments/{held}/complete"),
        Some(&app.expert("ada")),
        &json!({}),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(
        app.stripe
            .request_count("POST /v1/payment_intents/{id}/capture"),
        1,
        "read back as captured: not sent again"
    );
    assert_eq!(
        events_of(&app, "payment_intent.succeeded", &held_intent).len(),
        1
    );
    // Charged at booking a week ahead, cancelled by the expert: the refund is made at Stripe
    // but its answer is lost; it is found by its key, not made again.
    let (charged, charged_intent) =
        paid_booking(&app, &expert, "carol", monday_at(11, 0) + Duration::days(7)).await;
    app.stripe.fail_after_next(
        Method::POST,
        "/v1/refunds",
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    let cancelled = app
        .post(
            &format!("/v1/appointments/{charged}/cancel"),
            Some(&app.expert("ada")),
            &json!({"reason": "ill"}),
        )
        .await;
    assert_eq!(
        cancelled.ok(StatusCode::OK)["cancellation"]["refund"]["amount"],
        18_000
    );
    let refunds: Vec<Value> = app
        .stripe
        .refunds()
        .into_iter()
        .filter(|r| r["payment_intent"] == charged_intent)
        .collect();
    assert_eq!(refunds.len(), 1, "one refund, found by its request_key");
    assert_eq!(app.stripe.request_count("POST /v1/refunds"), 1);
}
