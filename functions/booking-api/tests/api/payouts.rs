use http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{availability_body, profile_body, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_makes_an_expert_bookable_only_after_stripe_enables_charges() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    app.send(
        Method::POST,
        "/v1/experts/me/payouts",
        Some(&ada),
        None,
        Vec::new(),
    )
    .await
    .problem(StatusCode::CONFLICT, "profile-required");
    app.put("/v1/experts/me", Some(&ada), &profile_body())
        .await
        .ok(StatusCode::OK);
    app.put(
        "/v1/experts/me/availability",
        Some(&ada),
        &availability_body(),
    )
    .await
    .ok(StatusCode::OK);
    let started = app
        .send(
            Method::POST,
            "/v1/experts/me/payouts",
            Some(&ada),
            None,
            Vec::new(),
        )
        .await;
    let started = started.ok(StatusCode::OK).clone();
    assert!(
        started["onboarding_url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(
        started["payouts"],
        json!({"charges_enabled": false, "payouts_enabled": false})
    );
    // Asking again reuses the account: Stripe saw one account creation.
    app.send(
        Method::POST,
        "/v1/experts/me/payouts",
        Some(&ada),
        None,
        Vec::new(),
    )
    .await
    .ok(StatusCode::OK);
    assert_eq!(app.stripe.request_count("POST /v1/accounts"), 1);
    assert_eq!(app.stripe.request_count("POST /v1/account_links"), 2);
    assert_eq!(
        app.get("/v1/experts", None).await.body["results"],
        json!([]),
        "not bookable yet"
    );

    app.onboard("ada").await;
    let own = app.get("/v1/experts/me", Some(&ada)).await;
    assert_eq!(
        own.ok(StatusCode::OK)["payouts"],
        json!({"charges_enabled": true, "payouts_enabled": true})
    );
    let listed = app.get("/v1/experts", None).await;
    assert_eq!(
        listed.ok(StatusCode::OK)["results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let public = app
        .get(
            &format!("/v1/experts/{}", own.body["id"].as_str().unwrap()),
            None,
        )
        .await;
    let text = public.body.to_string();
    assert!(!text.contains("acct_"), "no Stripe ids in public: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_with_a_forged_or_missing_signature_change_nothing() {
    let app = spawn_app().await;
    let before = app.table_items().await;
    let body =
        json!({"id": "evt_forged", "object": "event", "type": "account.updated"}).to_string();
    for signature in [None, Some("t=1,v1=deadbeef"), Some("garbage")] {
        let request =
            http::Request::post("/v1/webhooks/stripe").header("content-type", "application/json");
        let request = match signature {
            Some(s) => request.header("stripe-signature", s),
            None => request,
        };
        let response = tower::ServiceExt::oneshot(
            app.gateway.clone(),
            request.body(axum::body::Body::from(body.clone())).unwrap(),
        )
        .await
        .unwrap();
        let response = crate::helpers::read(response).await;
        response.problem(StatusCode::BAD_REQUEST, "invalid-signature");
    }
    assert_eq!(app.table_items().await, before, "nothing written");
    // A real event, correctly signed but 301 s old, is refused; signed now with an old and the
    // current secret (a rotation), it is accepted.
    app.put("/v1/experts/me", Some(&app.expert("ada")), &profile_body())
        .await
        .ok(StatusCode::OK);
    app.put(
        "/v1/experts/me/availability",
        Some(&app.expert("ada")),
        &availability_body(),
    )
    .await
    .ok(StatusCode::OK);
    app.onboard("ada").await;
    let event = app
        .stripe
        .events()
        .pop()
        .expect("account.updated")
        .to_string();
    let now = chrono::Utc::now().timestamp();
    let post = |signature: String, body: String| {
        let gateway = app.gateway.clone();
        async move {
            let request = http::Request::post("/v1/webhooks/stripe")
                .header("stripe-signature", signature)
                .body(axum::body::Body::from(body))
                .unwrap();
            crate::helpers::read(tower::ServiceExt::oneshot(gateway, request).await.unwrap()).await
        }
    };
    let secret = vec![app.webhook_secret.clone()];
    let settled = app.table_items().await;
    post(
        local_stack::stripe_server::sign(&event, &secret, now - 301),
        event.clone(),
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "invalid-signature");
    assert_eq!(
        app.table_items().await,
        settled,
        "a stale event writes nothing"
    );
    let rotation = vec!["whsec_retired".to_owned(), app.webhook_secret.clone()];
    let accepted = post(
        local_stack::stripe_server::sign(&event, &rotation, now),
        event.clone(),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    // Signed with the right secret but not an event: its own problem type, and nothing read.
    let not_an_event = json!({"hello": "world"}).to_string();
    post(
        local_stack::stripe_server::sign(&not_an_event, &secret, now),
        not_an_event,
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "malformed-event");
    // The same bytes with one character changed no longer verify.
    let applied = app.table_items().await;
    let tampered = event.replacen("account.updated", "account.updatee", 1);
    post(
        local_stack::stripe_server::sign(&event, &secret, now),
        tampered,
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "invalid-signature");
    assert_eq!(
        app.table_items().await,
        applied,
        "a tampered event writes nothing"
    );
}
