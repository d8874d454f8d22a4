//! Calendar connections through the API, against Radicale (CalDAV) and moto (KMS, SQS).

use http::{Method, StatusCode};
use local_stack::radicale::RadicaleAccount;
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, profile_body, spawn_app};

const CALENDARS: &str = "/v1/experts/me/calendars";

/// An expert with a profile, and a Radicale account with an event calendar and a task list.
async fn expert_with_account(app: &TestApp, sub: &str) -> (User, RadicaleAccount) {
    let expert = app.expert(sub);
    app.put("/v1/experts/me", Some(&expert), &profile_body())
        .await
        .ok(StatusCode::OK);
    let account = RadicaleAccount::create(&[("work", "VEVENT"), ("chores", "VTODO")])
        .await
        .unwrap();
    (expert, account)
}

fn connect_body(account: &RadicaleAccount) -> Value {
    json!({
        "provider": "caldav",
        "server_url": account.server_url.as_str(),
        "username": account.username,
        "password": account.password,
    })
}

/// Every item of the test's table, as DynamoDB JSON text.
async fn raw_table(app: &TestApp) -> String {
    let items = app
        .store
        .client()
        .scan()
        .table_name(app.store.table())
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    format!("{items:?}")
}

/// The sync jobs waiting on the calendar-sync queue (taken off it).
async fn sync_jobs(app: &TestApp) -> Vec<Value> {
    app.drain_queue(&app.calendar_sync_queue).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_discovers_the_event_calendars_and_seals_the_password() {
    let app = spawn_app().await;
    let (ada, account) = expert_with_account(&app, "ada").await;
    let created = app
        .post(CALENDARS, Some(&ada), &connect_body(&account))
        .await;
    let connection = created.ok(StatusCode::CREATED).clone();
    assert_eq!(connection["provider"], "caldav");
    assert_eq!(connection["account"], account.username.as_str());
    assert_eq!(connection["status"], "ok");
    let calendars = connection["calendars"].as_array().unwrap();
    assert_eq!(
        calendars.len(),
        1,
        "the task list is not a calendar of events"
    );
    assert_eq!(calendars[0]["name"], "work");
    assert_eq!(calendars[0]["busy_source"], true);
    assert_eq!(calendars[0]["booking_target"], true);
    let text = connection.to_string();
    assert!(!text.contains(&account.password), "{text}");

    // Listed, counted on the public profile (as a yes), sealed in the table, a sync queued.
    let listed = app.get(CALENDARS, Some(&ada)).await;
    assert_eq!(
        listed.ok(StatusCode::OK)["connections"][0]["id"],
        connection["id"]
    );
    let own = app.get("/v1/experts/me", Some(&ada)).await;
    let public = app
        .get(
            &format!("/v1/experts/{}", own.body["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(public.ok(StatusCode::OK)["calendar_connected"], true);
    let table = raw_table(&app).await;
    assert!(table.contains("S(\"calendar_connection\")"));
    assert!(
        !table.contains(&account.password),
        "the password is in the table"
    );
    let jobs = sync_jobs(&app).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["connection_id"], connection["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_cannot_be_made_says_why_and_stores_nothing() {
    let app = spawn_app().await;
    let (ada, account) = expert_with_account(&app, "ada").await;
    let body = |server_url: &str, password: &str| {
        json!({"provider": "caldav", "server_url": server_url,
               "username": account.username, "password": password})
    };
    let radicale = account.server_url.as_str();
    let cases = [
        (body(radicale, "wrong"), "calendar-credentials-refused"),
        // moto speaks HTTP, not WebDAV.
        (
            body(
                &std::env::var("AWS_ENDPOINT_URL").unwrap(),
                &account.password,
            ),
            "not-caldav",
        ),
        // Nothing listens on the discard port.
        (
            body("http://127.0.0.1:9/", &account.password),
            "calendar-unreachable",
        ),
        // Refused before any packet: not https, or a link-local (metadata) address.
        (
            body("http://calendar.example.com/", &account.password),
            "calendar-address-refused",
        ),
        (
            body("https://169.254.169.254/", &account.password),
            "calendar-address-refused",
        ),
        (
            body("https://[::1]/", &account.password),
            "calendar-address-refused",
        ),
        (
            json!({"provider": "google", "username": "a", "password": "b"}),
            "validation-error",
        ),
        (
            json!({"provider": "caldav", "server_url": "not a url", "username": "", "password": ""}),
            "validation-error",
        ),
    ];
    for (body, slug) in cases {
        let answer = app.post(CALENDARS, Some(&ada), &body).await;
        answer.problem(StatusCode::BAD_REQUEST, slug);
        assert!(!answer.body.to_string().contains(&account.password));
    }
    let listed = app.get(CALENDARS, Some(&ada)).await;
    assert_eq!(listed.ok(StatusCode::OK)["connections"], json!([]));
    assert!(!raw_table(&app).await.contains("S(\"calendar_connection\")"));
    assert!(sync_jobs(&app).await.is_empty());
    // Without a profile there is nothing to connect to.
    app.post(
        CALENDARS,
        Some(&app.expert("newcomer")),
        &connect_body(&account),
    )
    .await
    .problem(StatusCode::CONFLICT, "profile-required");
    app.post(CALENDARS, Some(&app.client("bob")), &connect_body(&account))
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_booking_target_across_connections_and_strangers_see_nothing() {
    let app = spawn_app().await;
    let (ada, first_account) = expert_with_account(&app, "ada").await;
    let second_account = RadicaleAccount::create(&[("private", "VEVENT"), ("team", "VEVENT")])
        .await
        .unwrap();
    let first = app
        .post(CALENDARS, Some(&ada), &connect_body(&first_account))
        .await
        .ok(StatusCode::CREATED)
        .clone();
    let second = app
        .post(CALENDARS, Some(&ada), &connect_body(&second_account))
        .await
        .ok(StatusCode::CREATED)
        .clone();
    let targets = |connection: &Value| -> usize {
        connection["calendars"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["booking_target"] == true)
            .count()
    };
    assert_eq!(
        targets(&second),
        0,
        "the first connection already takes bookings"
    );
    let team = second["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "team")
        .unwrap()["id"]
        .clone();
    let path = format!("{CALENDARS}/{}", second["id"].as_str().unwrap());
    let patched = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&ada),
            &json!({"calendars": [{"id": team, "booking_target": true, "busy_source": false}]}),
        )
        .await;
    let patched = patched.ok(StatusCode::OK);
    assert_eq!(targets(patched), 1);
    let listed = app.get(CALENDARS, Some(&ada)).await;
    let all = listed.ok(StatusCode::OK)["connections"].as_array().unwrap();
    assert_eq!(all.iter().map(targets).sum::<usize>(), 1, "{all:?}");
    assert_eq!(
        targets(&all[0]),
        0,
        "the first connection gave its target up"
    );

    // Unknown calendar ids are refused; nothing changes.
    app.send_json(
        Method::PATCH,
        &path,
        Some(&ada),
        &json!({"calendars": [{"id": "nope", "busy_source": false}]}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "validation-error");

    // Another expert reaches none of it: 404 on every route, nothing changed.
    let (mallory, _) = expert_with_account(&app, "mallory").await;
    let first_path = format!("{CALENDARS}/{}", first["id"].as_str().unwrap());
    for (method, path, body) in [
        (Method::PATCH, first_path.clone(), json!({"calendars": []})),
        (Method::DELETE, first_path.clone(), Value::Null),
        (Method::POST, format!("{first_path}/sync"), Value::Null),
    ] {
        app.send_json(method, &path, Some(&mallory), &body)
            .await
            .problem(StatusCode::NOT_FOUND, "not-found");
    }
    assert_eq!(
        app.get(CALENDARS, Some(&mallory)).await.body["connections"],
        json!([])
    );

    // Sync now: one job. Disconnect: gone, the profile says so, a second time 404.
    sync_jobs(&app).await;
    app.send_json(
        Method::POST,
        &format!("{first_path}/sync"),
        Some(&ada),
        &Value::Null,
    )
    .await
    .ok(StatusCode::ACCEPTED);
    assert_eq!(sync_jobs(&app).await.len(), 1);
    for connection in [&first, &second] {
        let path = format!("{CALENDARS}/{}", connection["id"].as_str().unwrap());
        let gone = app
            .send(Method::DELETE, &path, Some(&ada), None, Vec::new())
            .await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
    }
    app.send(Method::DELETE, &first_path, Some(&ada), None, Vec::new())
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
    assert_eq!(
        app.get(CALENDARS, Some(&ada)).await.body["connections"],
        json!([])
    );
    assert_eq!(
        app.get("/v1/experts/me", Some(&ada)).await.body["calendar_connected"],
        false
    );
    assert!(!raw_table(&app).await.contains("S(\"calendar_connection\")"));
}
