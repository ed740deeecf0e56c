//! UpdateEventConfigurations (`PATCH /event-configurations`) and
//! DescribeEventConfigurations (`GET /event-configurations`), with the
//! shapes of botocore's `iot` model: a map from AWS's event type to
//! `{"Enabled": bool}`, and `creationDate` / `lastModifiedDate` (epoch
//! seconds). This service publishes JOB and JOB_EXECUTION events
//! (`crate::events`); every other type is reported disabled, and enabling
//! one is refused ([`unsupported::event_type_reason`]).

use super::extract::{optional_strict_body, Shape};
use super::{unsupported, ApiError, ApiState};
use crate::store::{EventConfigurations, EventType};
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// UpdateEventConfigurationsRequest's members.
const UPDATE: Shape = Shape {
    operation: "UpdateEventConfigurations",
    fields: &["eventConfigurations"],
};

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    event_configurations: BTreeMap<String, Configuration>,
}

/// AWS's `Configuration`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Configuration {
    /// Absent: the type keeps its setting.
    #[serde(rename = "Enabled", default)]
    enabled: Option<bool>,
}

/// `GET /event-configurations`: DescribeEventConfigurations.
pub(super) async fn describe(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let config = state.with_store(|s| s.event_configurations()).await?;
    Ok(Json(describe_body(&config)))
}

fn describe_body(config: &EventConfigurations) -> Value {
    let mut types = Map::new();
    for event_type in EventType::ALL {
        types.insert(
            event_type.as_str().to_owned(),
            json!({ "Enabled": config.enabled(event_type) }),
        );
    }
    for name in unsupported::unpublished_event_types() {
        types.insert((*name).to_owned(), json!({ "Enabled": false }));
    }
    let mut body = json!({ "eventConfigurations": types });
    if let Some(created) = config.created_at {
        body["creationDate"] = json!(created);
    }
    if let Some(modified) = config.last_modified_at {
        body["lastModifiedDate"] = json!(modified);
    }
    body
}

/// `PATCH /event-configurations`: UpdateEventConfigurations. Sets each
/// type given with `Enabled`, keeps the others; the reply is empty, as
/// AWS's. Every refused type is named in the one 400.
pub(super) async fn update(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: UpdateBody = optional_strict_body(&body, &UPDATE)?;
    let mut changes = Vec::new();
    let mut refused = Vec::new();
    for (name, configuration) in &body.event_configurations {
        let published = EventType::ALL.into_iter().find(|t| t.as_str() == name);
        match (published, configuration.enabled) {
            (Some(event_type), Some(enabled)) => changes.push((event_type, enabled)),
            (Some(_), None) => {}
            (None, enabled) => match unsupported::event_type_reason(name) {
                Some(why) if enabled == Some(true) => refused.push(format!(
                    "{}: eventConfigurations.{name} cannot be enabled ({why})",
                    UPDATE.operation
                )),
                Some(_) => {}
                None => refused.push(format!(
                    "{}: eventConfigurations.{name} is not an event type",
                    UPDATE.operation
                )),
            },
        }
    }
    if !refused.is_empty() {
        return Err(ApiError::InvalidRequest(refused.join("; ")));
    }
    let now = state.now();
    state
        .with_store(move |s| s.update_event_configurations(&changes, now))
        .await?;
    Ok(Json(json!({})))
}
