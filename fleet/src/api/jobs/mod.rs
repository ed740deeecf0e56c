//! Job routes: CreateJob (`create`; from a custom template: `custom`),
//! UpdateJob (`update`), DescribeJob, ListJobs, GetJobDocument, CancelJob
//! and DeleteJob, at AWS's paths.

mod create;
mod custom;
mod update;

pub(super) use create::{create, TimeoutConfig};
pub(super) use update::update;

use super::extract::{optional_strict_body, DeleteQuery, ForceQuery, Path, Query, Shape};
use super::pages::{self, List};
use super::views::{JobRef, JobSummaryView, JobView};
use super::{unsupported, ApiError, ApiState};
use crate::store::{JobFilter, JobOrder, JobStatus, TargetSelection};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// `?beforeSubstitution=` on DescribeJob and GetJobDocument.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DocumentQuery {
    #[serde(default)]
    before_substitution: bool,
}

/// `GET /jobs/{jobId}?beforeSubstitution=`: DescribeJob. `document` (not
/// in AWS's reply, which botocore drops) is the parsed document; with
/// `beforeSubstitution=true`, a template job's document before its
/// parameters were substituted.
pub(super) async fn describe(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    Query(q): Query<DocumentQuery>,
) -> Result<Json<Value>, ApiError> {
    let (mut job, before) = state
        .with_store(move |s| {
            let job = s.describe_job(&job_id)?;
            let before = q
                .before_substitution
                .then(|| s.job_document_text(&job_id, true))
                .transpose()?;
            Ok((job, before))
        })
        .await?;
    if let Some(text) = before {
        job.document = serde_json::from_str(&text)
            .map_err(|e| ApiError::Internal(format!("a stored job document is not JSON: {e}")))?;
    }
    let view = JobView {
        job_arn: super::job_arn(&job.job_id),
        scheduled_job_rollouts: super::rollout::scheduled_job_rollouts(&job, state.now()),
        job,
    };
    Ok(Json(json!({ "job": view })))
}

/// ListJobs' query (botocore `iot` ListJobsRequest).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    target_selection: Option<String>,
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    thing_group_name: Option<String>,
    #[serde(default)]
    thing_group_id: Option<String>,
    #[serde(default)]
    namespace_id: Option<String>,
    /// jobhost's own (ListJobs has no order parameter): `DESCENDING` lists
    /// the newest jobs first, `ASCENDING` (the default) as AWS does.
    #[serde(default)]
    sort_order: Option<String>,
}

/// `GET /jobs`: ListJobs, oldest first (newest first with jobhost's
/// `sortOrder=DESCENDING`), `status`, `targetSelection`, `thingGroupName`
/// and `thingGroupId` applied, `maxResults`/`nextToken` paging.
pub(super) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    unsupported::refuse_if_set("ListJobs", "namespaceId", &q.namespace_id)?;
    let filter = JobFilter {
        status: q
            .status
            .map(|s| s.parse::<JobStatus>())
            .transpose()
            .map_err(ApiError::InvalidRequest)?,
        target_selection: q
            .target_selection
            .map(|s| s.parse::<TargetSelection>())
            .transpose()
            .map_err(ApiError::InvalidRequest)?,
        thing_group_name: q.thing_group_name,
        thing_group_id: q.thing_group_id,
    };
    let (list, order) = match q.sort_order.as_deref() {
        None | Some("ASCENDING") => (List::Jobs, JobOrder::OldestFirst),
        Some("DESCENDING") => (List::JobsNewestFirst, JobOrder::NewestFirst),
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "ListJobs: sortOrder {other:?} is neither ASCENDING nor DESCENDING"
            )))
        }
    };
    let page = list.job_page(q.next_token.as_deref(), q.max_results)?;
    let page = state
        .with_store(move |s| s.list_jobs_in(&filter, page, order))
        .await?;
    let jobs: Vec<JobSummaryView> = page
        .items
        .into_iter()
        .map(|summary| JobSummaryView {
            job_arn: super::job_arn(&summary.job_id),
            summary,
        })
        .collect();
    let next = page.next.map(|c| list.job_token(c));
    Ok(Json(pages::reply("jobs", jobs, next)))
}

/// `GET /jobs/{jobId}/job-document?beforeSubstitution=`: GetJobDocument.
/// As in AWS the document is the string CreateJob was given, byte for
/// byte, and its presigned-URL placeholders are left as they are: only
/// devices get signed URLs.
pub(super) async fn document(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    Query(q): Query<DocumentQuery>,
) -> Result<Json<Value>, ApiError> {
    let text = state
        .with_store(move |s| s.job_document_text(&job_id, q.before_substitution))
        .await?;
    Ok(Json(json!({ "document": text })))
}

/// CancelJobRequest's body members.
const CANCEL_SHAPE: Shape = Shape {
    operation: "CancelJob",
    fields: &["reasonCode", "comment"],
};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    reason_code: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

/// `PUT /jobs/{jobId}/cancel?force=`: CancelJob.
pub(super) async fn cancel(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    Query(ForceQuery { force }): Query<ForceQuery>,
    body: Bytes,
) -> Result<Json<JobRef>, ApiError> {
    let body: CancelBody = optional_strict_body(&body, &CANCEL_SHAPE)?;
    let now = state.now();
    let (changes, job) = state
        .with_store(move |s| {
            let changes = s.cancel_job(
                &job_id,
                force,
                body.reason_code.as_deref(),
                body.comment.as_deref(),
                now,
            )?;
            Ok((changes, s.describe_job(&job_id)?))
        })
        .await?;
    tracing::info!(job_id = %job.job_id, force, "job canceled");
    state.publish(changes);
    Ok(Json(JobRef::of(&job)))
}

/// `DELETE /jobs/{jobId}?force=`: DeleteJob. Like AWS, an empty 200.
pub(super) async fn delete(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    unsupported::refuse_if_set("DeleteJob", "namespaceId", &q.namespace_id)?;
    let (now, force) = (state.now(), q.force);
    let id = job_id.clone();
    let changes = state
        .with_store(move |s| s.delete_job(&id, force, now))
        .await?;
    tracing::info!(%job_id, force, "job deleted");
    state.publish(changes);
    Ok(StatusCode::OK)
}
