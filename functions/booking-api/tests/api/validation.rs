//! Every validation rule through the real handler: status, problem type, pointer, and nothing
//! written.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, availability_body, profile_body, spawn_app};

type Mutation = fn(&mut Value);

const PROFILE_CASES: &[(&str, Mutation, &str)] = &[
    (
        "unknown currency",
        |b| b["hourly_rate"]["currency"] = json!("doubloons"),
        "/hourly_rate/currency",
    ),
    (
        "zero rate",
        |b| b["hourly_rate"]["amount"] = json!(0),
        "/hourly_rate/amount",
    ),
    (
        "negative rate",
        |b| b["hourly_rate"]["amount"] = json!(-500),
        "/hourly_rate/amount",
    ),
    (
        "absurd rate",
        |b| b["hourly_rate"]["amount"] = json!(9_000_000_000i64),
        "/hourly_rate/amount",
    ),
    (
        "bad time zone",
        |b| b["time_zone"] = json!("Europe/Atlantis"),
        "/time_zone",
    ),
    (
        "empty display name",
        |b| b["display_name"] = json!("   "),
        "/display_name",
    ),
    (
        "oversize display name",
        |b| b["display_name"] = json!("x".repeat(101)),
        "/display_name",
    ),
    (
        "oversize bio",
        |b| b["bio"] = json!("x".repeat(5_001)),
        "/bio",
    ),
    (
        "bad specialization",
        |b| b["specializations"] = json!(["c#"]),
        "/specializations/0",
    ),
    (
        "unknown field",
        |b| b["website"] = json!("https://example.com"),
        "",
    ),
    (
        "wrong type",
        |b| b["hourly_rate"]["amount"] = json!("100"),
        "/hourly_rate/amount",
    ),
    (
        "missing field",
        |b| {
            b.as_object_mut().unwrap().remove("time_zone");
        },
        "",
    ),
];

const AVAILABILITY_CASES: &[(&str, Mutation, &str)] = &[
    (
        "end before start",
        |b| b["rules"][0] = json!({"day": "mon", "start": "12:00", "end": "09:00"}),
        "/rules/0/end",
    ),
    (
        "end equals start",
        |b| b["rules"][0]["end"] = json!("09:00"),
        "/rules/0/end",
    ),
    (
        "overlapping rules",
        |b| b["rules"][1]["start"] = json!("11:00"),
        "/rules/1",
    ),
    (
        "bad day",
        |b| b["rules"][0]["day"] = json!("monday"),
        "/rules/0/day",
    ),
    (
        "bad time",
        |b| b["rules"][0]["start"] = json!("9am"),
        "/rules/0/start",
    ),
    (
        "negative buffer before",
        |b| b["buffer_before_minutes"] = json!(-5),
        "/buffer_before_minutes",
    ),
    (
        "negative buffer after",
        |b| b["buffer_after_minutes"] = json!(-1),
        "/buffer_after_minutes",
    ),
    (
        "negative notice",
        |b| b["minimum_notice_minutes"] = json!(-10),
        "/minimum_notice_minutes",
    ),
    (
        "zero horizon",
        |b| b["horizon_days"] = json!(0),
        "/horizon_days",
    ),
    (
        "no durations",
        |b| b["slot_durations"] = json!([]),
        "/slot_durations",
    ),
    (
        "odd duration",
        |b| b["slot_durations"] = json!([42]),
        "/slot_durations/0",
    ),
    (
        "blocked end before start",
        |b| b["blocked"][0]["end"] = json!("2026-12-01T00:00:00Z"),
        "/blocked/0/end",
    ),
    (
        "blocked not an instant",
        |b| b["blocked"][0]["start"] = json!("Christmas"),
        "/blocked/0/start",
    ),
    (
        "too many rules",
        |b| {
            b["rules"] = json!(
                (0..71)
                    .map(|_| json!({"day": "mon", "start": "09:00", "end": "10:00"}))
                    .collect::<Vec<_>>()
            )
        },
        "/rules",
    ),
    ("unknown field", |b| b["timezone"] = json!("UTC"), ""),
    (
        "fractional minutes",
        |b| b["buffer_after_minutes"] = json!(2.5),
        "/buffer_after_minutes",
    ),
    (
        "partial window longer than full",
        |b| b["cancellation_policy"] = json!({"full_refund_hours": 2, "partial_refund_hours": 24, "partial_refund_percent": 50}),
        "/cancellation_policy/partial_refund_hours",
    ),
    (
        "refund over 100%",
        |b| b["cancellation_policy"] = json!({"full_refund_hours": 24, "partial_refund_hours": 2, "partial_refund_percent": 101}),
        "/cancellation_policy/partial_refund_percent",
    ),
];

const ACCOUNT_CASES: &[(&str, Mutation, &str)] = &[
    (
        "empty display name",
        |b| b["display_name"] = json!(""),
        "/display_name",
    ),
    (
        "bad time zone",
        |b| b["time_zone"] = json!("GMT+2"),
        "/time_zone",
    ),
    ("bad phone", |b| b["phone"] = json!("0800 123"), "/phone"),
    (
        "email off",
        |b| b["notifications"]["email"] = json!(false),
        "/notifications/email",
    ),
    (
        "sms without phone",
        |b| {
            b["phone"] = Value::Null;
            b["notifications"]["sms"] = json!(true);
        },
        "/notifications/sms",
    ),
    ("unknown field", |b| b["role"] = json!("admin"), ""),
];

fn account_body() -> Value {
    json!({"display_name": "Bob", "time_zone": "UTC", "phone": "+14155550123", "notifications": {"sms": false}})
}

fn assert_refused(response: &crate::helpers::TestResponse, case: &str, pointer: &str) {
    let pointers = response.problem(StatusCode::BAD_REQUEST, "validation-error");
    assert_eq!(pointers.len(), 1, "case {case}: {}", response.body);
    assert!(
        pointers[0].starts_with(pointer),
        "case {case}: pointer {} is not under {pointer}",
        pointers[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_profiles_are_refused_and_nothing_is_created_or_changed() {
    let app = spawn_app().await;
    for (i, (case, mutate, pointer)) in PROFILE_CASES.iter().enumerate() {
        let newcomer = app.expert(&format!("newcomer-{i}"));
        let mut body = profile_body();
        mutate(&mut body);
        let response = app.put("/v1/experts/me", Some(&newcomer), &body).await;
        assert_refused(&response, case, pointer);
        app.get("/v1/experts/me", Some(&newcomer))
            .await
            .problem(StatusCode::NOT_FOUND, "not-found");
    }
    let ada = app.expert("ada");
    let original = app.put("/v1/experts/me", Some(&ada), &profile_body()).await;
    let original = original.ok(StatusCode::OK).clone();
    for (case, mutate, pointer) in PROFILE_CASES {
        let mut body = profile_body();
        mutate(&mut body);
        assert_refused(
            &app.put("/v1/experts/me", Some(&ada), &body).await,
            case,
            pointer,
        );
    }
    let after = app.get("/v1/experts/me", Some(&ada)).await;
    let after = after.ok(StatusCode::OK);
    for field in [
        "display_name",
        "bio",
        "specializations",
        "hourly_rate",
        "time_zone",
        "updated_at",
    ] {
        assert_eq!(
            after[field], original[field],
            "{field} changed after refused updates"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_availability_is_refused_and_the_saved_settings_stay() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    app.put("/v1/experts/me", Some(&ada), &profile_body())
        .await
        .ok(StatusCode::OK);
    let saved = app
        .put(
            "/v1/experts/me/availability",
            Some(&ada),
            &availability_body(),
        )
        .await;
    let saved = saved.ok(StatusCode::OK).clone();
    for (case, mutate, pointer) in AVAILABILITY_CASES {
        let mut body = availability_body();
        mutate(&mut body);
        let response = app
            .put("/v1/experts/me/availability", Some(&ada), &body)
            .await;
        assert_refused(&response, case, pointer);
    }
    let after = app.get("/v1/experts/me", Some(&ada)).await;
    assert_eq!(after.ok(StatusCode::OK)["availability"], saved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_account_settings_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let bob = app.client("bob");
    for (case, mutate, pointer) in ACCOUNT_CASES {
        let mut body = account_body();
        mutate(&mut body);
        assert_refused(&app.put("/v1/me", Some(&bob), &body).await, case, pointer);
    }
    let me = app.get("/v1/me", Some(&bob)).await;
    let me = me.ok(StatusCode::OK);
    assert_eq!(me["display_name"], Value::Null);
    assert_eq!(me["created_at"], Value::Null, "no account item was written");
}

async fn put_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> crate::helpers::TestResponse {
    let ada = app.expert("ada");
    app.send(Method::PUT, path, Some(&ada), content_type, body.to_vec())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_bodies_get_their_own_problem_types() {
    let app = spawn_app().await;
    for path in ["/v1/experts/me", "/v1/experts/me/availability", "/v1/me"] {
        let json = Some("application/json");
        put_raw(&app, path, json, b"{\"display_name\": ")
            .await
            .problem(StatusCode::BAD_REQUEST, "malformed-json");
        put_raw(&app, path, json, b"")
            .await
            .problem(StatusCode::BAD_REQUEST, "malformed-json");
        put_raw(&app, path, json, b"[1, 2")
            .await
            .problem(StatusCode::BAD_REQUEST, "malformed-json");
        put_raw(&app, path, Some("text/plain"), b"{}")
            .await
            .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
        put_raw(&app, path, None, b"{}")
            .await
            .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
        let huge = format!(
            "{{\"bio\": \"{}\"}}",
            "x".repeat(booking_api::MAX_BODY_BYTES)
        );
        put_raw(&app, path, json, huge.as_bytes())
            .await
            .problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    }
    app.get("/v1/experts/me", Some(&app.expert("ada")))
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_named_in_the_problem() {
    let app = spawn_app().await;
    let mut body = profile_body();
    body["websitee"] = json!("x");
    let response = app
        .put("/v1/experts/me", Some(&app.expert("ada")), &body)
        .await;
    response.problem(StatusCode::BAD_REQUEST, "validation-error");
    let detail = response.body["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("unknown field `websitee`"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_hide_or_reorder_text_are_refused_and_others_are_normalised() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    for name in [
        "Ada\u{202E}nimda",
        "\u{2066}Ada\u{2069}",
        "\u{200B}\u{200C}",
        "\u{301}Ada",
    ] {
        let mut body = crate::helpers::profile_body();
        body["display_name"] = json!(name);
        let pointers = app
            .put("/v1/experts/me", Some(&ada), &body)
            .await
            .problem(StatusCode::BAD_REQUEST, "validation-error");
        assert_eq!(pointers, ["/display_name"], "{name:?}");
        app.put(
            "/v1/me",
            Some(&ada),
            &json!({"display_name": name, "time_zone": "UTC"}),
        )
        .await
        .problem(StatusCode::BAD_REQUEST, "validation-error");
    }
    // e + combining acute is stored as the one precomposed letter.
    let mut body = crate::helpers::profile_body();
    body["display_name"] = json!("Ame\u{301}lie");
    let saved = app.put("/v1/experts/me", Some(&ada), &body).await;
    assert_eq!(saved.ok(StatusCode::OK)["display_name"], "Am\u{e9}lie");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reviews_of_an_expert_that_does_not_exist_are_a_404() {
    let app = spawn_app().await;
    app.get("/v1/experts/exp_01JD8Y3V9K2Q4R5S6T7V8W9X0Y/reviews", None)
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    app.get("/v1/experts/exp_%FF/reviews", None)
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    let ada = app.expert("ada");
    let profile = app
        .put(
            "/v1/experts/me",
            Some(&ada),
            &crate::helpers::profile_body(),
        )
        .await;
    let id = profile.ok(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reviews = app.get(&format!("/v1/experts/{id}/reviews"), None).await;
    assert_eq!(reviews.ok(StatusCode::OK)["reviews"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_before_a_handler_runs_is_a_problem_document() {
    use tower::ServiceExt;
    let app = spawn_app().await;
    // A path segment that is not UTF-8 names nothing.
    for path in [
        "/v1/experts/exp_%FF",
        "/v1/experts/exp_%FF/slots",
        "/v1/oauth/%C3%28/callback",
    ] {
        app.get(path, None)
            .await
            .problem(StatusCode::NOT_FOUND, "not-found");
    }
    // Bodies above the limits of the push and webhook routes.
    let big = vec![b'x'; 70 * 1024];
    app.send(
        Method::POST,
        "/v1/webhooks/microsoft",
        None,
        Some("application/json"),
        big,
    )
    .await
    .problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let bigger = vec![b'x'; 300 * 1024];
    app.send(
        Method::POST,
        "/v1/webhooks/stripe",
        None,
        Some("application/json"),
        bigger,
    )
    .await
    .problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    // Graph's handshake echoes its token as text that no browser may sniff into markup.
    let request = http::Request::post("/v1/webhooks/microsoft?validationToken=%3Cscript%3E")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.gateway.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
}
