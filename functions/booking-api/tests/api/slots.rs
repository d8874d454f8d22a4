use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, TimeZone, Utc, Weekday};
use http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{DynamoProbe, TestApp, profile_body, spawn_app, spawn_app_counting};

/// A Monday at least a week ahead, so notice and horizon never get in the way.
fn next_monday() -> NaiveDate {
    let mut day = (Utc::now() + Duration::days(7)).date_naive();
    while day.weekday() != Weekday::Mon {
        day = day.succ_opt().unwrap();
    }
    day
}

fn london(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    chrono_tz::Europe::London
        .from_local_datetime(&day.and_hms_opt(hour, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An expert in London, Mondays 09:00-12:00, 30- and 60-minute slots.
async fn london_expert(app: &TestApp, extra: Value) -> String {
    let ada = app.expert("ada");
    let profile = app.put("/v1/experts/me", Some(&ada), &profile_body()).await;
    let id = profile.ok(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut settings = json!({
        "rules": [{"day": "mon", "start": "09:00", "end": "12:00"}],
        "minimum_notice_minutes": 0,
        "horizon_days": 365,
        "slot_durations": [30, 60]
    });
    for (key, value) in extra.as_object().unwrap() {
        settings[key] = value.clone();
    }
    app.put("/v1/experts/me/availability", Some(&ada), &settings)
        .await
        .ok(StatusCode::OK);
    id
}

fn starts(body: &Value) -> Vec<String> {
    body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

fn day_query(id: &str, day: NaiveDate, extra: &str) -> String {
    let from = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
    format!(
        "/v1/experts/{id}/slots?from={}&to={}&duration=60&step=60{extra}",
        rfc3339(from),
        rfc3339(from + Duration::days(1))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_follow_the_rules_and_show_the_viewers_clock() {
    let app = spawn_app().await;
    let id = london_expert(&app, json!({})).await;
    let monday = next_monday();
    let response = app
        .get(&day_query(&id, monday, "&tz=America/New_York"), None)
        .await;
    let body = response.ok(StatusCode::OK);
    let expected: Vec<String> = [9, 10, 11]
        .iter()
        .map(|h| rfc3339(london(monday, *h)))
        .collect();
    assert_eq!(starts(body), expected);
    assert_eq!(body["time_zone"], "America/New_York");
    let first_local =
        chrono::DateTime::parse_from_rfc3339(body["slots"][0]["local_start"].as_str().unwrap())
            .unwrap();
    assert_eq!(first_local.to_utc(), london(monday, 9));
    assert_eq!(
        first_local.offset().local_minus_utc(),
        chrono_tz::America::New_York
            .offset_from_utc_datetime(&london(monday, 9).naive_utc())
            .fix()
            .local_minus_utc()
    );
    assert_eq!(body["slots"][0]["end"], rfc3339(london(monday, 10)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_reflect_settings_changes_and_blocked_ranges() {
    let app = spawn_app().await;
    let monday = next_monday();
    let id = london_expert(
        &app,
        json!({"blocked": [{"start": rfc3339(london(monday, 10)), "end": rfc3339(london(monday, 11))}]}),
    )
    .await;
    let body = app.get(&day_query(&id, monday, ""), None).await;
    assert_eq!(
        starts(body.ok(StatusCode::OK)),
        [rfc3339(london(monday, 9)), rfc3339(london(monday, 11))]
    );
    // The expert moves Monday to the afternoon: the morning disappears at once.
    app.put(
        "/v1/experts/me/availability",
        Some(&app.expert("ada")),
        &json!({"rules": [{"day": "mon", "start": "14:00", "end": "16:00"}],
                "minimum_notice_minutes": 0, "slot_durations": [60]}),
    )
    .await
    .ok(StatusCode::OK);
    let body = app.get(&day_query(&id, monday, ""), None).await;
    assert_eq!(
        starts(body.ok(StatusCode::OK)),
        [rfc3339(london(monday, 14)), rfc3339(london(monday, 15))]
    );
}

/// Busy items as the booking and calendar-sync code will write them (keys.rs).
async fn put_busy(
    app: &TestApp,
    id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    expires_at: Option<i64>,
) {
    let mut request = app
        .store
        .client()
        .put_item()
        .table_name(app.store.table())
        .item("pk", AttributeValue::S(format!("EXPERT#{id}")))
        .item(
            "sk",
            AttributeValue::S(format!(
                "{}#test#{}",
                marketplace::store::dynamo::keys::busy_ending_at(end),
                start.timestamp()
            )),
        )
        .item("busy_start", AttributeValue::S(rfc3339(start)))
        .item("busy_end", AttributeValue::S(rfc3339(end)));
    if let Some(at) = expires_at {
        request = request.item("expires_at", AttributeValue::N(at.to_string()));
    }
    request.send().await.expect("put busy item");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_time_and_live_holds_take_slots_and_expired_holds_do_not() {
    let app = spawn_app().await;
    let monday = next_monday();
    let id = london_expert(&app, json!({"buffer_after_minutes": 15})).await;
    // A booking 10:30-11:00 with the 15-minute after-buffer: 09:00 still fits (ends 10:00 +
    // 15 <= 10:30), 10:00 does not, 11:00 does.
    put_busy(
        &app,
        &id,
        london(monday, 10) + Duration::minutes(30),
        london(monday, 11),
        None,
    )
    .await;
    // An expired hold on 11:00-12:00 no longer counts, whatever TTL did with it.
    put_busy(
        &app,
        &id,
        london(monday, 11),
        london(monday, 12),
        Some(Utc::now().timestamp() - 60),
    )
    .await;
    let body = app.get(&day_query(&id, monday, ""), None).await;
    assert_eq!(
        starts(body.ok(StatusCode::OK)),
        [rfc3339(london(monday, 9)), rfc3339(london(monday, 11))]
    );
    // A live hold on 09:00-10:00 does.
    put_busy(
        &app,
        &id,
        london(monday, 9),
        london(monday, 10),
        Some(Utc::now().timestamp() + 600),
    )
    .await;
    let body = app.get(&day_query(&id, monday, ""), None).await;
    assert_eq!(
        starts(body.ok(StatusCode::OK)),
        [rfc3339(london(monday, 11))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_search_is_one_dynamodb_request() {
    let counter = DynamoProbe::default();
    let app = spawn_app_counting(counter.clone()).await;
    let monday = next_monday();
    let id = london_expert(&app, json!({})).await;
    put_busy(&app, &id, london(monday, 9), london(monday, 10), None).await;
    counter.take();
    let body = app.get(&day_query(&id, monday, ""), None).await;
    assert_eq!(starts(body.ok(StatusCode::OK)).len(), 2);
    assert_eq!(
        counter.take(),
        ["Query"],
        "profile, settings and busy time come from one Query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_slot_queries_are_refused_with_the_parameter_named() {
    let app = spawn_app().await;
    let id = london_expert(&app, json!({"horizon_days": 90})).await;
    let from = rfc3339(Utc::now() + Duration::days(1));
    let cases = [
        (format!("from={from}&duration=45"), "/duration"),
        (format!("from={from}&tz=Atlantis/Capital"), "/tz"),
        (format!("from={from}&to={from}"), "/to"),
        (
            format!(
                "from={from}&to={}",
                rfc3339(Utc::now() + Duration::days(70))
            ),
            "/to",
        ),
        ("from=yesterday".to_owned(), "/from"),
        (format!("from={from}&step=7"), "/step"),
        (format!("from={from}&color=blue"), ""),
    ];
    for (query, pointer) in cases {
        let response = app
            .get(&format!("/v1/experts/{id}/slots?{query}"), None)
            .await;
        let pointers = response.problem(StatusCode::BAD_REQUEST, "validation-error");
        assert_eq!(pointers, [pointer], "{query}");
    }
    app.get("/v1/experts/exp_01JD8Y3V9K2Q4R5S6T7V8W9X0Y/slots", None)
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
}
