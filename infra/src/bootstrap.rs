//! Creates the table `template.yaml` declares, under a name of our choosing.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

use crate::template::{KeyElement, TableDefinition, Template};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Refuses to run against anything but an emulator on this machine: the local stack creates
/// tables and accepts dev tokens, neither of which belongs near a real account.
pub fn require_local_endpoint() -> Result<String, BoxError> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|prefix| endpoint.starts_with(prefix));
    if local {
        Ok(endpoint)
    } else {
        Err(format!(
            "AWS_ENDPOINT_URL must point at the local emulator (http://127.0.0.1:<port>), not \
             `{endpoint}`: run the stack with `make dev`, the tests with `make test`"
        )
        .into())
    }
}

/// A new table named `<prefix>-<ulid>` on the local emulator, so that every test has its own.
pub async fn fresh_table(prefix: &str) -> Result<(Client, String), BoxError> {
    require_local_endpoint()?;
    let sdk = marketplace::config::aws_sdk_config().await;
    let client = Client::new(&sdk);
    let name = format!("{prefix}-{}", ulid::Ulid::new()).to_lowercase();
    let template = Template::load(&crate::template_path())?;
    create_table(&client, &name, &template.table()?).await?;
    Ok((client, name))
}

/// Creates the table unless it exists; returns whether it was created.
pub async fn create_table(
    client: &Client,
    name: &str,
    definition: &TableDefinition,
) -> Result<bool, BoxError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&definition.key_schema)?));
    for attribute in &definition.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()?,
        );
    }
    for index in &definition.global_secondary_indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            index.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()?,
        );
    }
    if let Some(stream) = &definition.stream_specification {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(false);
        }
        Err(error) => return Err(error.into()),
    }
    if let Some(ttl) = &definition.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(ttl.enabled)
                    .build()?,
            )
            .send()
            .await?;
    }
    Ok(true)
}

fn key_schema(elements: &[KeyElement]) -> Result<Vec<KeySchemaElement>, BoxError> {
    elements
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()?)
        })
        .collect()
}
