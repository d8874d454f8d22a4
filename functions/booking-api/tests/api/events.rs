//! Domain events: written with the change they announce, relayed to the bus, delivered to the
//! notifications queue by the template's rule.

use http::StatusCode;
use serde_json::{Value, json};

use crate::booking::{book, bookable_expert, booking, monday_at, three_days_before};
use crate::helpers::{TestApp, spawn_app};

/// Everything the notifications queue holds now, as (detail-type, detail).
async fn drain(app: &TestApp) -> Vec<(String, Value)> {
    let sdk = marketplace::config::aws_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut received = Vec::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(&app.notifications_queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return received;
        }
        for message in messages {
            let envelope: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            received.push((
                envelope["detail-type"].as_str().unwrap().to_owned(),
                envelope["detail"].clone(),
            ));
            sqs.delete_message()
                .queue_url(&app.notifications_queue)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
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
