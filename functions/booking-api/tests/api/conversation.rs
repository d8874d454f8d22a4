//! Messages, reviews and ratings; and strangers shut out of every appointment route.

use chrono::Duration;
use http::{Method, StatusCode};
use marketplace::clock::Clock;
use serde_json::{Value, json};

use crate::booking::{book, bookable_expert, booking, monday_at, three_days_before};
use crate::helpers::{TestApp, TestResponse, User, spawn_app};

async fn post(app: &TestApp, user: &User, path: &str, body: Value) -> TestResponse {
    app.post(path, Some(user), &body).await
}

/// A paid booking for Monday `hour`:00 by `client`, seen from three days before.
pub async fn paid(app: &TestApp, expert: &str, client: &str, hour: u32) -> String {
    let held = book(
        app,
        &app.client(client),
        Some(&format!("{client}{hour}")),
        &booking(expert, monday_at(hour, 0), 60),
    )
    .await;
    let held = held.ok(StatusCode::CREATED).clone();
    assert_eq!(
        app.pay(
            held["payment_client_secret"].as_str().unwrap(),
            "pm_card_visa"
        )
        .await,
        200
    );
    held["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_two_parties_exchange_messages_in_order() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let id = paid(&app, &expert, "bob", 9).await;
    let path = format!("/v1/appointments/{id}/messages");
    for (user, body) in [
        (app.client("bob"), "Hello, question about VAT."),
        (app.expert("ada"), "Sure, bring invoices."),
        (app.client("bob"), "Will do."),
    ] {
        let sent = post(&app, &user, &path, json!({"body": body})).await;
        assert_eq!(sent.ok(StatusCode::CREATED)["body"], body);
    }
    let first = app
        .get(&format!("{path}?limit=2"), Some(&app.expert("ada")))
        .await;
    let first = first.ok(StatusCode::OK).clone();
    let authors: Vec<&str> = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author"].as_str().unwrap())
        .collect();
    assert_eq!(authors, ["client", "expert"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("{path}?limit=2&cursor={cursor}"),
            Some(&app.client("bob")),
        )
        .await;
    let rest = rest.ok(StatusCode::OK);
    assert_eq!(rest["messages"][0]["body"], "Will do.");
    assert_eq!(rest["next_cursor"], Value::Null);
    post(&app, &app.client("bob"), &path, json!({"body": "  "}))
        .await
        .problem(StatusCode::BAD_REQUEST, "validation-error");
    post(
        &app,
        &app.client("bob"),
        &path,
        json!({"body": "x".repeat(2_001)}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "validation-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_review_completed_sessions_once_and_the_rating_follows() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let first = paid(&app, &expert, "bob", 9).await;
    let second = paid(&app, &expert, "carol", 11).await;
    post(
        &app,
        &app.client("bob"),
        &format!("/v1/appointments/{first}/review"),
        json!({"rating": 5}),
    )
    .await
    .problem(StatusCode::CONFLICT, "not-reviewable");
    app.clock.advance(monday_at(12, 30) - app.clock.now());
    for id in [&first, &second] {
        post(
            &app,
            &app.expert("ada"),
            &format!("/v1/appointments/{id}/complete"),
            json!({}),
        )
        .await
        .ok(StatusCode::OK);
    }
    post(
        &app,
        &app.expert("ada"),
        &format!("/v1/appointments/{first}/review"),
        json!({"rating": 5}),
    )
    .await
    .problem(StatusCode::FORBIDDEN, "forbidden");
    post(
        &app,
        &app.client("bob"),
        &format!("/v1/appointments/{first}/review"),
        json!({"rating": 6}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "validation-error");
    post(
        &app,
        &app.client("bob"),
        &format!("/v1/appointments/{first}/review"),
        json!({"rating": 5, "comment": "Clear and kind."}),
    )
    .await
    .ok(StatusCode::CREATED);
    post(
        &app,
        &app.client("bob"),
        &format!("/v1/appointments/{first}/review"),
        json!({"rating": 1}),
    )
    .await
    .problem(StatusCode::CONFLICT, "not-reviewable");
    app.clock.advance(Duration::minutes(1));
    post(
        &app,
        &app.client("carol"),
        &format!("/v1/appointments/{second}/review"),
        json!({"rating": 4}),
    )
    .await
    .ok(StatusCode::CREATED);
    let profile = app.get(&format!("/v1/experts/{expert}"), None).await;
    assert_eq!(
        profile.ok(StatusCode::OK)["rating"],
        json!({"average": 4.5, "count": 2})
    );
    let reviews = app
        .get(&format!("/v1/experts/{expert}/reviews?limit=1"), None)
        .await;
    let reviews = reviews.ok(StatusCode::OK).clone();
    assert_eq!(reviews["reviews"][0]["rating"], 4, "newest first");
    let cursor = reviews["next_cursor"].as_str().unwrap();
    let older = app
        .get(
            &format!("/v1/experts/{expert}/reviews?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(
        older.ok(StatusCode::OK)["reviews"][0]["comment"],
        "Clear and kind."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_user_finds_no_appointment_on_any_route() {
    let app = spawn_app().await;
    let expert = bookable_expert(&app, 18_000, "usd").await;
    three_days_before(&app);
    let id = paid(&app, &expert, "bob", 9).await;
    let eve = app.expert("eve");
    app.put(
        "/v1/experts/me",
        Some(&eve),
        &crate::helpers::profile_body(),
    )
    .await
    .ok(StatusCode::OK);
    let routes: [(Method, String, Option<Value>); 8] = [
        (Method::GET, format!("/v1/appointments/{id}"), None),
        (
            Method::POST,
            format!("/v1/appointments/{id}/cancel"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/appointments/{id}/complete"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/appointments/{id}/reschedule"),
            Some(json!({"start": monday_at(11, 0).to_rfc3339()})),
        ),
        (Method::GET, format!("/v1/appointments/{id}/messages"), None),
        (
            Method::POST,
            format!("/v1/appointments/{id}/messages"),
            Some(json!({"body": "hi"})),
        ),
        (
            Method::POST,
            format!("/v1/appointments/{id}/review"),
            Some(json!({"rating": 1})),
        ),
        (
            Method::POST,
            format!("/v1/appointments/{id}/problem"),
            Some(json!({"description": "x"})),
        ),
    ];
    for stranger in [app.client("mallory"), eve.clone(), app.user("nobody", &[])] {
        for (method, path, body) in &routes {
            let response = match body {
                Some(body) => post(&app, &stranger, path, body.clone()).await,
                None => {
                    app.send(method.clone(), path, Some(&stranger), None, Vec::new())
                        .await
                }
            };
            response.problem(StatusCode::NOT_FOUND, "not-found");
        }
    }
    // And the appointment is untouched.
    let mine = app
        .get(&format!("/v1/appointments/{id}"), Some(&app.client("bob")))
        .await;
    assert_eq!(mine.ok(StatusCode::OK)["status"], "confirmed");
    let messages = app
        .get(
            &format!("/v1/appointments/{id}/messages"),
            Some(&app.client("bob")),
        )
        .await;
    assert_eq!(messages.ok(StatusCode::OK)["messages"], json!([]));
}
