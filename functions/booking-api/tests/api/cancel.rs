//! Cancellation windows: each produces exactly the Stripe calls and amounts of the policy.

use chrono::Duration;
use http::{Method, StatusCode};
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

async fn cancel(app: &TestApp, user: &User, id: &str) -> TestResponse {
    let request = http::Request::builder()
        .method(Method::POST)
        .uri(format!("/v1/appointments/{id}/cancel"))
        .header("content-type", "application/json");
    app.send_request(
        request,
        Some(user),
        json!({"reason": "plans changed"}).to_string().into_bytes(),
    )
    .await
}

struct Outcome {
    intent: Value,
    refunds: Vec<Value>,
    body: Value,
}

/// Books Monday 09:00 (60 min, 180.00 usd), pays as `payment` says, moves the clock to
/// `hours_before` the start, and lets `by` cancel.
async fn scenario(payment: Payment, by: &str, hours_before: i64) -> Outcome {
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
    for (payment, by, hours, status, received, fee, refund, refunds) in cases {
        let case = format!("{payment:?} cancelled by the {by} {hours} h before");
        let outcome = scenario(payment, by, hours).await;
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
            assert_eq!(made["amount"], refund, "{case}");
            assert_eq!(
                made["metadata"]["test_refund_application_fee"], "true",
                "{case}"
            );
            assert_eq!(made["metadata"]["test_reverse_transfer"], "true", "{case}");
        }
    }
}
