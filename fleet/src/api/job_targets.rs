//! `POST /jobs/{jobId}/targets`: AssociateTargetsWithJob, which adds thing
//! groups (or things) to an IN_PROGRESS continuous job.

use super::extract::{strict_body, Path, Query, Shape};
use super::views::JobRef;
use super::{ApiError, ApiState};
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

/// AssociateTargetsWithJobRequest's body members (botocore `iot` 2015-05-28).
const SHAPE: Shape = Shape {
    operation: "AssociateTargetsWithJob",
    fields: &["targets", "comment"],
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    targets: Vec<String>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct NamespaceQuery {
    #[serde(default)]
    namespace_id: Option<String>,
}

/// `POST /jobs/{jobId}/targets?namespaceId=`: AssociateTargetsWithJob.
/// Notifies the things that got an execution.
pub(super) async fn associate(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    Query(q): Query<NamespaceQuery>,
    body: Bytes,
) -> Result<Json<JobRef>, ApiError> {
    if q.namespace_id.is_some() {
        return Err(ApiError::InvalidRequest(
            "namespaceId is not supported: there are no namespaced job topics here".into(),
        ));
    }
    let body: Body = strict_body(&body, &SHAPE)?;
    let now = state.now();
    let (job, changes) = state
        .with_store(move |s| {
            let changes =
                s.associate_targets(&job_id, &body.targets, body.comment.as_deref(), now)?;
            Ok((s.describe_job(&job_id)?, changes))
        })
        .await?;
    tracing::info!(job_id = %job.job_id, things = changes.things.len(), "targets associated");
    state.publish(changes);
    Ok(Json(JobRef::of(&job)))
}
