//! End to end over HTTP: the dev server (API Gateway stand-in, Lambda adapter, booking API)
//! against moto, driven by a real HTTP client as a frontend would.

use end_to_end::Stack;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expert_publishes_a_profile_and_availability_that_a_visitor_reads() {
    let stack = Stack::start().await;
    let token = stack.token("alice", &["experts"]);

    let unauthenticated = stack.get("/v1/experts/me").send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let created = stack
        .put("/v1/experts/me")
        .bearer_auth(&token)
        .json(&json!({
            "display_name": "Alice",
            "bio": "Tax for freelancers.",
            "specializations": ["Tax", "Accounting"],
            "hourly_rate": {"amount": 12000, "currency": "eur"},
            "time_zone": "Europe/Berlin"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    let availability = stack
        .put("/v1/experts/me/availability")
        .bearer_auth(&token)
        .json(&json!({
            "rules": [{"day": "wed", "start": "09:00", "end": "17:00"}],
            "slot_durations": [30, 60]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(availability.status(), StatusCode::OK);

    let public = stack
        .get(&format!("/v1/experts/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::OK);
    let public: Value = public.json().await.unwrap();
    assert_eq!(public["display_name"], "Alice");
    assert_eq!(public["specializations"], json!(["tax", "accounting"]));
    assert_eq!(public["availability"]["rules"][0]["day"], "wed");
    assert_eq!(public["availability"]["slot_durations"], json!([30, 60]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_problem_document_over_http() {
    let stack = Stack::start().await;
    let token = stack.token("carol", &["experts"]);
    let response = stack
        .put("/v1/experts/me")
        .bearer_auth(&token)
        .json(&json!({
            "display_name": "Carol",
            "hourly_rate": {"amount": 100, "currency": "zzz"},
            "time_zone": "Europe/Berlin"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/validation-error");
    assert_eq!(problem["errors"][0]["pointer"], "/hourly_rate/currency");

    let unrouted = stack.get("/v1/nowhere").send().await.unwrap();
    assert_eq!(
        unrouted.status(),
        StatusCode::NOT_FOUND,
        "API Gateway answers unknown routes"
    );
}
