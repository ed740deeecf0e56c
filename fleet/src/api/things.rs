//! Thing registry routes, at AWS's paths: CreateThing, DescribeThing,
//! ListThings, UpdateThing, DeleteThing and GetThingConnectivityData.
//! Thing types and billing groups do not exist here: asking for them is a
//! 400 naming the field.

use super::extract::{optional_strict_body, Path, Query, Shape};
use super::registry::{apply, page, page_body, unsupported, AttributePayloadBody, ThingView};
use super::{ApiError, ApiState};
use crate::arn;
use crate::store::{AttributePayload, ThingFilter};
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

const NO_THING_TYPES: &str = "thing types do not exist in this service";

/// CreateThingRequest's body members (botocore `iot` 2015-05-28).
const CREATE: Shape = Shape {
    operation: "CreateThing",
    fields: &["thingTypeName", "attributePayload", "billingGroupName"],
};

/// UpdateThingRequest's body members (botocore `iot` 2015-05-28).
const UPDATE: Shape = Shape {
    operation: "UpdateThing",
    fields: &[
        "thingTypeName",
        "attributePayload",
        "expectedVersion",
        "removeThingType",
    ],
};

/// GetThingConnectivityDataRequest's body members (botocore `iot` 2015-05-28).
const CONNECTIVITY: Shape = Shape {
    operation: "GetThingConnectivityData",
    fields: &["includeSocketInformation"],
};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    thing_type_name: Option<String>,
    #[serde(default)]
    attribute_payload: Option<AttributePayloadBody>,
    #[serde(default)]
    billing_group_name: Option<String>,
}

/// `POST /things/{thingName}`: CreateThing.
pub(super) async fn create(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: CreateBody = optional_strict_body(&body, &CREATE)?;
    unsupported("thingTypeName", &body.thing_type_name, NO_THING_TYPES)?;
    unsupported(
        "billingGroupName",
        &body.billing_group_name,
        "billing groups do not exist in this service",
    )?;
    let payload: Option<AttributePayload> = body.attribute_payload.map(Into::into);
    let now = state.now();
    let (thing, changes) = state
        .with_store(move |s| s.create_thing(&name, payload.as_ref(), now))
        .await?;
    state.publish(changes);
    Ok(Json(json!({
        "thingName": thing.thing_name,
        "thingArn": arn::thing_arn(&thing.thing_name),
        "thingId": thing.thing_id,
    })))
}

/// `GET /things/{thingName}`: DescribeThing.
pub(super) async fn describe(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<ThingView>, ApiError> {
    let thing = state.with_store(move |s| s.describe_thing(&name)).await?;
    Ok(Json(ThingView::of(thing)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    attribute_name: Option<String>,
    #[serde(default)]
    attribute_value: Option<String>,
    #[serde(default)]
    use_prefix_attribute_value: bool,
    #[serde(default)]
    thing_type_name: Option<String>,
}

/// `GET /things`: ListThings, by name, with the attribute filters.
pub(super) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    unsupported("thingTypeName", &q.thing_type_name, NO_THING_TYPES)?;
    let page = page(q.max_results, q.next_token)?;
    let filter = ThingFilter {
        attribute_name: q.attribute_name,
        attribute_value: q.attribute_value,
        use_prefix: q.use_prefix_attribute_value,
    };
    let things = state
        .with_store(move |s| s.list_things(&filter, &page))
        .await?;
    let things = things.map(ThingView::of);
    Ok(Json(page_body("things", things)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    thing_type_name: Option<String>,
    #[serde(default)]
    attribute_payload: Option<AttributePayloadBody>,
    #[serde(default)]
    expected_version: Option<u64>,
    /// Accepted: a thing here has no type to remove.
    #[serde(default)]
    #[allow(dead_code)]
    remove_thing_type: bool,
}

/// `PATCH /things/{thingName}`: UpdateThing.
pub(super) async fn update(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: UpdateBody = optional_strict_body(&body, &UPDATE)?;
    unsupported("thingTypeName", &body.thing_type_name, NO_THING_TYPES)?;
    let payload: Option<AttributePayload> = body.attribute_payload.map(Into::into);
    apply(&state, move |s, now| {
        s.update_thing(&name, payload.as_ref(), body.expected_version, now)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct VersionQuery {
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// `DELETE /things/{thingName}?expectedVersion=`: DeleteThing.
pub(super) async fn delete(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<Value>, ApiError> {
    apply(&state, move |s, now| {
        s.delete_thing(&name, q.expected_version, now)
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectivityBody {
    #[serde(default)]
    include_socket_information: bool,
}

/// `POST /things/{thingName}/connectivity-data`: GetThingConnectivityData,
/// as the embedded broker last reported it (`timestamp` in epoch seconds,
/// with milliseconds).
pub(super) async fn connectivity(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ConnectivityBody = optional_strict_body(&body, &CONNECTIVITY)?;
    if body.include_socket_information {
        return Err(ApiError::InvalidRequest(
            "includeSocketInformation is not supported: the service keeps no socket information"
                .into(),
        ));
    }
    let thing = state.with_store(move |s| s.describe_thing(&name)).await?;
    let c = thing.connectivity;
    let mut reply = json!({ "thingName": thing.thing_name, "connected": c.connected });
    if let Some(ms) = c.timestamp_ms {
        reply["timestamp"] = json!(ms as f64 / 1000.0);
    }
    if let Some(r) = c.disconnect_reason {
        reply["disconnectReason"] = r.into();
    }
    Ok(Json(reply))
}
