//! CreateJob from a custom job template (`jobTemplateArn` naming one that
//! CreateJobTemplate made): the job starts with the template's document
//! and settings, and what CreateJob gives itself replaces them.
//!
//! Which fields may be given beside `jobTemplateArn`: AWS documents none
//! of this precisely, so this service takes the reading that never
//! changes a job behind its operator's back:
//!
//! - the document comes from the template only: `document` with
//!   `jobTemplateArn` is refused (as with a managed template);
//! - `description`, `timeoutConfig`, `presignedUrlConfig`,
//!   `jobExecutionsRolloutConfig`, `abortConfig` and
//!   `jobExecutionsRetryConfig`, when given, replace the template's whole
//!   (a `timeoutConfig` without a timeout means "no timeout");
//! - `schedulingConfig` adds a start and end time; its
//!   `maintenanceWindows` replace the template's, and without them the
//!   template's windows stay (`store::TemplateSettings::job_configs`);
//! - `documentParameters` fill the document's placeholders
//!   ([`crate::templates::custom::document`]).
//!
//! The job keeps copies: it runs on unchanged when the template is deleted.

use super::super::templates::api_error;
use super::super::{ApiError, ApiState};
use crate::arn::job_template_arn;
use crate::rollout::JobConfigs;
use crate::store::{FromTemplate, JobDocument, JobTemplate, PresignedUrlConfig, StoreError};
use crate::templates::custom;
use std::collections::BTreeMap;

/// A custom template CreateJob names, as loaded.
pub(super) struct CustomTemplate {
    template: JobTemplate,
}

impl CustomTemplate {
    /// The custom template `reference` (CreateJob's `jobTemplateArn`)
    /// names; None when there is no reference or it names an AWS managed
    /// template. No such template is 404 ResourceNotFoundException.
    pub async fn load(state: &ApiState, reference: Option<&str>) -> Result<Option<Self>, ApiError> {
        let Some(reference) = reference else {
            return Ok(None);
        };
        let Some(id) = custom::custom_id(reference).map_err(api_error)? else {
            return Ok(None);
        };
        let found = state
            .with_store({
                let id = id.clone();
                move |s| match s.describe_job_template(&id) {
                    Ok(t) => Ok(Some(t)),
                    Err(StoreError::NotFound(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        match found {
            Some(template) => Ok(Some(Self { template })),
            None => Err(api_error(custom::not_found(reference, &id))),
        }
    }

    /// The job's rollout, abort, scheduling and retry configurations:
    /// CreateJob's own (`given`, checked) over the template's.
    pub fn configs(&self, given: JobConfigs) -> JobConfigs {
        self.template.settings.job_configs(given)
    }

    /// The job's document with `parameters` substituted, and what the job
    /// records of its template (DescribeJob's `jobTemplateArn` and
    /// `documentParameters`, `beforeSubstitution=true`'s document).
    pub fn document(
        &self,
        parameters: Option<BTreeMap<String, String>>,
    ) -> Result<(JobDocument, FromTemplate), ApiError> {
        let parameters = parameters.unwrap_or_default();
        let t = &self.template;
        let document = match custom::document(&t.job_template_id, &t.document, &parameters)
            .map_err(api_error)?
        {
            None => t.document.clone(),
            Some(filled) => serde_json::to_string(&filled).map_err(|e| {
                ApiError::Internal(format!("cannot serialise the template document: {e}"))
            })?,
        };
        let from = FromTemplate {
            arn: job_template_arn(&t.job_template_id),
            parameters,
            document: t.document.clone(),
        };
        Ok((JobDocument::Text(document), from))
    }

    /// The job's description: CreateJob's, else the template's.
    pub fn description(&self, given: Option<String>) -> Option<String> {
        given.or_else(|| Some(self.template.description.clone()))
    }

    /// The job's in-progress timeout: `given` is CreateJob's
    /// `timeoutConfig` (Some even when it sets no timeout), else the
    /// template's.
    pub fn timeout(&self, given: Option<Option<u32>>) -> Option<u32> {
        given.unwrap_or(self.template.settings.in_progress_timeout_minutes)
    }

    /// The job's `presignedUrlConfig`: CreateJob's, else the template's.
    pub fn presigned_url_config(
        &self,
        given: Option<PresignedUrlConfig>,
    ) -> Option<PresignedUrlConfig> {
        given.or_else(|| self.template.settings.presigned_url_config.clone())
    }
}
