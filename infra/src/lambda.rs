//! Invokes an HTTP function's handler as the Lambda runtime does: lambda_http deserialises the
//! API Gateway v2 event, its own adapter (the one `lambda_http::run` uses) calls the handler and
//! turns the answer into the v2 response document.

use axum::Router;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent};
use serde_json::Value;
use tower::ServiceExt;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn invoke(
    handler: Router,
    event: &Value,
    request_id: &str,
) -> Result<ApiGatewayV2httpResponse, BoxError> {
    let request: LambdaRequest = serde_json::from_value(event.clone())?;
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    // The adapter's future is not `Send` (it is only ever polled by the runtime's own loop),
    // so it runs on a blocking thread of its own, as on Lambda where nothing else shares it.
    let runtime = tokio::runtime::Handle::current();
    let response = tokio::task::spawn_blocking(move || {
        runtime.block_on(Adapter::from(handler).oneshot(LambdaEvent::new(request, context)))
    })
    .await?;
    let response = match response {
        Ok(response) => response,
        Err(never) => match never {},
    };
    Ok(serde_json::from_value(serde_json::to_value(response)?)?)
}
