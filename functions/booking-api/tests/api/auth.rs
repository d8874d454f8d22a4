use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use crate::helpers::{availability_body, profile_body, read, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_behind_the_authorizer_need_a_valid_token() {
    let app = spawn_app().await;
    for path in ["/v1/me", "/v1/experts/me"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(response.body, json!({"message": "Unauthorized"}));
    }
    let forged = local_stack::dev_jwt::mint(
        "not-the-secret",
        "mallory",
        None,
        &["experts".to_owned()],
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let request = Request::get("/v1/me")
        .header("authorization", format!("Bearer {forged}"))
        .body(Body::empty())
        .unwrap();
    let response = read(app.gateway.clone().oneshot(request).await.unwrap()).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_itself_refuses_requests_without_claims() {
    // Defence in depth: were a route deployed without the authorizer, the handler still
    // answers 401 rather than acting for nobody.
    let app = spawn_app().await;
    let request = Request::get("/v1/me").body(Body::empty()).unwrap();
    let response = read(app.handler.clone().oneshot(request).await.unwrap()).await;
    response.problem(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cannot_use_expert_routes() {
    let app = spawn_app().await;
    let bob = app.client("bob");
    app.put("/v1/experts/me", Some(&bob), &profile_body())
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    app.put(
        "/v1/experts/me/availability",
        Some(&bob),
        &availability_body(),
    )
    .await
    .problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/experts/me", Some(&bob))
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    // Group checks come before the body is read: a broken body from a client is still 403.
    app.send(
        http::Method::PUT,
        "/v1/experts/me",
        Some(&bob),
        Some("application/json"),
        b"{".to_vec(),
    )
    .await
    .problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.store
            .expert_id_of(&marketplace::ids::UserId::parse("bob").unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expert_only_ever_changes_their_own_profile() {
    let app = spawn_app().await;
    let (ada, eve) = (app.expert("ada"), app.expert("eve"));
    let ada_profile = app.put("/v1/experts/me", Some(&ada), &profile_body()).await;
    let ada_id = ada_profile.ok(StatusCode::OK)["id"].clone();
    let mut eves = profile_body();
    eves["display_name"] = json!("Eve");
    let eve_profile = app.put("/v1/experts/me", Some(&eve), &eves).await;
    assert_ne!(eve_profile.ok(StatusCode::OK)["id"], ada_id);
    app.put(
        "/v1/experts/me/availability",
        Some(&eve),
        &availability_body(),
    )
    .await
    .ok(StatusCode::OK);
    let ada_public = app
        .get(&format!("/v1/experts/{}", ada_id.as_str().unwrap()), None)
        .await;
    let ada_public = ada_public.ok(StatusCode::OK);
    assert_eq!(ada_public["display_name"], "Ada Byron");
    assert_eq!(ada_public["availability"], json!(null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_name_holds_another_grants_nothing() {
    let app = spawn_app().await;
    let path = "/v1/admin/earnings?from=2026-12-01T00:00:00Z&to=2026-12-31T00:00:00Z";
    // (Cognito group names hold no white space, which is what keeps the HTTP API's
    // space-separated flattening unambiguous.)
    for groups in [&["x,admins"][..], &["admins,"][..], &["[admins]"][..]] {
        app.get(path, Some(&app.user("eve", groups)))
            .await
            .problem(StatusCode::FORBIDDEN, "forbidden");
    }
    app.get(path, Some(&app.user("root", &["admins"])))
        .await
        .ok(StatusCode::OK);
}
