//! Static thing group routes, at AWS's paths: CreateThingGroup,
//! DescribeThingGroup (dynamic groups too), ListThingGroups,
//! UpdateThingGroup, DeleteThingGroup, AddThingToThingGroup,
//! RemoveThingFromThingGroup, ListThingsInThingGroup and
//! ListThingGroupsForThing.

use super::extract::{optional_strict_body, strict_body, Path, Query, Shape};
use super::registry::{
    apply, group_body, group_ref, page, page_body, thing_ref, unsupported, GroupNameAndArn,
    GroupPropertiesBody,
};
use super::things::VersionQuery;
use super::{ApiError, ApiState};
use crate::arn;
use crate::store::{GroupFilter, GroupProperties, Page};
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Tags are not kept anywhere in this service.
pub(super) const NO_TAGS: &str = "resource tags do not exist in this service";

/// CreateThingGroupRequest's body members (botocore `iot` 2015-05-28).
const CREATE: Shape = Shape {
    operation: "CreateThingGroup",
    fields: &["parentGroupName", "thingGroupProperties", "tags"],
};

/// UpdateThingGroupRequest's body members (botocore `iot` 2015-05-28).
const UPDATE: Shape = Shape {
    operation: "UpdateThingGroup",
    fields: &["thingGroupProperties", "expectedVersion"],
};

/// AddThingToThingGroupRequest's body members (botocore `iot` 2015-05-28).
const ADD: Shape = Shape {
    operation: "AddThingToThingGroup",
    fields: &[
        "thingGroupName",
        "thingGroupArn",
        "thingName",
        "thingArn",
        "overrideDynamicGroups",
    ],
};

/// RemoveThingFromThingGroupRequest's body members (botocore `iot` 2015-05-28).
const REMOVE: Shape = Shape {
    operation: "RemoveThingFromThingGroup",
    fields: &["thingGroupName", "thingGroupArn", "thingName", "thingArn"],
};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    parent_group_name: Option<String>,
    #[serde(default)]
    thing_group_properties: Option<GroupPropertiesBody>,
    #[serde(default)]
    tags: Option<Value>,
}

/// `POST /thing-groups/{thingGroupName}`: CreateThingGroup.
pub(super) async fn create(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: CreateBody = optional_strict_body(&body, &CREATE)?;
    unsupported("tags", &body.tags, NO_TAGS)?;
    let props: GroupProperties = body.thing_group_properties.unwrap_or_default().into();
    let now = state.now();
    let group = state
        .with_store(move |s| {
            s.create_thing_group(&name, body.parent_group_name.as_deref(), &props, now)
        })
        .await?;
    Ok(Json(json!({
        "thingGroupName": group.group_name,
        "thingGroupArn": arn::thing_group_arn(&group.group_name),
        "thingGroupId": group.group_id,
    })))
}

/// `GET /thing-groups/{thingGroupName}`: DescribeThingGroup.
pub(super) async fn describe(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let group = state
        .with_store(move |s| s.describe_thing_group(&name))
        .await?;
    Ok(Json(group_body(group)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    parent_group: Option<String>,
    #[serde(default)]
    name_prefix_filter: Option<String>,
    #[serde(default)]
    recursive: Option<bool>,
}

/// `GET /thing-groups`: ListThingGroups.
pub(super) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = page(q.max_results, q.next_token)?;
    let filter = GroupFilter {
        parent_group: q.parent_group,
        name_prefix: q.name_prefix_filter,
        recursive: q.recursive,
    };
    let names = state
        .with_store(move |s| s.list_thing_groups(&filter, &page))
        .await?;
    Ok(Json(page_body("thingGroups", groups(names))))
}

fn groups(names: Page<String, String>) -> Page<GroupNameAndArn, String> {
    names.map(GroupNameAndArn::of)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    thing_group_properties: GroupPropertiesBody,
    #[serde(default)]
    expected_version: Option<u64>,
}

/// `PATCH /thing-groups/{thingGroupName}`: UpdateThingGroup.
pub(super) async fn update(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: UpdateBody = strict_body(&body, &UPDATE)?;
    let props: GroupProperties = body.thing_group_properties.into();
    let version = state
        .with_store(move |s| s.update_thing_group(&name, &props, body.expected_version))
        .await?;
    Ok(Json(json!({ "version": version })))
}

/// `DELETE /thing-groups/{thingGroupName}?expectedVersion=`: DeleteThingGroup.
pub(super) async fn delete(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, move |s, now| {
        s.delete_thing_group(&name, q.expected_version, now)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MembershipBody {
    #[serde(default)]
    thing_group_name: Option<String>,
    #[serde(default)]
    thing_group_arn: Option<String>,
    #[serde(default)]
    thing_name: Option<String>,
    #[serde(default)]
    thing_arn: Option<String>,
    #[serde(default)]
    override_dynamic_groups: Option<bool>,
}

/// `PUT /thing-groups/addThingToThingGroup`: AddThingToThingGroup.
pub(super) async fn add_thing(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: MembershipBody = strict_body(&body, &ADD)?;
    let group = group_ref(body.thing_group_name, body.thing_group_arn)?;
    let thing = thing_ref(body.thing_name, body.thing_arn)?;
    let override_dynamic = body.override_dynamic_groups.unwrap_or(false);
    apply(&state, move |s, now| {
        s.add_thing_to_thing_group(&thing, &group, override_dynamic, now)
    })
    .await
}

/// `PUT /thing-groups/removeThingFromThingGroup`: RemoveThingFromThingGroup.
pub(super) async fn remove_thing(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: MembershipBody = strict_body(&body, &REMOVE)?;
    unsupported(
        "overrideDynamicGroups",
        &body.override_dynamic_groups,
        "it belongs to AddThingToThingGroup",
    )?;
    let group = group_ref(body.thing_group_name, body.thing_group_arn)?;
    let thing = thing_ref(body.thing_name, body.thing_arn)?;
    apply(&state, move |s, now| {
        s.remove_thing_from_thing_group(&thing, &group, now)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct MembersQuery {
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    recursive: bool,
}

/// `GET /thing-groups/{thingGroupName}/things?recursive=`:
/// ListThingsInThingGroup.
pub(super) async fn list_things(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<MembersQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = page(q.max_results, q.next_token)?;
    let things = state
        .with_store(move |s| s.list_things_in_thing_group(&name, q.recursive, &page))
        .await?;
    Ok(Json(page_body("things", things)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PageQuery {
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    next_token: Option<String>,
}

/// `GET /things/{thingName}/thing-groups`: ListThingGroupsForThing.
pub(super) async fn list_for_thing(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = page(q.max_results, q.next_token)?;
    let names = state
        .with_store(move |s| s.list_thing_groups_for_thing(&thing, &page))
        .await?;
    Ok(Json(page_body("thingGroups", groups(names))))
}
