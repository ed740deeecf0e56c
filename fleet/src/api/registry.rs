//! What the thing and thing group routes share: request parts in the `iot`
//! model's shapes (`AttributePayload`, `ThingGroupProperties`), `ARN or
//! name` references, page queries, and the response shapes of things and
//! groups.
//!
//! Request bodies deny unknown fields: a field this service does not
//! implement (`tags`, `billingGroupName`, ...) is a 400 naming it, never
//! dropped in silence.

use super::{ApiError, ApiState};
use crate::arn::{self, Resource};
use crate::store::{
    name_page, AttributePayload, Changes, GroupProperties, Page, PageRequest, Store, StoreError,
    Thing, ThingGroup,
};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// AWS's `AttributePayload`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AttributePayloadBody {
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    merge: bool,
}

impl From<AttributePayloadBody> for AttributePayload {
    fn from(b: AttributePayloadBody) -> Self {
        AttributePayload {
            attributes: b.attributes,
            merge: b.merge,
        }
    }
}

/// AWS's `ThingGroupProperties`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct GroupPropertiesBody {
    #[serde(default)]
    thing_group_description: Option<String>,
    #[serde(default)]
    attribute_payload: Option<AttributePayloadBody>,
}

impl From<GroupPropertiesBody> for GroupProperties {
    fn from(b: GroupPropertiesBody) -> Self {
        GroupProperties {
            description: b.thing_group_description,
            attribute_payload: b.attribute_payload.map(Into::into),
        }
    }
}

/// Refuses a field this service recognises but does not implement.
pub(super) fn unsupported<T>(field: &str, value: &Option<T>, why: &str) -> Result<(), ApiError> {
    match value {
        Some(_) => Err(ApiError::InvalidRequest(format!(
            "{field} is not supported: {why}"
        ))),
        None => Ok(()),
    }
}

/// A thing named by `thingName` or `thingArn` (both: they must agree).
pub(super) fn thing_ref(name: Option<String>, arn: Option<String>) -> Result<String, ApiError> {
    named(("thingName", "thingArn"), name, arn, |r| match r {
        Resource::Thing(n) => Some(n),
        Resource::ThingGroup(_) => None,
    })
}

/// A thing group named by `thingGroupName` or `thingGroupArn`.
pub(super) fn group_ref(name: Option<String>, arn: Option<String>) -> Result<String, ApiError> {
    named(
        ("thingGroupName", "thingGroupArn"),
        name,
        arn,
        |r| match r {
            Resource::ThingGroup(n) => Some(n),
            Resource::Thing(_) => None,
        },
    )
}

/// The name given as `fields.0`, or in the ARN given as `fields.1` that
/// `pick` accepts.
fn named(
    (name_field, arn_field): (&str, &str),
    name: Option<String>,
    arn: Option<String>,
    pick: fn(Resource<'_>) -> Option<&str>,
) -> Result<String, ApiError> {
    let from_arn = match arn.as_deref() {
        None => None,
        Some(a) => match arn::parse(a).and_then(pick) {
            Some(n) => Some(n.to_owned()),
            None => {
                return Err(ApiError::InvalidRequest(format!(
                    "{arn_field} {a:?} is not the ARN it should be"
                )))
            }
        },
    };
    match (name, from_arn) {
        (Some(n), Some(a)) if n != a => Err(ApiError::InvalidRequest(format!(
            "{name_field} {n:?} and {arn_field} (naming {a:?}) disagree"
        ))),
        (Some(n), _) | (None, Some(n)) => Ok(n),
        (None, None) => Err(ApiError::InvalidRequest(format!(
            "give {name_field} or {arn_field}"
        ))),
    }
}

/// Runs a registry change at the API's clock, hands the things whose
/// pending lists it changed to the notifier, and answers AWS's empty `{}`.
pub(super) async fn apply<F>(state: &ApiState, change: F) -> Result<Json<Value>, ApiError>
where
    F: FnOnce(&mut Store, i64) -> Result<Changes, StoreError> + Send + 'static,
{
    let now = state.now();
    let changes = state.with_store(move |s| change(s, now)).await?;
    state.publish(changes);
    Ok(Json(json!({})))
}

/// `maxResults` and `nextToken` to a page of a registry list
/// ([`name_page`]).
pub(super) fn page(
    max_results: Option<u32>,
    next_token: Option<String>,
) -> Result<PageRequest<String>, ApiError> {
    Ok(name_page(max_results, next_token)?)
}

/// `{"<key>": [items], "nextToken": …}`, the token only when another page
/// follows (botocore's paginators stop when it is absent).
pub(super) fn page_body<T: Serialize>(key: &str, page: Page<T, String>) -> Value {
    super::pages::reply(key, page.items, page.next)
}

/// `GroupNameAndArn`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupNameAndArn {
    group_name: String,
    group_arn: String,
}

impl GroupNameAndArn {
    pub(super) fn of(name: String) -> Self {
        Self {
            group_arn: arn::thing_group_arn(&name),
            group_name: name,
        }
    }
}

/// Connectivity in the fleet index's `ThingConnectivity` shape (SearchIndex
/// returns it; here DescribeThing and ListThings carry it too, an
/// extension): `timestamp` in milliseconds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectivityView {
    connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disconnect_reason: Option<String>,
}

/// A thing as DescribeThing shows it; ListThings lists the same (AWS's
/// `ThingAttribute` lacks `thingId` and `defaultClientId`, which SDKs
/// ignore there).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ThingView {
    /// A device connects with its thing name as client id.
    default_client_id: String,
    thing_name: String,
    thing_arn: String,
    thing_id: String,
    attributes: BTreeMap<String, String>,
    version: u64,
    connectivity: ConnectivityView,
}

impl ThingView {
    pub(super) fn of(t: Thing) -> Self {
        Self {
            thing_arn: arn::thing_arn(&t.thing_name),
            default_client_id: t.thing_name.clone(),
            thing_name: t.thing_name,
            thing_id: t.thing_id,
            attributes: t.attributes,
            version: t.version,
            connectivity: ConnectivityView {
                connected: t.connectivity.connected,
                timestamp: t.connectivity.timestamp_ms,
                disconnect_reason: t.connectivity.disconnect_reason,
            },
        }
    }
}

/// The fleet index AWS's dynamic groups search, and its query version: the
/// only ones AWS accepts, and the ones this service reports.
pub(super) const INDEX_NAME: &str = "AWS_Things";
pub(super) const QUERY_VERSION: &str = "2017-09-30";

/// DescribeThingGroup's reply.
pub(super) fn group_body(g: ThingGroup) -> Value {
    let mut properties = json!({ "attributePayload": { "attributes": g.attributes } });
    if let Some(d) = &g.description {
        properties["thingGroupDescription"] = d.clone().into();
    }
    let mut metadata = json!({
        "rootToParentThingGroups": g.ancestors.into_iter().map(GroupNameAndArn::of).collect::<Vec<_>>(),
        "creationDate": g.created_at,
    });
    if let Some(p) = &g.parent {
        metadata["parentGroupName"] = p.clone().into();
    }
    let mut body = json!({
        "thingGroupName": g.group_name,
        "thingGroupId": g.group_id,
        "thingGroupArn": arn::thing_group_arn(&g.group_name),
        "version": g.version,
        "thingGroupProperties": properties,
        "thingGroupMetadata": metadata,
    });
    if let Some(q) = g.query_string {
        body["indexName"] = INDEX_NAME.into();
        body["queryString"] = q.into();
        body["queryVersion"] = QUERY_VERSION.into();
        // Membership is exact at every commit: never BUILDING.
        body["status"] = "ACTIVE".into();
    }
    body
}
