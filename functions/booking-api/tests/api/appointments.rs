//! Dashboards and single appointments: the two parties only, in start order, on their clocks.

use http::StatusCode;
use serde_json::Value;

use crate::booking::{book, bookable_expert, booking, monday_at, three_days_before};
use crate::helpers::{TestApp, spawn_app};

fn ids(page: &Value) -> Vec<String> {
    page["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Three bookings with one expert: bob at 11:00 and 09:00, carol at 14:00.
async fn three_bookings(app: &TestApp) -> (String, [String; 3]) {
    let expert = bookable_expert(app, 18_000, "usd").await;
    let mut made = Vec::new();
    for (client, hour) in [("bob", 11), ("bob", 9), ("carol", 14)] {
        let response = book(
            app,
            &app.client(client),
            Some(&format!("{client}-{hour}")),
            &booking(&expert, monday_at(hour, 0), 60),
        )
        .await;
        made.push(
            response.ok(StatusCode::CREATED)["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    (expert, [made[0].clone(), made[1].clone(), made[2].clone()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_party_sees_their_own_appointments_in_start_order() {
    let app = spawn_app().await;
    let (_, [bob_11, bob_9, carol_14]) = three_bookings(&app).await;
    let bob = app.get("/v1/appointments", Some(&app.client("bob"))).await;
    assert_eq!(ids(bob.ok(StatusCode::OK)), [bob_9.clone(), bob_11.clone()]);
    assert_eq!(bob.body["appointments"][0]["role"], "client");
    let ada = app
        .get("/v1/appointments?role=expert", Some(&app.expert("ada")))
        .await;
    assert_eq!(
        ids(ada.ok(StatusCode::OK)),
        [bob_9.clone(), bob_11.clone(), carol_14.clone()]
    );
    assert_eq!(ada.body["appointments"][2]["role"], "expert");

    // A window, a status, and pages of one.
    let window = format!(
        "/v1/appointments?role=expert&from={}&to={}",
        monday_at(10, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        monday_at(14, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let windowed = app.get(&window, Some(&app.expert("ada"))).await;
    assert_eq!(ids(windowed.ok(StatusCode::OK)), vec![bob_11.clone()]);
    let confirmed = app
        .get(
            "/v1/appointments?role=expert&status=confirmed",
            Some(&app.expert("ada")),
        )
        .await;
    assert_eq!(ids(confirmed.ok(StatusCode::OK)), Vec::<String>::new());
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            Some(c) => format!("/v1/appointments?role=expert&limit=1&cursor={c}"),
            None => "/v1/appointments?role=expert&limit=1".to_owned(),
        };
        let page = app.get(&path, Some(&app.expert("ada"))).await;
        let page = page.ok(StatusCode::OK).clone();
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [bob_9, bob_11, carol_14]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appointment_is_visible_to_its_two_parties_only_with_the_link_once_paid() {
    let app = spawn_app().await;
    three_days_before(&app);
    let (_, [bob_11, _, _]) = three_bookings(&app).await;
    let path = format!("/v1/appointments/{bob_11}?tz=America/New_York");
    let mine = app.get(&path, Some(&app.client("bob"))).await;
    let mine = mine.ok(StatusCode::OK).clone();
    assert_eq!(mine["role"], "client");
    assert_eq!(mine["meeting_url"], Value::Null, "no link before payment");
    assert!(mine["local_start"].as_str().unwrap().ends_with("-05:00"));
    let expert_view = app.get(&path, Some(&app.expert("ada"))).await;
    assert_eq!(expert_view.ok(StatusCode::OK)["role"], "expert");

    // Another client, another expert, a stranger with no groups: not found, as for no id at all.
    let eve = app.expert("eve");
    app.put(
        "/v1/experts/me",
        Some(&eve),
        &crate::helpers::profile_body(),
    )
    .await
    .ok(StatusCode::OK);
    for stranger in [app.client("carol"), eve, app.user("mallory", &[])] {
        app.get(&path, Some(&stranger))
            .await
            .problem(StatusCode::NOT_FOUND, "not-found");
    }
    app.get(
        "/v1/appointments/apt_01JD8Y3V9K2Q4R5S6T7V8W9X0Y",
        Some(&app.client("bob")),
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not-found");

    let secret = mine["payment_client_secret"].as_str().map(str::to_owned);
    assert!(
        secret.is_none(),
        "the client secret is only in the booking answer"
    );
    let booked = book(
        &app,
        &app.client("bob"),
        Some("bob-11"),
        &booking(mine["expert_id"].as_str().unwrap(), monday_at(11, 0), 60),
    )
    .await;
    let secret = booked.ok(StatusCode::CREATED)["payment_client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.pay(&secret, "pm_card_visa").await, 200);
    let paid = app.get(&path, Some(&app.client("bob"))).await;
    let link = paid.ok(StatusCode::OK)["meeting_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        link.starts_with("https://meet.jit.si/expert-session-"),
        "{link}"
    );
    let expert_link = app.get(&path, Some(&app.expert("ada"))).await;
    assert_eq!(expert_link.ok(StatusCode::OK)["meeting_url"], link.as_str());
}
