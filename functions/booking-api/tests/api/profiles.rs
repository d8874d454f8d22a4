use http::StatusCode;
use serde_json::json;

use crate::helpers::{profile_body, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expert_creates_a_profile_and_anyone_reads_it_back() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    let created = app.put("/v1/experts/me", Some(&ada), &profile_body()).await;
    let created = created.ok(StatusCode::OK).clone();
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("exp_"));
    assert_eq!(
        created["specializations"],
        json!(["mathematics", "machine learning"])
    );
    assert_eq!(
        created["hourly_rate"],
        json!({"amount": 18000, "currency": "usd"})
    );
    assert!(
        created.get("owner").is_none(),
        "the owner's subject is not published"
    );

    let public = app.get(&format!("/v1/experts/{id}"), None).await;
    let public = public.ok(StatusCode::OK);
    assert_eq!(public["display_name"], "Ada Byron");
    assert_eq!(public["time_zone"], "Europe/London");
    assert_eq!(public["availability"], json!(null));

    let own = app.get("/v1/experts/me", Some(&ada)).await;
    assert_eq!(own.ok(StatusCode::OK)["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_a_profile_keeps_its_id_and_creation_time() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    let first = app.put("/v1/experts/me", Some(&ada), &profile_body()).await;
    let first = first.ok(StatusCode::OK).clone();
    let mut changed = profile_body();
    changed["display_name"] = json!("Ada, Countess of Lovelace");
    changed["hourly_rate"] = json!({"amount": 20000, "currency": "GBP"});
    let second = app.put("/v1/experts/me", Some(&ada), &changed).await;
    let second = second.ok(StatusCode::OK);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["created_at"], first["created_at"]);
    assert_eq!(
        second["hourly_rate"],
        json!({"amount": 20000, "currency": "gbp"})
    );
    let read = app
        .get(
            &format!("/v1/experts/{}", first["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        read.ok(StatusCode::OK)["display_name"],
        "Ada, Countess of Lovelace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_saves_create_exactly_one_profile() {
    let app = spawn_app().await;
    let ada = app.expert("ada");
    let saves: Vec<_> = (0..8)
        .map(|i| {
            let mut body = profile_body();
            body["bio"] = json!(format!("version {i}"));
            let (app, ada) = (app.clone(), ada.clone());
            tokio::spawn(async move { app.put("/v1/experts/me", Some(&ada), &body).await })
        })
        .collect();
    let mut responses = Vec::new();
    for save in saves {
        responses.push(save.await.expect("task"));
    }
    // Each save lands, or (if it lost to the others on every retry) says so with a 409;
    // never a second profile, never a 500.
    let ids: std::collections::BTreeSet<String> = responses
        .iter()
        .filter_map(|r| match r.status {
            StatusCode::OK => Some(r.body["id"].as_str().unwrap().to_owned()),
            _ => {
                r.problem(StatusCode::CONFLICT, "conflict");
                None
            }
        })
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "every save must land on the same profile: {ids:?}"
    );
    let id = ids.into_iter().next().unwrap();
    let linked = app
        .store
        .expert_id_of(&marketplace::ids::UserId::parse("ada").unwrap())
        .await
        .unwrap();
    assert_eq!(linked.map(|l| l.to_string()), Some(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_expert_ids_are_not_found() {
    let app = spawn_app().await;
    for id in ["exp_01JD8Y3V9K2Q4R5S6T7V8W9X0Y", "nope", "exp_%20"] {
        let response = app.get(&format!("/v1/experts/{id}"), None).await;
        response.problem(StatusCode::NOT_FOUND, "not-found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expert_without_a_profile_has_no_own_profile() {
    let app = spawn_app().await;
    let response = app.get("/v1/experts/me", Some(&app.expert("new"))).await;
    response.problem(StatusCode::NOT_FOUND, "not-found");
}
