use http::StatusCode;
use serde_json::json;

use crate::helpers::{availability_body, profile_body, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_settings_round_trip_normalised() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    let profile = app.put("/v1/experts/me", Some(&ada), &profile_body()).await;
    let id = profile.ok(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let saved = app
        .put(
            "/v1/experts/me/availability",
            Some(&ada),
            &availability_body(),
        )
        .await;
    let saved = saved.ok(StatusCode::OK).clone();
    assert_eq!(
        saved["slot_durations"],
        json!([30, 60]),
        "durations come back sorted"
    );
    assert_eq!(
        saved["blocked"],
        json!([{"start": "2026-12-23T23:00:00Z", "end": "2026-12-27T00:00:00Z"}]),
        "blocked ranges come back in UTC"
    );
    assert_eq!(
        saved["rules"][2],
        json!({"day": "fri", "start": "20:00", "end": "24:00"})
    );

    let public = app.get(&format!("/v1/experts/{id}"), None).await;
    assert_eq!(public.ok(StatusCode::OK)["availability"], saved);

    // A second PUT replaces the settings entirely, defaults included.
    let replaced = app
        .put(
            "/v1/experts/me/availability",
            Some(&ada),
            &json!({"rules": [{"day": "tue", "start": "08:00", "end": "09:00"}]}),
        )
        .await;
    let replaced = replaced.ok(StatusCode::OK).clone();
    assert_eq!(replaced["blocked"], json!([]));
    assert_eq!(replaced["slot_durations"], json!([60]));
    assert_eq!(replaced["minimum_notice_minutes"], 120);
    assert_eq!(replaced["horizon_days"], 60);
    let public = app.get(&format!("/v1/experts/{id}"), None).await;
    assert_eq!(public.ok(StatusCode::OK)["availability"], replaced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_needs_a_profile_first() {
    let app = spawn_app().await;
    let response = app
        .put(
            "/v1/experts/me/availability",
            Some(&app.expert("new")),
            &availability_body(),
        )
        .await;
    response.problem(StatusCode::CONFLICT, "profile-required");
}
