//! The sample events in `events/apigw-v2/` through the Lambda entry point: lambda_http
//! deserialises each event, its adapter calls our handler, and the v2 response comes back.

use std::path::PathBuf;

use local_stack::lambda;
use serde_json::Value;

use crate::helpers::spawn_app;

fn event(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/apigw-v2")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("event JSON")
}

fn body(response: &lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse) -> Value {
    use lambda_http::aws_lambda_events::encodings::Body;
    match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).expect("JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_api_gateway_events_go_through_the_lambda_entry_point() {
    let app = spawn_app().await;
    let invoke = |name: &'static str| {
        let handler = app.handler.clone();
        async move {
            lambda::invoke(handler, &event(name), "test-request")
                .await
                .expect(name)
        }
    };

    let created = invoke("put-expert-profile.json").await;
    assert_eq!(created.status_code, 200, "{:?}", created.body);
    assert_eq!(
        created
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    let profile = body(&created);
    assert_eq!(profile["display_name"], "Ada Byron");
    assert!(profile["id"].as_str().unwrap().starts_with("exp_"));

    let own = invoke("get-own-expert-profile.json").await;
    assert_eq!(own.status_code, 200);
    assert_eq!(body(&own)["id"], profile["id"]);

    let me = invoke("put-me-base64-body.json").await;
    assert_eq!(me.status_code, 200, "{:?}", me.body);
    let me = body(&me);
    assert_eq!(me["display_name"], "Bob");
    assert_eq!(me["groups"], serde_json::json!(["clients"]));
    assert_eq!(me["email"], "bob@example.com");

    let forbidden = invoke("put-availability-as-client.json").await;
    assert_eq!(forbidden.status_code, 403);
    assert_eq!(
        forbidden
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/problem+json")
    );
    assert_eq!(body(&forbidden)["type"], "/problems/forbidden");

    let unknown = invoke("get-unknown-expert-public.json").await;
    assert_eq!(unknown.status_code, 404);
    assert_eq!(body(&unknown)["type"], "/problems/not-found");

    // Google's notification on a channel we do not know: taken, nothing queued.
    let push = invoke("post-google-push-unknown-channel.json").await;
    assert_eq!(push.status_code, 200, "{:?}", push.body);
    assert_eq!(body(&push)["queued"], 0);

    // Graph's validation handshake: the token back, as plain text.
    let handshake = invoke("post-graph-validation-handshake.json").await;
    assert_eq!(handshake.status_code, 200);
    assert!(
        handshake.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    use lambda_http::aws_lambda_events::encodings::Body;
    match &handshake.body {
        Some(Body::Text(text)) => assert_eq!(
            text,
            "Validation: Testing client application reachability for subscription Request-Id: 25ac5f42-2a5b-4c7b-9f0e-2b1d0f1a3b4c"
        ),
        other => panic!("expected the token, got {other:?}"),
    }
}
