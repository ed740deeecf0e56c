//! Job execution routes: ListJobExecutionsForJob, ListJobExecutionsForThing,
//! DescribeJobExecution, CancelJobExecution and DeleteJobExecution, at
//! AWS's paths.

use super::extract::{optional_strict_body, DeleteQuery, ForceQuery, Path, Query, Shape};
use super::pages::{self, List};
use super::views::{ExecutionView, ForJob, ForThing};
use super::{unsupported, ApiError, ApiState};
use crate::store::ThingExecutionFilter;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use jobhost_protocol::JobExecutionStatus;
use serde::Deserialize;
use serde_json::{json, Value};

/// ListJobExecutionsForJob's query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ForJobQuery {
    #[serde(default)]
    status: Option<JobExecutionStatus>,
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    next_token: Option<String>,
    /// jobhost's extension (not in AWS's request): each entry also carries
    /// its `statusDetails` (see [`ForJob::status_details`]).
    #[serde(default)]
    include_status_details: bool,
}

/// `GET /jobs/{jobId}/things`: ListJobExecutionsForJob, in creation order;
/// with `includeStatusDetails=true` (jobhost's), each entry's statusDetails.
pub(super) async fn list_for_job(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    Query(q): Query<ForJobQuery>,
) -> Result<Json<Value>, ApiError> {
    let list = List::ExecutionsForJob;
    let page = list.execution_page(q.next_token.as_deref(), q.max_results)?;
    let page = state
        .with_store(move |s| s.list_executions_for_job_page(&job_id, q.status, page))
        .await?;
    let entry = if q.include_status_details {
        ForJob::with_details
    } else {
        ForJob::of
    };
    let entries: Vec<ForJob> = page.items.iter().map(entry).collect();
    let next = page.next.map(|c| list.execution_token(c));
    Ok(Json(pages::reply("executionSummaries", entries, next)))
}

/// ListJobExecutionsForThing's query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ForThingQuery {
    #[serde(default)]
    status: Option<JobExecutionStatus>,
    #[serde(default)]
    namespace_id: Option<String>,
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    job_id: Option<String>,
}

/// `GET /things/{thingName}/jobs`: ListJobExecutionsForThing, in creation
/// order, `status` and `jobId` applied.
pub(super) async fn list_for_thing(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    Query(q): Query<ForThingQuery>,
) -> Result<Json<Value>, ApiError> {
    unsupported::refuse_if_set("ListJobExecutionsForThing", "namespaceId", &q.namespace_id)?;
    let list = List::ExecutionsForThing;
    let page = list.execution_page(q.next_token.as_deref(), q.max_results)?;
    let filter = ThingExecutionFilter {
        status: q.status,
        job_id: q.job_id,
    };
    let page = state
        .with_store(move |s| s.list_executions_for_thing_page(&thing, &filter, page))
        .await?;
    let entries: Vec<ForThing> = page.items.iter().map(ForThing::of).collect();
    let next = page.next.map(|c| list.execution_token(c));
    Ok(Json(pages::reply("executionSummaries", entries, next)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DescribeQuery {
    #[serde(default)]
    execution_number: Option<u64>,
}

/// `GET /things/{thingName}/jobs/{jobId}?executionNumber=`:
/// DescribeJobExecution, the latest execution without `executionNumber`.
pub(super) async fn describe(
    State(state): State<ApiState>,
    Path((thing, job_id)): Path<(String, String)>,
    Query(q): Query<DescribeQuery>,
) -> Result<Json<Value>, ApiError> {
    let record = state
        .with_store(move |s| s.describe_execution(&job_id, &thing, q.execution_number))
        .await?;
    let view = ExecutionView::of(record, state.now());
    Ok(Json(json!({ "execution": view })))
}

/// CancelJobExecutionRequest's body members.
const CANCEL_SHAPE: Shape = Shape {
    operation: "CancelJobExecution",
    fields: &["expectedVersion", "statusDetails"],
};

/// The implemented part of CancelJobExecution's body. AWS also lets the
/// canceller set statusDetails; the store keeps the device's, so that is
/// refused (`super::unsupported`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    expected_version: Option<u64>,
}

/// `PUT /things/{thingName}/jobs/{jobId}/cancel?force=`: CancelJobExecution
/// on the latest execution. Like AWS, an empty 200.
pub(super) async fn cancel(
    State(state): State<ApiState>,
    Path((thing, job_id)): Path<(String, String)>,
    Query(ForceQuery { force }): Query<ForceQuery>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: CancelBody = optional_strict_body(&body, &CANCEL_SHAPE)?;
    let now = state.now();
    let (t, j) = (thing.clone(), job_id.clone());
    let changes = state
        .with_store(move |s| s.cancel_execution(&j, &t, force, body.expected_version, now))
        .await?;
    tracing::info!(%job_id, %thing, force, "job execution canceled");
    state.publish(changes);
    Ok(StatusCode::OK)
}

/// `DELETE /things/{thingName}/jobs/{jobId}/executionNumber/{executionNumber}?force=`:
/// DeleteJobExecution. A terminal execution, or with `force` an
/// IN_PROGRESS one (its device is told: its pending list changed). Like
/// AWS, an empty 200.
pub(super) async fn delete(
    State(state): State<ApiState>,
    Path((thing, job_id, number)): Path<(String, String, u64)>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    unsupported::refuse_if_set("DeleteJobExecution", "namespaceId", &q.namespace_id)?;
    let (now, force) = (state.now(), q.force);
    let (t, j) = (thing.clone(), job_id.clone());
    let changes = state
        .with_store(move |s| s.delete_execution(&j, &t, number, force, now))
        .await?;
    tracing::info!(%job_id, %thing, number, force, "job execution deleted");
    state.publish(changes);
    Ok(StatusCode::OK)
}
