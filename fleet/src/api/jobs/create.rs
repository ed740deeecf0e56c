//! CreateJob (`PUT /jobs/{jobId}`): the document inline, an AWS managed
//! template (`jobTemplateArn` + `documentParameters`, see
//! [`crate::templates`]), or a custom template (`super::custom`). The
//! body is parsed strictly: every member of AWS's CreateJobRequest is
//! implemented here or refused by name (`super::super::unsupported`), and
//! anything else is refused too. Code-sign placeholders in the document
//! are replaced here, once ([`crate::code_signing`]).

use super::super::extract::{strict_body, Path, Shape};
use super::super::views::JobRef;
use super::super::{ApiError, ApiState};
use super::custom::CustomTemplate;
use crate::code_signing::{self, CodeSignError};
use crate::rollout::RawConfigs;
use crate::store::{CreateJob, FromTemplate, JobDocument, PresignedUrlConfig, TargetSelection};
use crate::templates;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use std::collections::BTreeMap;

/// CreateJobRequest's body members (botocore `iot` 2015-05-28).
const SHAPE: Shape = Shape {
    operation: "CreateJob",
    fields: &[
        "targets",
        "documentSource",
        "document",
        "description",
        "presignedUrlConfig",
        "targetSelection",
        "jobExecutionsRolloutConfig",
        "abortConfig",
        "timeoutConfig",
        "tags",
        "namespaceId",
        "jobTemplateArn",
        "jobExecutionsRetryConfig",
        "documentParameters",
        "schedulingConfig",
        "destinationPackageVersions",
    ],
};

/// The implemented part of CreateJob's body. AWS sends `document` as a
/// string holding JSON, kept verbatim; an object is accepted too, for
/// hand-written requests. Instead of a document: a managed template's
/// `jobTemplateArn` (or bare name) and its `documentParameters`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    targets: Vec<String>,
    #[serde(default)]
    document: Option<JobDocument>,
    #[serde(default)]
    job_template_arn: Option<String>,
    #[serde(default)]
    document_parameters: Option<BTreeMap<String, String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    timeout_config: Option<TimeoutConfig>,
    #[serde(default)]
    presigned_url_config: Option<PresignedUrlConfig>,
    #[serde(default)]
    target_selection: Option<String>,
    // Read by `api::rollout`, so that each refusal names its field.
    #[serde(default)]
    job_executions_rollout_config: Option<serde_json::Value>,
    #[serde(default)]
    abort_config: Option<serde_json::Value>,
    #[serde(default)]
    scheduling_config: Option<serde_json::Value>,
    #[serde(default)]
    job_executions_retry_config: Option<serde_json::Value>,
}

/// `timeoutConfig`, in CreateJob, UpdateJob and CreateJobTemplate.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(in crate::api) struct TimeoutConfig {
    #[serde(default)]
    pub in_progress_timeout_in_minutes: Option<u32>,
}

/// `PUT /jobs/{jobId}`: CreateJob. Notifies every thing that got an
/// execution (thing targets, and the members of target groups).
pub(in crate::api) async fn create(
    State(state): State<ApiState>,
    Path(job_id): Path<String>,
    body: Bytes,
) -> Result<Json<JobRef>, ApiError> {
    let body: Body = strict_body(&body, &SHAPE)?;
    let target_selection = body
        .target_selection
        .as_deref()
        .map(str::parse::<TargetSelection>)
        .transpose()
        .map_err(ApiError::InvalidRequest)?
        .unwrap_or_default();
    let now = state.now();
    let configs = super::super::rollout::configs(
        RawConfigs {
            rollout: body.job_executions_rollout_config.as_ref(),
            abort: body.abort_config.as_ref(),
            scheduling: body.scheduling_config.as_ref(),
            retry: body.job_executions_retry_config.as_ref(),
        },
        now,
    )?;
    if body.job_template_arn.is_none() && body.document_parameters.is_some() {
        return Err(ApiError::InvalidRequest(
            "documentParameters go with a job template's jobTemplateArn".into(),
        ));
    }
    let custom = CustomTemplate::load(&state, body.job_template_arn.as_deref()).await?;
    let configs = match &custom {
        Some(custom) => custom.configs(configs),
        None => configs,
    };
    let (document, description, template) = match (body.document, body.job_template_arn, &custom) {
        (Some(_), Some(_), _) => {
            return Err(ApiError::InvalidRequest(
                "give either `document` or `jobTemplateArn`, not both".into(),
            ))
        }
        (None, Some(_), Some(custom)) => {
            let (document, from) = custom.document(body.document_parameters)?;
            (document, custom.description(body.description), Some(from))
        }
        (None, Some(arn), None) => {
            let template = templates::lookup(&arn).map_err(super::super::templates::api_error)?;
            let parameters = body.document_parameters.unwrap_or_default();
            let filled = template
                .document(&parameters)
                .map_err(super::super::templates::api_error)?;
            let text = |v: &serde_json::Value| {
                serde_json::to_string(v).map_err(|e| {
                    ApiError::Internal(format!("cannot serialise the template document: {e}"))
                })
            };
            let from = FromTemplate {
                arn: template.arn(),
                parameters,
                document: text(&template.raw_document())?,
            };
            // As AWS does: the template's description unless one is given.
            let description = body
                .description
                .or_else(|| Some(template.description.to_owned()));
            (JobDocument::Text(text(&filled)?), description, Some(from))
        }
        (Some(document), None, _) => (document, body.description, None),
        (None, None, _) => {
            return Err(ApiError::InvalidRequest(
                "a job needs a `document`, or a job template's `jobTemplateArn` \
                 (with `documentParameters`)"
                    .into(),
            ))
        }
    };
    let document = code_sign(&state, document).await?;
    let timeout = body
        .timeout_config
        .map(|t| t.in_progress_timeout_in_minutes);
    let req = CreateJob {
        job_id,
        targets: body.targets,
        target_selection,
        document,
        description,
        in_progress_timeout_minutes: match &custom {
            Some(custom) => custom.timeout(timeout),
            None => timeout.flatten(),
        },
        presigned_url_config: match &custom {
            Some(custom) => custom.presigned_url_config(body.presigned_url_config),
            None => body.presigned_url_config,
        },
        template,
    };
    let (job, changes) = state
        .with_store(move |s| s.create_job_with(&req, &configs, now))
        .await?;
    tracing::info!(
        job_id = %job.job_id,
        targets = job.targets.len(),
        things = changes.things.len(),
        "job created"
    );
    // The things that got an execution; a staged or scheduled rollout's
    // others are notified as it releases them.
    state.publish(changes);
    Ok(Json(JobRef::of(&job)))
}

/// `document` with its code-sign placeholders replaced by the artifacts'
/// signatures; a placeholder for an artifact that is missing or unsigned
/// is 400, naming it.
async fn code_sign(state: &ApiState, document: JobDocument) -> Result<JobDocument, ApiError> {
    let text = match &document {
        JobDocument::Text(text) => text.clone(),
        JobDocument::Json(value) => value.to_string(),
    };
    let artifacts = std::sync::Arc::clone(&state.artifacts);
    let substituted =
        tokio::task::spawn_blocking(move || code_signing::substitute(&text, &artifacts))
            .await
            .map_err(|e| ApiError::Internal(format!("the code-signing task failed: {e}")))?;
    match substituted {
        Ok(Some(text)) => Ok(JobDocument::Text(text)),
        Ok(None) => Ok(document),
        Err(CodeSignError::Artifact { url, source }) => {
            Err(match super::super::artifacts::artifact_error(source) {
                ApiError::NotFound(m) | ApiError::InvalidRequest(m) => {
                    ApiError::InvalidRequest(format!("code-sign placeholder for {url}: {m}"))
                }
                other => other,
            })
        }
        Err(e) => Err(ApiError::InvalidRequest(e.to_string())),
    }
}
