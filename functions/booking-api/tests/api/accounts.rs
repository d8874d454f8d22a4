use http::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_sees_default_settings() {
    let app = spawn_app().await;
    let bob = app.client("bob");
    let me = app.get("/v1/me", Some(&bob)).await;
    let me = me.ok(StatusCode::OK);
    assert_eq!(me["user_id"], "bob");
    assert_eq!(me["email"], "bob@example.com");
    assert_eq!(me["display_name"], json!(null));
    assert_eq!(me["time_zone"], "UTC");
    assert_eq!(me["notifications"], json!({"email": true, "sms": false}));
    assert_eq!(me["groups"], json!(["clients"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_settings_round_trip_and_phone_can_be_removed() {
    let app = spawn_app().await;
    let bob = app.client("bob");
    let body = json!({
        "display_name": "Bob",
        "time_zone": "America/New_York",
        "phone": "+14155550123",
        "notifications": {"email": true, "sms": true}
    });
    let saved = app.put("/v1/me", Some(&bob), &body).await;
    assert_eq!(saved.ok(StatusCode::OK)["phone"], "+14155550123");
    let me = app.get("/v1/me", Some(&bob)).await;
    let me = me.ok(StatusCode::OK).clone();
    assert_eq!(me["display_name"], "Bob");
    assert_eq!(me["time_zone"], "America/New_York");
    assert_eq!(me["notifications"], json!({"email": true, "sms": true}));
    assert!(me["created_at"].is_string());

    let cleared = app
        .put(
            "/v1/me",
            Some(&bob),
            &json!({"display_name": "Bob", "time_zone": "UTC"}),
        )
        .await;
    let cleared = cleared.ok(StatusCode::OK);
    assert_eq!(cleared["phone"], json!(null));
    assert_eq!(cleared["notifications"]["sms"], false);
    assert_eq!(cleared["created_at"], me["created_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experts_account_links_the_profile_and_keeps_it_on_save() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    let profile = app
        .put(
            "/v1/experts/me",
            Some(&ada),
            &crate::helpers::profile_body(),
        )
        .await;
    let id = profile.ok(StatusCode::OK)["id"].clone();
    let saved = app
        .put(
            "/v1/me",
            Some(&ada),
            &json!({"display_name": "Ada", "time_zone": "Europe/London"}),
        )
        .await;
    assert_eq!(saved.ok(StatusCode::OK)["expert_id"], id);
    let own = app.get("/v1/experts/me", Some(&ada)).await;
    assert_eq!(own.ok(StatusCode::OK)["id"], id);
}
