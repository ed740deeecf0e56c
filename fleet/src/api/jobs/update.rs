//! UpdateJob (`PATCH /jobs/{jobId}?namespaceId=`): a job's description,
//! `presignedUrlConfig`, `timeoutConfig`, and `jobExecutionsRetryConfig`
//! (only to set retries to 0, as AWS allows). The rollout and abort
//! controls are refused (`super::super::unsupported`).

use super::super::extract::{strict_body, Path, Query, Shape};
use super::super::{unsupported, ApiError, ApiState};
use super::create::TimeoutConfig;
use crate::store::{PresignedUrlConfig, UpdateJob};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

/// UpdateJobRequest's body members (botocore `iot` 2015-05-28).
const SHAPE: Shape = Shape {
    operation: "UpdateJob",
    fields: &[
        "description",
        "presignedUrlConfig",
        "jobExecutionsRolloutConfig",
        "abortConfig",
        "timeoutConfig",
        "jobExecutionsRetryConfig",
    ],
};

/// The implemented part of UpdateJob's body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    presigned_url_config: Option<PresignedUrlConfig>,
    #[serde(default)]
    timeout_config: Option<TimeoutConfig>,
    #[serde(default)]
    job_executions_retry_config: Option<serde_json::Value>,
}

/// UpdateJob's query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(in crate::api) struct UpdateQuery {
    #[serde(default)]
    namespace_id: Option<String>,
}

/// `PATCH /jobs/{jobId}`: UpdateJob. Each field given replaces the job's
/// value; the others are kept. Like AWS, an empty 200.
pub(in crate::api) async fn update(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    Query(q): Query<UpdateQuery>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    unsupported::refuse_if_set("UpdateJob", "namespaceId", &q.namespace_id)?;
    let body: Body = strict_body(&body, &SHAPE)?;
    let stop_retries = body
        .job_executions_retry_config
        .as_ref()
        .map(super::super::rollout::retry_update)
        .transpose()?;
    let req = UpdateJob {
        description: body.description,
        presigned_url_config: body.presigned_url_config,
        in_progress_timeout_minutes: body
            .timeout_config
            .map(|t| t.in_progress_timeout_in_minutes),
        stop_retries,
    };
    let now = state.now();
    let id = job_id.clone();
    state
        .with_store(move |s| s.update_job(&id, &req, now))
        .await?;
    tracing::info!(%job_id, "job updated");
    Ok(StatusCode::OK)
}
