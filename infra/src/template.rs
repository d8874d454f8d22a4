//! Reads the parts of `template.yaml` that the local stack recreates: the DynamoDB table's
//! definition and the HTTP API's routes with their authorizers.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_yaml::Value;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template.yaml is not valid YAML")]
    Yaml(#[from] serde_yaml::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
}

#[derive(Debug)]
pub struct Template {
    resources: BTreeMap<String, Resource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Resource {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    properties: Value,
}

/// `AWS::DynamoDB::Table` properties, as CloudFormation spells them.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<GlobalSecondaryIndex>,
    #[serde(default)]
    pub time_to_live_specification: Option<TimeToLive>,
    #[serde(default)]
    pub stream_specification: Option<StreamSpecification>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlobalSecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: Projection,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    pub projection_type: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLive {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecification {
    pub stream_view_type: String,
}

/// One `HttpApi` event of a function: a route and whether the JWT authorizer guards it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiRoute {
    pub method: String,
    pub path: String,
    pub authorized: bool,
    pub function: String,
}

/// An `AWS::SQS::Queue` and, if it has one, its dead-letter queue and receive limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDefinition {
    pub logical_id: String,
    pub dead_letter: Option<(String, u32)>,
    pub visibility_timeout: Option<u32>,
}

/// An `AWS::Events::Rule` on one of the template's buses, with its queue targets.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDefinition {
    pub logical_id: String,
    pub bus: String,
    pub pattern: serde_json::Value,
    /// (target id, queue logical id)
    pub targets: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Messaging {
    pub buses: Vec<String>,
    pub queues: Vec<QueueDefinition>,
    pub rules: Vec<RuleDefinition>,
}

/// The logical id a `!Ref X` or `!GetAtt X.Attr` points at.
fn referenced(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str().map(str::to_owned),
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => tagged
            .value
            .as_str()
            .and_then(|v| v.split('.').next())
            .map(str::to_owned),
        _ => None,
    }
}

impl Template {
    /// The buses, queues and rules the local stack recreates.
    pub fn messaging(&self) -> Result<Messaging, TemplateError> {
        let mut messaging = Messaging::default();
        for (id, resource) in &self.resources {
            let properties = &resource.properties;
            match resource.kind.as_str() {
                "AWS::Events::EventBus" => messaging.buses.push(id.clone()),
                "AWS::SQS::Queue" => {
                    let redrive = properties.get("RedrivePolicy");
                    let dead_letter = redrive.and_then(|r| {
                        let target = referenced(r.get("deadLetterTargetArn")?)?;
                        let max = r.get("maxReceiveCount")?.as_u64()?;
                        Some((target, u32::try_from(max).ok()?))
                    });
                    if redrive.is_some() && dead_letter.is_none() {
                        return Err(TemplateError::Shape(format!(
                            "{id}: unreadable RedrivePolicy"
                        )));
                    }
                    messaging.queues.push(QueueDefinition {
                        logical_id: id.clone(),
                        dead_letter,
                        visibility_timeout: properties
                            .get("VisibilityTimeout")
                            .and_then(Value::as_u64)
                            .and_then(|v| u32::try_from(v).ok()),
                    });
                }
                "AWS::Events::Rule" => {
                    let bus = properties
                        .get("EventBusName")
                        .and_then(referenced)
                        .ok_or_else(|| {
                            TemplateError::Shape(format!("{id}: EventBusName must !Ref a bus"))
                        })?;
                    let pattern: serde_json::Value = serde_yaml::from_value(
                        properties
                            .get("EventPattern")
                            .cloned()
                            .unwrap_or(Value::Null),
                    )?;
                    let targets = properties
                        .get("Targets")
                        .and_then(Value::as_sequence)
                        .map(|targets| {
                            targets
                                .iter()
                                .filter_map(|t| {
                                    Some((
                                        t.get("Id")?.as_str()?.to_owned(),
                                        referenced(t.get("Arn")?)?,
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    messaging.rules.push(RuleDefinition {
                        logical_id: id.clone(),
                        bus,
                        pattern,
                        targets,
                    });
                }
                _ => {}
            }
        }
        Ok(messaging)
    }

    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Document {
            resources: BTreeMap<String, Resource>,
        }
        let document: Document = serde_yaml::from_str(text)?;
        Ok(Template {
            resources: document.resources,
        })
    }

    /// The one `AWS::DynamoDB::Table` of the template.
    pub fn table(&self) -> Result<TableDefinition, TemplateError> {
        let mut tables = self
            .resources
            .values()
            .filter(|r| r.kind == "AWS::DynamoDB::Table");
        let table = tables
            .next()
            .ok_or_else(|| TemplateError::Shape("no AWS::DynamoDB::Table".into()))?;
        if tables.next().is_some() {
            return Err(TemplateError::Shape("more than one table".into()));
        }
        Ok(serde_yaml::from_value(table.properties.clone())?)
    }

    /// Every `HttpApi` event of every function. A route is authorized unless it says
    /// `Auth: {Authorizer: NONE}`, since the API's default authorizer is the JWT one.
    pub fn api_routes(&self) -> Result<Vec<ApiRoute>, TemplateError> {
        let mut routes = Vec::new();
        for (name, resource) in &self.resources {
            if resource.kind != "AWS::Serverless::Function" {
                continue;
            }
            let Some(events) = resource
                .properties
                .get("Events")
                .and_then(Value::as_mapping)
            else {
                continue;
            };
            for event in events.values() {
                if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                let properties = event.get("Properties").ok_or_else(|| {
                    TemplateError::Shape(format!("{name}: event without Properties"))
                })?;
                let text = |key: &str| {
                    properties
                        .get(key)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| TemplateError::Shape(format!("{name}: event without {key}")))
                };
                let authorizer = properties
                    .get("Auth")
                    .and_then(|auth| auth.get("Authorizer"))
                    .and_then(Value::as_str);
                routes.push(ApiRoute {
                    method: text("Method")?.to_uppercase(),
                    path: text("Path")?,
                    authorized: authorizer != Some("NONE"),
                    function: name.clone(),
                });
            }
        }
        routes.sort();
        Ok(routes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_template_declares_one_table_with_its_indexes() {
        let template = Template::load(&crate::template_path()).unwrap();
        let table = template.table().unwrap();
        let keys: Vec<_> = table
            .key_schema
            .iter()
            .map(|k| k.attribute_name.as_str())
            .collect();
        assert_eq!(keys, ["pk", "sk"]);
        assert!(table.global_secondary_indexes.len() >= 2);
        assert_eq!(
            table.time_to_live_specification.map(|t| t.attribute_name),
            Some("expires_at".to_owned())
        );
        assert!(table.stream_specification.is_some());
    }

    #[test]
    fn the_repository_template_routes_events_to_a_queue_with_a_dead_letter_queue() {
        let template = Template::load(&crate::template_path()).unwrap();
        let messaging = template.messaging().unwrap();
        assert_eq!(messaging.buses, ["EventBus"]);
        let notifications = messaging
            .queues
            .iter()
            .find(|q| q.logical_id == "NotificationsQueue")
            .unwrap();
        assert_eq!(
            notifications.dead_letter,
            Some(("NotificationsDeadLetterQueue".to_owned(), 5))
        );
        let targets: Vec<_> = messaging
            .rules
            .iter()
            .inspect(|rule| {
                assert_eq!(rule.bus, "EventBus");
                assert_eq!(rule.pattern["source"][0], "expert-marketplace.booking");
            })
            .flat_map(|rule| rule.targets.clone())
            .collect();
        for (id, queue) in [
            ("notifications", "NotificationsQueue"),
            ("calendar-sync", "CalendarSyncQueue"),
        ] {
            assert!(
                targets.contains(&(id.to_owned(), queue.to_owned())),
                "{targets:?}"
            );
        }
    }

    #[test]
    fn routes_are_authorized_unless_they_opt_out() {
        let template = Template::parse(
            r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        A: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: get, Path: /a}}
        B: {Type: HttpApi, Properties: {Method: GET, Path: /b, Auth: {Authorizer: NONE}}}
        C: {Type: SQS, Properties: {Queue: x}}
"#,
        )
        .unwrap();
        let routes = template.api_routes().unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(
            (routes[0].method.as_str(), routes[0].authorized),
            ("GET", true)
        );
        assert!(!routes[1].authorized);
    }
}
