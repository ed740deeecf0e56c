//! Job routes: CreateJob, DescribeJob, ListJobs, GetJobDocument, CancelJob
//! and DeleteJob, at AWS's paths. CreateJob takes the document inline, or
//! an AWS managed template (`jobTemplateArn` + `documentParameters`, see
//! [`crate::templates`]).

use super::extract::{json_body, optional_json_body, Force, Path, Query};
use super::views::{JobRef, JobSummaryView, JobView};
use super::{ApiError, ApiState};
use crate::store::{CreateJob, JobFilter, JobStatus, TargetSelection};
use crate::templates;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// CreateJob's body. AWS sends `document` as a string holding JSON; an
/// object is accepted too, for hand-written requests. Instead of a
/// document: a managed template's `jobTemplateArn` (or bare name) and its
/// `documentParameters`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateJobBody {
    targets: Vec<String>,
    #[serde(default)]
    document: Option<Value>,
    #[serde(default)]
    job_template_arn: Option<String>,
    #[serde(default)]
    document_parameters: Option<BTreeMap<String, String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    timeout_config: Option<TimeoutConfig>,
    #[serde(default)]
    target_selection: Option<String>,
    // Recognised only to refuse it clearly instead of ignoring it.
    #[serde(default)]
    document_source: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeoutConfig {
    #[serde(default)]
    in_progress_timeout_in_minutes: Option<u32>,
}

/// `PUT /jobs/{jobId}`: CreateJob. Notifies every target.
pub(super) async fn create(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    body: Bytes,
) -> Result<Json<JobRef>, ApiError> {
    let body: CreateJobBody = json_body(&body)?;
    if body.document_source.is_some() {
        return Err(ApiError::InvalidRequest(
            "documentSource is not supported: send the document inline in `document`".into(),
        ));
    }
    let target_selection = body
        .target_selection
        .as_deref()
        .map(str::parse::<TargetSelection>)
        .transpose()
        .map_err(ApiError::InvalidRequest)?
        .unwrap_or_default();
    if body.job_template_arn.is_none() && body.document_parameters.is_some() {
        return Err(ApiError::InvalidRequest(
            "documentParameters go with an AWS managed template's jobTemplateArn".into(),
        ));
    }
    let (document, description) = match (body.document, body.job_template_arn) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidRequest(
                "give either `document` or `jobTemplateArn`, not both".into(),
            ))
        }
        (None, Some(arn)) => {
            let template = templates::lookup(&arn).map_err(super::templates::api_error)?;
            let parameters = body.document_parameters.unwrap_or_default();
            let document = template
                .document(&parameters)
                .map_err(super::templates::api_error)?;
            // As AWS does: the template's description unless one is given.
            let description = body
                .description
                .or_else(|| Some(template.description.to_owned()));
            (document, description)
        }
        (Some(Value::String(text)), None) => {
            let document = serde_json::from_str(&text).map_err(|e| {
                ApiError::InvalidRequest(format!("the job document is not valid JSON: {e}"))
            })?;
            (document, body.description)
        }
        (Some(doc), None) => (doc, body.description),
        (None, None) => {
            return Err(ApiError::InvalidRequest(
                "a job needs a `document`, or an AWS managed template's `jobTemplateArn` \
                 (with `documentParameters`)"
                    .into(),
            ))
        }
    };
    let req = CreateJob {
        job_id,
        targets: body.targets,
        target_selection,
        document,
        description,
        in_progress_timeout_minutes: body
            .timeout_config
            .and_then(|t| t.in_progress_timeout_in_minutes),
    };
    let now = state.now();
    let (job, changes) = state
        .with_store(move |s| s.create_job_notifying(&req, now))
        .await?;
    tracing::info!(job_id = %job.job_id, targets = job.targets.len(), things = changes.things.len(), "job created");
    state.publish(changes);
    Ok(Json(JobRef::of(&job)))
}

/// `GET /jobs/{jobId}`: DescribeJob.
pub(super) async fn describe(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = state.with_store(move |s| s.describe_job(&job_id)).await?;
    let view = JobView {
        job_arn: super::job_arn(&job.job_id),
        job,
    };
    Ok(Json(json!({ "job": view })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    target_selection: Option<String>,
    #[serde(default)]
    thing_group_name: Option<String>,
    #[serde(default)]
    thing_group_id: Option<String>,
}

/// `GET /jobs?status=&targetSelection=&thingGroupName=&thingGroupId=`:
/// ListJobs, oldest first.
pub(super) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let jobs = state
        .with_store(move |s| s.list_jobs_matching(&filter))
        .await?;
    let jobs: Vec<JobSummaryView> = jobs
        .into_iter()
        .map(|summary| JobSummaryView {
            job_arn: super::job_arn(&summary.job_id),
            summary,
        })
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

/// `GET /jobs/{jobId}/job-document`: GetJobDocument. As in AWS the
/// document is a string and its presigned-URL placeholders are left as
/// they are: only devices get signed URLs.
pub(super) async fn document(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = state.with_store(move |s| s.describe_job(&job_id)).await?;
    let text = serde_json::to_string(&job.document)
        .map_err(|e| ApiError::Internal(format!("cannot serialise the job document: {e}")))?;
    Ok(Json(json!({ "document": text })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelBody {
    #[serde(default)]
    comment: Option<String>,
}

/// `PUT /jobs/{jobId}/cancel?force=`: CancelJob.
pub(super) async fn cancel(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    Query(Force { force }): Query<Force>,
    body: Bytes,
) -> Result<Json<JobRef>, ApiError> {
    let body: CancelBody = optional_json_body(&body)?;
    let now = state.now();
    let (changes, job) = state
        .with_store(move |s| {
            let changes = s.cancel_job(&job_id, force, body.comment.as_deref(), now)?;
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
    Query(Force { force }): Query<Force>,
) -> Result<StatusCode, ApiError> {
    let now = state.now();
    let id = job_id.clone();
    let changes = state
        .with_store(move |s| s.delete_job(&id, force, now))
        .await?;
    tracing::info!(%job_id, force, "job deleted");
    state.publish(changes);
    Ok(StatusCode::OK)
}
