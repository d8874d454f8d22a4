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

/// The bus and queues the local stack made from the template, by logical id.
#[derive(Clone, Debug, Default)]
pub struct LocalMessaging {
    pub bus_name: Option<String>,
    /// Logical id -> queue URL.
    pub queue_urls: std::collections::HashMap<String, String>,
}

/// Creates the template's event buses, queues (dead-letter queues first, redrive policies
/// set) and rules with their queue targets, each named `<prefix>-<logical id>`.
/// A KMS key on the emulator, standing in for the template's `CalendarKey`; answers its id.
pub async fn create_calendar_key(sdk: &aws_config::SdkConfig) -> Result<String, BoxError> {
    let key = aws_sdk_kms::Client::new(sdk)
        .create_key()
        .description("Envelope key for calendar credentials (local)")
        .send()
        .await?
        .key_metadata
        .ok_or("CreateKey answered no key")?;
    Ok(key.key_id)
}

pub async fn create_messaging(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    prefix: &str,
) -> Result<LocalMessaging, BoxError> {
    let messaging = template.messaging()?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let name = |logical: &str| format!("{prefix}-{logical}");
    let mut local = LocalMessaging::default();
    // SES sends only from verified identities (moto enforces it too).
    aws_sdk_ses::Client::new(sdk)
        .verify_email_identity()
        .email_address(marketplace::config::DEFAULT_MAIL_FROM)
        .send()
        .await?;
    let mut arns = std::collections::HashMap::new();
    // Dead-letter queues first: the others name them.
    let mut queues = messaging.queues.clone();
    queues.sort_by_key(|q| q.dead_letter.is_some());
    for queue in &queues {
        let mut request = sqs.create_queue().queue_name(name(&queue.logical_id));
        if let Some(timeout) = queue.visibility_timeout {
            request = request.attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                timeout.to_string(),
            );
        }
        if let Some((dead_letter, max_receives)) = &queue.dead_letter {
            let target: &String = arns.get(dead_letter).ok_or_else(|| {
                format!(
                    "{}: unknown dead-letter queue {dead_letter}",
                    queue.logical_id
                )
            })?;
            request = request.attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": max_receives})
                    .to_string(),
            );
        }
        let url = request.send().await?.queue_url.unwrap_or_default();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?;
        let arn = attributes
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .unwrap_or_default();
        arns.insert(queue.logical_id.clone(), arn);
        local.queue_urls.insert(queue.logical_id.clone(), url);
    }
    for bus in &messaging.buses {
        let result = events.create_event_bus().name(name(bus)).send().await;
        if let Err(error) = result
            && !error
                .as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception())
        {
            return Err(error.into());
        }
        local.bus_name = Some(name(bus));
    }
    for rule in &messaging.rules {
        let bus = name(&rule.bus);
        events
            .put_rule()
            .name(name(&rule.logical_id))
            .event_bus_name(&bus)
            .event_pattern(rule.pattern.to_string())
            .send()
            .await?;
        for (id, queue) in &rule.targets {
            let arn = arns
                .get(queue)
                .ok_or_else(|| format!("{}: unknown target queue {queue}", rule.logical_id))?;
            events
                .put_targets()
                .rule(name(&rule.logical_id))
                .event_bus_name(&bus)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id(id)
                        .arn(arn)
                        .build()?,
                )
                .send()
                .await?;
        }
    }
    Ok(local)
}
