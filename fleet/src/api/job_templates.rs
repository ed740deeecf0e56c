//! Custom job template routes: CreateJobTemplate, DescribeJobTemplate,
//! ListJobTemplates and DeleteJobTemplate, at AWS's paths and in AWS's
//! shapes (botocore `iot` 2015-05-28). The templates are kept by the store
//! ([`crate::store::JobTemplate`]); CreateJob makes jobs from them
//! (`jobs::custom`). AWS's managed templates are `templates`, at
//! `/managed-job-templates`, as in AWS: this list has only custom ones.

use super::extract::{strict_body, Path, Query, Shape};
use super::jobs::TimeoutConfig;
use super::pages::{self, List};
use super::{ApiError, ApiState};
use crate::arn::job_template_arn;
use crate::rollout::{ConfigError, JobConfigs, RawConfigs};
use crate::store::{
    CreateJobTemplate, JobDocument, JobTemplate, PresignedUrlConfig, TemplateSettings,
    TemplateSource, TemplateSummary,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// CreateJobTemplateRequest's body members (the id is in the path).
const SHAPE: Shape = Shape {
    operation: "CreateJobTemplate",
    fields: &[
        "jobArn",
        "documentSource",
        "document",
        "description",
        "presignedUrlConfig",
        "jobExecutionsRolloutConfig",
        "abortConfig",
        "timeoutConfig",
        "tags",
        "jobExecutionsRetryConfig",
        "maintenanceWindows",
        "destinationPackageVersions",
    ],
};

/// The implemented part of CreateJobTemplate's body: `documentSource`,
/// `tags` and `destinationPackageVersions` are refused by name before it
/// is read (`unsupported`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    /// Required, as in AWS's model.
    description: String,
    #[serde(default)]
    document: Option<JobDocument>,
    #[serde(default)]
    job_arn: Option<String>,
    #[serde(default)]
    presigned_url_config: Option<PresignedUrlConfig>,
    #[serde(default)]
    timeout_config: Option<TimeoutConfig>,
    // Read by `crate::rollout`, as CreateJob's are, so that each refusal
    // names its field.
    #[serde(default)]
    job_executions_rollout_config: Option<Value>,
    #[serde(default)]
    abort_config: Option<Value>,
    #[serde(default)]
    job_executions_retry_config: Option<Value>,
    #[serde(default)]
    maintenance_windows: Option<Value>,
}

/// CreateJobTemplate's reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateRef {
    job_template_arn: String,
    job_template_id: String,
}

/// DescribeJobTemplate's reply: the template with its ARN.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Described {
    job_template_arn: String,
    #[serde(flatten)]
    template: JobTemplate,
}

/// An entry of ListJobTemplates (`JobTemplateSummary`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    job_template_arn: String,
    #[serde(flatten)]
    summary: TemplateSummary,
}

/// `PUT /job-templates/{jobTemplateId}`: CreateJobTemplate, from a
/// `document` or from the job `jobArn` names (its document and settings
/// copied; the settings given here replace the job's). An id in use is
/// 409 ConflictException, as AWS's model has it.
pub(super) async fn create(
    State(state): State<ApiState>,
    Path(template_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Body = strict_body(&body, &SHAPE)?;
    let configs = template_configs(&body, state.now())?;
    let source = match (body.document, body.job_arn) {
        (Some(document), None) => TemplateSource::Document(document),
        (None, Some(arn)) => TemplateSource::Job(job_id_of(&arn)?.to_owned()),
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidRequest(
                "CreateJobTemplate: give either `document` or `jobArn`, not both".into(),
            ))
        }
        (None, None) => {
            return Err(ApiError::InvalidRequest(
                "CreateJobTemplate: a template needs a `document`, or the `jobArn` of a job \
                 to copy"
                    .into(),
            ))
        }
    };
    let req = CreateJobTemplate {
        job_template_id: template_id,
        description: body.description,
        source,
        settings: TemplateSettings {
            presigned_url_config: body.presigned_url_config,
            in_progress_timeout_minutes: body
                .timeout_config
                .and_then(|t| t.in_progress_timeout_in_minutes),
            job_executions_rollout_config: configs.rollout,
            abort_config: configs.abort,
            job_executions_retry_config: configs.retry,
            maintenance_windows: configs
                .scheduling
                .map(|s| s.maintenance_windows)
                .unwrap_or_default(),
        },
    };
    let now = state.now();
    let template = state
        .with_store(move |s| s.create_job_template(&req, now))
        .await?;
    tracing::info!(template_id = %template.job_template_id, "job template created");
    let reply = TemplateRef {
        job_template_arn: job_template_arn(&template.job_template_id),
        job_template_id: template.job_template_id,
    };
    Ok(Json(json!(reply)))
}

/// The rollout, abort, retry and window configurations of a
/// CreateJobTemplate, read and checked by CreateJob's own reader: the
/// windows as a `schedulingConfig` with only `maintenanceWindows`, so a
/// refusal names `maintenanceWindows` as this request has it.
fn template_configs(body: &Body, now: i64) -> Result<JobConfigs, ApiError> {
    let scheduling = body
        .maintenance_windows
        .as_ref()
        .map(|w| json!({ "maintenanceWindows": w }));
    let raw = RawConfigs {
        rollout: body.job_executions_rollout_config.as_ref(),
        abort: body.abort_config.as_ref(),
        scheduling: scheduling.as_ref(),
        retry: body.job_executions_retry_config.as_ref(),
    };
    JobConfigs::from_json(raw, now).map_err(|e| {
        let path = e.path.strip_prefix("schedulingConfig.").unwrap_or(&e.path);
        ApiError::InvalidRequest(ConfigError::new(path, e.message).to_string())
    })
}

/// The job id in a job ARN, `arn:<partition>:iot:<region>:<account>:job/<id>`.
fn job_id_of(arn: &str) -> Result<&str, ApiError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts[..] {
        ["arn", partition, "iot", _, _, resource] if partition.starts_with("aws") => {
            resource.strip_prefix("job/")
        }
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "CreateJobTemplate: jobArn {arn:?} is not a job ARN \
             (arn:aws:iot:<region>:<account>:job/<jobId>)"
        ))
    })
}

/// `GET /job-templates/{jobTemplateId}`: DescribeJobTemplate.
pub(super) async fn describe(
    State(state): State<ApiState>,
    Path(template_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let template = state
        .with_store(move |s| s.describe_job_template(&template_id))
        .await?;
    let described = Described {
        job_template_arn: job_template_arn(&template.job_template_id),
        template,
    };
    Ok(Json(json!(described)))
}

/// ListJobTemplates' query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ListQuery {
    #[serde(default)]
    max_results: Option<u32>,
    #[serde(default)]
    next_token: Option<String>,
}

/// `GET /job-templates?maxResults=&nextToken=`: ListJobTemplates, oldest
/// first.
pub(super) async fn list(
    State(state): State<ApiState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let list = List::JobTemplates;
    let page = list.template_page(q.next_token.as_deref(), q.max_results)?;
    let page = state
        .with_store(move |s| s.list_job_templates_page(page))
        .await?;
    let templates: Vec<Summary> = page
        .items
        .into_iter()
        .map(|summary| Summary {
            job_template_arn: job_template_arn(&summary.job_template_id),
            summary,
        })
        .collect();
    let next = page.next.map(|c| list.template_token(c));
    Ok(Json(pages::reply("jobTemplates", templates, next)))
}

/// `DELETE /job-templates/{jobTemplateId}`: DeleteJobTemplate; an empty
/// 200, as AWS answers. The jobs made from it are not touched.
pub(super) async fn delete(
    State(state): State<ApiState>,
    Path(template_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = template_id.clone();
    state
        .with_store(move |s| s.delete_job_template(&id))
        .await?;
    tracing::info!(%template_id, "job template deleted");
    Ok(StatusCode::OK)
}
