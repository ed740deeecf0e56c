//! Custom job templates, as AWS IoT keeps them (CreateJobTemplate,
//! DescribeJobTemplate, ListJobTemplates, DeleteJobTemplate): a document
//! and the job settings that jobs made from the template start with.
//!
//! A job made from a template copies the document and the settings into
//! its own row (CreateJob with `jobTemplateArn`, in the API), so nothing
//! refers to a template afterwards: deleting one leaves its jobs as they
//! are. A template made from a job (`jobArn`) copies that job's document
//! and settings the same way, in one transaction.
//!
//! The configurations are checked by the code that checks CreateJob's
//! ([`crate::rollout::JobConfigs::from_json`], [`PresignedUrlConfig`],
//! the timeout and description rules of `control`): the API hands typed,
//! checked values here, as it does for CreateJob.

use super::control::{check_text, check_timeout, load_job};
use super::lists::{Page, PageRequest};
use super::types::{timeout_config, PresignedUrlConfig};
use super::{JobDocument, Store, StoreError};
use crate::rollout::config::MaintenanceWindow;
use crate::rollout::{AbortConfig, JobConfigs, RetryConfig, RolloutConfig, SchedulingConfig};
use jobhost_protocol::topics::is_valid_job_id;
use jobhost_protocol::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

/// What jobs made from a template start with besides the document: every
/// job setting of AWS's CreateJobTemplate, in AWS's shapes, each optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSettings {
    /// `presignedUrlConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned_url_config: Option<PresignedUrlConfig>,
    /// `timeoutConfig.inProgressTimeoutInMinutes`: 1..=10080.
    #[serde(
        default,
        rename = "timeoutConfig",
        with = "timeout_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub in_progress_timeout_minutes: Option<u32>,
    /// `jobExecutionsRolloutConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_rollout_config: Option<RolloutConfig>,
    /// `abortConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_config: Option<AbortConfig>,
    /// `jobExecutionsRetryConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_retry_config: Option<RetryConfig>,
    /// `maintenanceWindows`: a job's `schedulingConfig.maintenanceWindows`
    /// (a template has no start or end time: those are a job's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_windows: Vec<MaintenanceWindow>,
}

impl TemplateSettings {
    /// The settings with each one `given` has replacing this one's: how a
    /// CreateJob that names a template and a template made from a job take
    /// what their request sets over what they copy.
    fn overridden_by(self, given: &TemplateSettings) -> TemplateSettings {
        let given = given.clone();
        TemplateSettings {
            presigned_url_config: given.presigned_url_config.or(self.presigned_url_config),
            in_progress_timeout_minutes: given
                .in_progress_timeout_minutes
                .or(self.in_progress_timeout_minutes),
            job_executions_rollout_config: given
                .job_executions_rollout_config
                .or(self.job_executions_rollout_config),
            abort_config: given.abort_config.or(self.abort_config),
            job_executions_retry_config: given
                .job_executions_retry_config
                .or(self.job_executions_retry_config),
            maintenance_windows: if given.maintenance_windows.is_empty() {
                self.maintenance_windows
            } else {
                given.maintenance_windows
            },
        }
    }

    /// A job's rollout, abort, scheduling and retry configurations, from
    /// this template's with each one `given` (CreateJob's own, checked)
    /// taking its place. The template's maintenance windows go into the
    /// job's `schedulingConfig` unless CreateJob's has windows of its own:
    /// a `schedulingConfig` that only sets a start or end time keeps them,
    /// so that no job of the template is released outside its windows by
    /// an override that did not mention them.
    pub fn job_configs(&self, given: JobConfigs) -> JobConfigs {
        let scheduling = match given.scheduling {
            Some(s) if !s.maintenance_windows.is_empty() => Some(s),
            Some(s) => Some(SchedulingConfig {
                maintenance_windows: self.maintenance_windows.clone(),
                ..s
            }),
            None if self.maintenance_windows.is_empty() => None,
            None => Some(SchedulingConfig {
                start_time: None,
                end_time: None,
                end_behavior: None,
                maintenance_windows: self.maintenance_windows.clone(),
            }),
        };
        JobConfigs {
            rollout: given
                .rollout
                .or_else(|| self.job_executions_rollout_config.clone()),
            abort: given.abort.or_else(|| self.abort_config.clone()),
            scheduling,
            retry: given
                .retry
                .or_else(|| self.job_executions_retry_config.clone()),
        }
    }
}

/// A custom job template, as DescribeJobTemplate returns it (the API adds
/// `jobTemplateArn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplate {
    /// 1-64 of `[a-zA-Z0-9_-]`.
    pub job_template_id: String,
    /// Also the default description of its jobs.
    pub description: String,
    /// The document text, as given: AWS returns it as a string.
    pub document: String,
    /// When it was created (epoch seconds).
    pub created_at: Timestamp,
    /// What its jobs start with.
    #[serde(flatten)]
    pub settings: TemplateSettings,
}

/// A template as ListJobTemplates lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSummary {
    /// Its id.
    pub job_template_id: String,
    /// Its description.
    pub description: String,
    /// When it was created (epoch seconds).
    pub created_at: Timestamp,
}

/// Where ListJobTemplates resumes: the row id of the last template listed.
/// Row ids grow with creation and are never reused (the table is
/// AUTOINCREMENT), so the list is in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateCursor(pub i64);

/// Where a new template's document comes from (AWS: `document` or
/// `jobArn`).
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateSource {
    /// A document, as CreateJob takes one.
    Document(JobDocument),
    /// The job with this id: its document text and its settings are
    /// copied; the request's own settings replace the job's.
    Job(String),
}

/// A CreateJobTemplate request.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateJobTemplate {
    /// 1-64 of `[a-zA-Z0-9_-]`.
    pub job_template_id: String,
    /// At most 2028 characters, no control characters.
    pub description: String,
    /// The document, or the job to copy.
    pub source: TemplateSource,
    /// The settings given (checked by the caller as CreateJob's are).
    pub settings: TemplateSettings,
}

impl Store {
    /// CreateJobTemplate. An id in use is a Conflict (AWS's model gives
    /// CreateJobTemplate ConflictException for it); a `jobArn` of no job is
    /// NotFound.
    pub fn create_job_template(
        &mut self,
        req: &CreateJobTemplate,
        now: i64,
    ) -> Result<JobTemplate, StoreError> {
        if !is_valid_job_id(&req.job_template_id) {
            return Err(StoreError::InvalidRequest(format!(
                "job template id {:?} must be 1-64 characters of [a-zA-Z0-9_-]",
                req.job_template_id
            )));
        }
        check_text("description", &req.description)?;
        check_settings(&req.settings)?;
        let tx = self.write_tx()?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT id FROM job_templates WHERE template_id = ?1",
                [&req.job_template_id],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "a job template {} exists already",
                req.job_template_id
            )));
        }
        let (document, settings) = match &req.source {
            TemplateSource::Document(document) => (document.check()?, req.settings.clone()),
            TemplateSource::Job(job_id) => {
                let job = load_job(&tx, job_id)?;
                let document: String = tx.query_row(
                    "SELECT document FROM jobs WHERE job_id = ?1",
                    [job_id],
                    |r| r.get(0),
                )?;
                let copied = TemplateSettings {
                    presigned_url_config: job.presigned_url_config,
                    in_progress_timeout_minutes: job.in_progress_timeout_minutes,
                    job_executions_rollout_config: job.plan.job_executions_rollout_config,
                    abort_config: job.plan.abort_config,
                    job_executions_retry_config: job.plan.job_executions_retry_config,
                    maintenance_windows: job
                        .plan
                        .scheduling_config
                        .map(|s| s.maintenance_windows)
                        .unwrap_or_default(),
                };
                (document, copied.overridden_by(&req.settings))
            }
        };
        tx.execute(
            "INSERT INTO job_templates (template_id, description, document, created_at, \
             in_progress_timeout_minutes, presigned_url_config, rollout_config, abort_config, \
             retry_config, maintenance_windows) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                req.job_template_id,
                req.description,
                document,
                now,
                settings.in_progress_timeout_minutes,
                column(settings.presigned_url_config.as_ref())?,
                column(settings.job_executions_rollout_config.as_ref())?,
                column(settings.abort_config.as_ref())?,
                column(settings.job_executions_retry_config.as_ref())?,
                column(Some(&settings.maintenance_windows).filter(|w| !w.is_empty()))?,
            ],
        )?;
        let template = load(&tx, &req.job_template_id)?;
        tx.commit()?;
        Ok(template)
    }

    /// DescribeJobTemplate.
    pub fn describe_job_template(&self, template_id: &str) -> Result<JobTemplate, StoreError> {
        load(&self.conn, template_id)
    }

    /// One page of ListJobTemplates, oldest first.
    pub fn list_job_templates_page(
        &self,
        page: PageRequest<TemplateCursor>,
    ) -> Result<Page<TemplateSummary, TemplateCursor>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT template_id, description, created_at, id FROM job_templates \
             WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![page.after.map(|c| c.0), page.sql_limit()], |r| {
            let summary = TemplateSummary {
                job_template_id: r.get(0)?,
                description: r.get(1)?,
                created_at: r.get(2)?,
            };
            Ok((summary, TemplateCursor(r.get(3)?)))
        })?;
        let rows = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(page.page(rows, |(_, cursor)| *cursor).map(|(s, _)| s))
    }

    /// DeleteJobTemplate. The jobs made from it keep their documents and
    /// settings: they copied them.
    pub fn delete_job_template(&mut self, template_id: &str) -> Result<(), StoreError> {
        let deleted = self.conn.execute(
            "DELETE FROM job_templates WHERE template_id = ?1",
            [template_id],
        )?;
        if deleted == 0 {
            return Err(not_found(template_id));
        }
        Ok(())
    }
}

/// The rules CreateJob applies to the same settings (the rollout, abort,
/// retry and window configurations arrive checked, as CreateJob's do).
fn check_settings(settings: &TemplateSettings) -> Result<(), StoreError> {
    if let Some(c) = &settings.presigned_url_config {
        c.check()?;
    }
    if let Some(m) = settings.in_progress_timeout_minutes {
        check_timeout(m)?;
    }
    Ok(())
}

fn not_found(template_id: &str) -> StoreError {
    StoreError::NotFound(format!("job template {template_id}"))
}

/// A configuration column: AWS-shaped JSON, NULL when not set.
fn column<T: Serialize>(value: Option<&T>) -> Result<Option<String>, StoreError> {
    Ok(value.map(serde_json::to_string).transpose()?)
}

fn parse<T: serde::de::DeserializeOwned>(json: Option<String>) -> Result<Option<T>, StoreError> {
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

/// The template `template_id`, read inside the caller's transaction.
fn load(conn: &Connection, template_id: &str) -> Result<JobTemplate, StoreError> {
    let found = conn
        .query_row(
            "SELECT template_id, description, document, created_at, \
             in_progress_timeout_minutes, presigned_url_config, rollout_config, abort_config, \
             retry_config, maintenance_windows FROM job_templates WHERE template_id = ?1",
            [template_id],
            read_row,
        )
        .optional()?;
    let Some((template, columns)) = found else {
        return Err(not_found(template_id));
    };
    let [presigned, rollout, abort, retry, windows] = columns;
    Ok(JobTemplate {
        settings: TemplateSettings {
            presigned_url_config: parse(presigned)?,
            job_executions_rollout_config: parse(rollout)?,
            abort_config: parse(abort)?,
            job_executions_retry_config: parse(retry)?,
            maintenance_windows: parse(windows)?.unwrap_or_default(),
            ..template.settings
        },
        ..template
    })
}

type Columns = [Option<String>; 5];

fn read_row(r: &Row<'_>) -> rusqlite::Result<(JobTemplate, Columns)> {
    let template = JobTemplate {
        job_template_id: r.get(0)?,
        description: r.get(1)?,
        document: r.get(2)?,
        created_at: r.get(3)?,
        settings: TemplateSettings {
            in_progress_timeout_minutes: r.get(4)?,
            ..TemplateSettings::default()
        },
    };
    Ok((
        template,
        [r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?],
    ))
}
