//! Response shapes where the AWS control plane differs from the store's
//! records: ARNs next to ids, execution summaries nested under
//! `jobExecutionSummary`, and statusDetails nested as `detailsMap`.

use crate::store::{ExecutionRecord, Job, JobSummary};
use jobhost_protocol::{JobExecutionStatus, StatusDetails, Timestamp};
use serde::Serialize;

pub use crate::arn::{job_arn, thing_arn};

/// CreateJob's and CancelJob's reply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobRef {
    pub job_arn: String,
    pub job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl JobRef {
    pub fn of(job: &Job) -> Self {
        Self {
            job_arn: job_arn(&job.job_id),
            job_id: job.job_id.clone(),
            description: job.description.clone(),
        }
    }
}

/// A [`Job`] with its ARN, as DescribeJob nests it under `job`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobView {
    pub job_arn: String,
    #[serde(flatten)]
    pub job: Job,
    /// The next maintenance windows (`super::rollout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_job_rollouts: Option<Vec<super::rollout::ScheduledJobRollout>>,
}

/// A [`JobSummary`] with its ARN, as ListJobs lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobSummaryView {
    pub job_arn: String,
    #[serde(flatten)]
    pub summary: JobSummary,
}

/// `jobExecutionSummary` in both ListJobExecutions calls.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExecutionSummary {
    pub status: JobExecutionStatus,
    pub queued_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    pub last_updated_at: Timestamp,
    pub execution_number: u64,
    /// How many retries came before this execution, itself included: 0
    /// for the first execution, n for the n-th retry
    /// (`jobExecutionsRetryConfig`).
    pub retry_attempt: u32,
    /// Not in AWS's summary; the `expectedVersion` for CancelJobExecution.
    pub version_number: u64,
}

impl ExecutionSummary {
    fn of(r: &ExecutionRecord) -> Self {
        let e = &r.execution;
        Self {
            status: e.status,
            queued_at: e.queued_at,
            started_at: e.started_at,
            last_updated_at: e.last_updated_at,
            execution_number: e.execution_number,
            retry_attempt: r.retry_attempt,
            version_number: e.version_number,
        }
    }
}

/// An entry of ListJobExecutionsForJob.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ForJob {
    pub thing_arn: String,
    pub job_execution_summary: ExecutionSummary,
    /// jobhost's extension, only when the request asked for it
    /// (`includeStatusDetails=true`): the execution's statusDetails, so
    /// that a page of a large job needs no DescribeJobExecution per row.
    /// A request shaped as AWS's never gets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_details: Option<Details>,
}

impl ForJob {
    pub fn of(r: &ExecutionRecord) -> Self {
        Self {
            thing_arn: thing_arn(&r.thing_name),
            job_execution_summary: ExecutionSummary::of(r),
            status_details: None,
        }
    }

    /// The entry with jobhost's `statusDetails` extension.
    pub fn with_details(r: &ExecutionRecord) -> Self {
        Self {
            status_details: Some(Details {
                details_map: r.execution.status_details.clone().unwrap_or_default(),
            }),
            ..Self::of(r)
        }
    }
}

/// An entry of ListJobExecutionsForThing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ForThing {
    pub job_id: String,
    pub job_execution_summary: ExecutionSummary,
}

impl ForThing {
    pub fn of(r: &ExecutionRecord) -> Self {
        Self {
            job_id: r.execution.job_id.clone(),
            job_execution_summary: ExecutionSummary::of(r),
        }
    }
}

/// `statusDetails` in the control plane.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Details {
    pub details_map: StatusDetails,
}

/// DescribeJobExecution's `execution`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExecutionView {
    pub job_id: String,
    pub status: JobExecutionStatus,
    pub force_canceled: bool,
    pub status_details: Details,
    pub thing_arn: String,
    pub queued_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    pub last_updated_at: Timestamp,
    pub execution_number: u64,
    pub version_number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximate_seconds_before_timed_out: Option<i64>,
}

impl ExecutionView {
    pub fn of(r: ExecutionRecord, now: i64) -> Self {
        let e = r.execution;
        Self {
            job_id: e.job_id,
            status: e.status,
            force_canceled: r.force_canceled,
            status_details: Details {
                details_map: e.status_details.unwrap_or_default(),
            },
            thing_arn: thing_arn(&r.thing_name),
            queued_at: e.queued_at,
            started_at: e.started_at,
            last_updated_at: e.last_updated_at,
            execution_number: e.execution_number,
            version_number: e.version_number,
            approximate_seconds_before_timed_out: r.timeout_at.map(|t| (t - now).max(0)),
        }
    }
}
