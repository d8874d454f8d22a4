//! The router, openapi.yaml and template.yaml must describe the same routes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::body::Body;
use http::{Request, StatusCode};
use local_stack::dev_server::BOOKING_API_FUNCTION;
use local_stack::template::Template;
use serde_yaml::Value;
use tower::ServiceExt;

use crate::helpers::{read, spawn_app};

/// (METHOD, path, public) for every operation of the OpenAPI document.
fn documented() -> BTreeSet<(String, String, bool)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    let document: Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).expect("openapi.yaml")).expect("YAML");
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_mapping().expect("paths") {
        for (method, operation) in item.as_mapping().expect("path item") {
            let method = method.as_str().unwrap().to_uppercase();
            if !["GET", "PUT", "POST", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let public = operation
                .get("security")
                .and_then(Value::as_sequence)
                .is_some_and(|s| s.is_empty());
            operations.insert((method, path.as_str().unwrap().to_owned(), public));
        }
    }
    operations
}

#[test]
fn the_router_serves_exactly_the_documented_routes() {
    let served: BTreeSet<(String, String)> = booking_api::routes()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect();
    let documented: BTreeSet<(String, String)> = documented()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    assert_eq!(
        served, documented,
        "router (left) and openapi.yaml (right) differ"
    );
}

#[test]
fn the_template_declares_every_route_with_the_documented_auth() {
    let template = Template::load(&local_stack::template_path()).unwrap();
    let declared: BTreeSet<(String, String, bool)> = template
        .api_routes()
        .unwrap()
        .into_iter()
        .filter(|r| r.function == BOOKING_API_FUNCTION)
        .map(|r| (r.method, r.path, !r.authorized))
        .collect();
    assert_eq!(
        declared,
        documented(),
        "template.yaml (left) and openapi.yaml (right) differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_its_method_and_only_it() {
    let app = spawn_app().await;
    let routes = booking_api::routes();
    for (method, path) in &routes {
        let concrete = path.replace("{id}", "exp_01JD8Y3V9K2Q4R5S6T7V8W9X0Y");
        let request = Request::builder()
            .method(method.clone())
            .uri(&concrete)
            .body(Body::empty())
            .unwrap();
        let response = read(app.handler.clone().oneshot(request).await.unwrap()).await;
        assert_ne!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_ne!(
            response.body["detail"], "No route matches this path.",
            "{method} {path}"
        );
        // A method this path does not serve.
        let other = [http::Method::DELETE, http::Method::PATCH, http::Method::PUT]
            .into_iter()
            .find(|m| !routes.iter().any(|(rm, rp)| rm == m && rp == path))
            .expect("a method the path does not serve");
        let request = Request::builder()
            .method(other)
            .uri(&concrete)
            .body(Body::empty())
            .unwrap();
        let response = read(app.handler.clone().oneshot(request).await.unwrap()).await;
        response.problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    }
    let request = Request::get("/v2/nothing").body(Body::empty()).unwrap();
    read(app.handler.clone().oneshot(request).await.unwrap())
        .await
        .problem(StatusCode::NOT_FOUND, "not-found");
}
