//! Dynamic thing group routes, at AWS's paths: CreateDynamicThingGroup,
//! UpdateDynamicThingGroup and DeleteDynamicThingGroup. The query language
//! is [`crate::query`]'s subset; `indexName` and `queryVersion` may only be
//! AWS's single values.

use super::extract::{strict_body, Path, Query, Shape};
use super::groups::NO_TAGS;
use super::registry::{apply, unsupported, GroupPropertiesBody, INDEX_NAME, QUERY_VERSION};
use super::things::VersionQuery;
use super::{ApiError, ApiState};
use crate::arn;
use crate::store::GroupProperties;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// CreateDynamicThingGroupRequest's body members (botocore `iot` 2015-05-28).
const CREATE: Shape = Shape {
    operation: "CreateDynamicThingGroup",
    fields: &[
        "thingGroupProperties",
        "indexName",
        "queryString",
        "queryVersion",
        "tags",
    ],
};

/// UpdateDynamicThingGroupRequest's body members (botocore `iot` 2015-05-28).
const UPDATE: Shape = Shape {
    operation: "UpdateDynamicThingGroup",
    fields: &[
        "thingGroupProperties",
        "expectedVersion",
        "indexName",
        "queryString",
        "queryVersion",
    ],
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    query_string: String,
    #[serde(default)]
    thing_group_properties: Option<GroupPropertiesBody>,
    #[serde(default)]
    index_name: Option<String>,
    #[serde(default)]
    query_version: Option<String>,
    #[serde(default)]
    tags: Option<Value>,
}

/// `indexName` and `queryVersion`: AWS accepts one value of each.
fn check_index(index_name: Option<&str>, query_version: Option<&str>) -> Result<(), ApiError> {
    if let Some(i) = index_name.filter(|i| *i != INDEX_NAME) {
        return Err(ApiError::InvalidRequest(format!(
            "indexName {i:?} is not supported: the only index is {INDEX_NAME}"
        )));
    }
    if let Some(v) = query_version.filter(|v| *v != QUERY_VERSION) {
        return Err(ApiError::InvalidRequest(format!(
            "queryVersion {v:?} is not supported: the only version is {QUERY_VERSION}"
        )));
    }
    Ok(())
}

/// `POST /dynamic-thing-groups/{thingGroupName}`: CreateDynamicThingGroup.
pub(super) async fn create(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: CreateBody = strict_body(&body, &CREATE)?;
    unsupported("tags", &body.tags, NO_TAGS)?;
    check_index(body.index_name.as_deref(), body.query_version.as_deref())?;
    let props: GroupProperties = body.thing_group_properties.unwrap_or_default().into();
    let query = body.query_string;
    let now = state.now();
    let (group, changes) = state
        .with_store(move |s| s.create_dynamic_thing_group(&name, &props, &query, now))
        .await?;
    state.publish(changes);
    Ok(Json(json!({
        "thingGroupName": group.group_name,
        "thingGroupArn": arn::thing_group_arn(&group.group_name),
        "thingGroupId": group.group_id,
        "indexName": INDEX_NAME,
        "queryString": group.query_string,
        "queryVersion": QUERY_VERSION,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    thing_group_properties: GroupPropertiesBody,
    #[serde(default)]
    expected_version: Option<u64>,
    #[serde(default)]
    query_string: Option<String>,
    #[serde(default)]
    index_name: Option<String>,
    #[serde(default)]
    query_version: Option<String>,
}

/// `PATCH /dynamic-thing-groups/{thingGroupName}`: UpdateDynamicThingGroup.
pub(super) async fn update(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: UpdateBody = strict_body(&body, &UPDATE)?;
    check_index(body.index_name.as_deref(), body.query_version.as_deref())?;
    let props: GroupProperties = body.thing_group_properties.into();
    let now = state.now();
    let (version, changes) = state
        .with_store(move |s| {
            s.update_dynamic_thing_group(
                &name,
                &props,
                body.query_string.as_deref(),
                body.expected_version,
                now,
            )
        })
        .await?;
    state.publish(changes);
    Ok(Json(json!({ "version": version })))
}

/// `DELETE /dynamic-thing-groups/{thingGroupName}?expectedVersion=`:
/// DeleteDynamicThingGroup.
pub(super) async fn delete(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, move |s, now| {
        s.delete_dynamic_thing_group(&name, q.expected_version, now)
    })
    .await
}
