use chrono::{Datelike, Duration, TimeZone, Utc, Weekday};
use http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn expert(
    app: &TestApp,
    sub: &str,
    specializations: &[&str],
    rate: i64,
    currency: &str,
    days: &[&str],
) -> String {
    let user = app.expert(sub);
    let profile = app
        .put(
            "/v1/experts/me",
            Some(&user),
            &json!({
                "display_name": sub,
                "specializations": specializations,
                "hourly_rate": {"amount": rate, "currency": currency},
                "time_zone": "Europe/London"
            }),
        )
        .await;
    let id = profile.ok(StatusCode::OK)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    set_days(app, sub, days).await;
    app.onboard(sub).await;
    id
}

async fn set_days(app: &TestApp, sub: &str, days: &[&str]) {
    let rules: Vec<Value> = days
        .iter()
        .map(|d| json!({"day": d, "start": "09:00", "end": "17:00"}))
        .collect();
    app.put(
        "/v1/experts/me/availability",
        Some(&app.expert(sub)),
        &json!({"rules": rules, "minimum_notice_minutes": 0, "horizon_days": 365}),
    )
    .await
    .ok(StatusCode::OK);
}

async fn names(app: &TestApp, query: &str) -> Vec<String> {
    let response = app.get(&format!("/v1/experts?{query}"), None).await;
    response.ok(StatusCode::OK)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["display_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_by_specialization_currency_and_rate_in_rate_order() {
    let app = spawn_app().await;
    expert(&app, "alice", &["Tax"], 10_000, "usd", &["mon"]).await;
    expert(&app, "bob", &["tax", "Accounting"], 20_000, "usd", &["tue"]).await;
    expert(&app, "carol", &["tax"], 15_000, "eur", &["wed"]).await;
    expert(&app, "dave", &["tax"], 5_000, "usd", &[]).await;

    assert_eq!(
        names(&app, "specialization=TAX").await,
        ["carol", "alice", "bob"],
        "eur sorts before usd; dave has no hours"
    );
    assert_eq!(names(&app, "").await, ["carol", "alice", "bob"]);
    assert_eq!(
        names(&app, "specialization=tax&currency=usd").await,
        ["alice", "bob"]
    );
    assert_eq!(
        names(&app, "specialization=tax&currency=usd&min_rate=15000").await,
        ["bob"]
    );
    assert_eq!(names(&app, "currency=usd&max_rate=15000").await, ["alice"]);
    assert_eq!(
        names(&app, "currency=usd&min_rate=10000&max_rate=20000").await,
        ["alice", "bob"]
    );
    assert_eq!(names(&app, "specialization=accounting").await, ["bob"]);
    assert_eq!(
        names(&app, "specialization=law").await,
        Vec::<String>::new()
    );

    // Hours make dave bookable; new specializations move bob; no hours take alice out.
    set_days(&app, "dave", &["thu"]).await;
    app.put(
        "/v1/experts/me",
        Some(&app.expert("bob")),
        &json!({"display_name": "bob", "specializations": ["law"],
                "hourly_rate": {"amount": 20000, "currency": "usd"}, "time_zone": "Europe/London"}),
    )
    .await
    .ok(StatusCode::OK);
    set_days(&app, "alice", &[]).await;
    assert_eq!(names(&app, "specialization=tax").await, ["carol", "dave"]);
    assert_eq!(
        names(&app, "specialization=accounting").await,
        Vec::<String>::new()
    );
    assert_eq!(names(&app, "specialization=law").await, ["bob"]);
    assert_eq!(names(&app, "").await, ["carol", "dave", "bob"]);

    let result = &app.get("/v1/experts?specialization=law", None).await.body["results"][0];
    assert_eq!(
        result["hourly_rate"],
        json!({"amount": 20000, "currency": "usd"})
    );
    assert_eq!(result["specializations"], json!(["law"]));
    assert!(result.get("next_free_slot").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_through_every_expert_once() {
    let app = spawn_app().await;
    for i in 0..5 {
        expert(
            &app,
            &format!("e{i}"),
            &["tax"],
            10_000 + i * 100,
            "usd",
            &["mon"],
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("/v1/experts?specialization=tax&limit=2&cursor={c}"),
            None => "/v1/experts?specialization=tax&limit=2".to_owned(),
        };
        let page = app.get(&query, None).await;
        let page = page.ok(StatusCode::OK).clone();
        pages += 1;
        for result in page["results"].as_array().unwrap() {
            seen.push(result["display_name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, ["e0", "e1", "e2", "e3", "e4"]);
    assert_eq!(pages, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_availability_window_keeps_experts_free_in_it_with_their_next_slot() {
    let app = spawn_app().await;
    expert(&app, "monday", &["tax"], 10_000, "usd", &["mon"]).await;
    expert(&app, "tuesday", &["tax"], 12_000, "usd", &["tue"]).await;
    let mut day = (Utc::now() + Duration::days(7)).date_naive();
    while day.weekday() != Weekday::Mon {
        day = day.succ_opt().unwrap();
    }
    let from = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
    let query = format!(
        "/v1/experts?specialization=tax&available_from={}&available_to={}&tz=Asia/Tokyo",
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        (from + Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let response = app.get(&query, None).await;
    let body = response.ok(StatusCode::OK);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{body}");
    assert_eq!(results[0]["display_name"], "monday");
    let nine_in_london = chrono_tz::Europe::London
        .from_local_datetime(&day.and_hms_opt(9, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        results[0]["next_free_slot"]["start"],
        nine_in_london.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert!(
        results[0]["next_free_slot"]["local_start"]
            .as_str()
            .unwrap()
            .ends_with("+09:00")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_search_parameters_are_refused() {
    let app = spawn_app().await;
    for (query, pointer) in [
        ("min_rate=100", "/currency"),
        ("specialization=c%23", "/specialization"),
        ("limit=500", "/limit"),
        ("cursor=garbage", "/cursor"),
        ("sort=rate", ""),
    ] {
        let response = app.get(&format!("/v1/experts?{query}"), None).await;
        assert_eq!(
            response.problem(StatusCode::BAD_REQUEST, "validation-error"),
            [pointer],
            "{query}"
        );
    }
}
