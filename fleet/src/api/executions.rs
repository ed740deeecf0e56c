//! Job execution routes: ListJobExecutionsForJob, ListJobExecutionsForThing,
//! DescribeJobExecution and CancelJobExecution, at AWS's paths.

use super::extract::{optional_json_body, Force, Path, Query};
use super::views::{ExecutionView, ForJob, ForThing};
use super::{ApiError, ApiState};
use crate::store::ExecutionRecord;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use jobhost_protocol::JobExecutionStatus;
use serde::Deserialize;
use serde_json::{json, Value};

/// `?status=` on both list calls, as in AWS.
#[derive(Debug, Deserialize)]
pub(super) struct StatusFilter {
    #[serde(default)]
    status: Option<JobExecutionStatus>,
}

impl StatusFilter {
    fn keeps(&self, r: &ExecutionRecord) -> bool {
        self.status.is_none_or(|s| s == r.execution.status)
    }
}

/// `GET /jobs/{jobId}/things`: ListJobExecutionsForJob.
pub(super) async fn list_for_job(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    Query(filter): Query<StatusFilter>,
) -> Result<Json<Value>, ApiError> {
    let records = state
        .with_store(move |s| s.list_executions_for_job(&job_id))
        .await?;
    let list: Vec<ForJob> = records
        .iter()
        .filter(|r| filter.keeps(r))
        .map(ForJob::of)
        .collect();
    Ok(Json(json!({ "executionSummaries": list })))
}

/// `GET /things/{thingName}/jobs`: ListJobExecutionsForThing.
pub(super) async fn list_for_thing(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    Query(filter): Query<StatusFilter>,
) -> Result<Json<Value>, ApiError> {
    let records = state
        .with_store(move |s| s.list_executions_for_thing(&thing))
        .await?;
    let list: Vec<ForThing> = records
        .iter()
        .filter(|r| filter.keeps(r))
        .map(ForThing::of)
        .collect();
    Ok(Json(json!({ "executionSummaries": list })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelBody {
    #[serde(default)]
    expected_version: Option<u64>,
    /// AWS lets the canceller set statusDetails; the store keeps the
    /// device's, so this is refused rather than silently dropped.
    #[serde(default)]
    status_details: Option<Value>,
}

/// `PUT /things/{thingName}/jobs/{jobId}/cancel?force=`: CancelJobExecution
/// on the latest execution. Like AWS, an empty 200.
pub(super) async fn cancel(
    State(state): State<ApiState>,
    Path((thing, job_id)): Path<(String, String)>,
    Query(Force { force }): Query<Force>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: CancelBody = optional_json_body(&body)?;
    if body.status_details.is_some() {
        return Err(ApiError::InvalidRequest(
            "statusDetails on CancelJobExecution is not supported".into(),
        ));
    }
    let now = state.now();
    let (t, j) = (thing.clone(), job_id.clone());
    let changes = state
        .with_store(move |s| s.cancel_execution(&j, &t, force, body.expected_version, now))
        .await?;
    tracing::info!(%job_id, %thing, force, "job execution canceled");
    state.publish(changes);
    Ok(StatusCode::OK)
}
