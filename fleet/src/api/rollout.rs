//! CreateJob's `jobExecutionsRolloutConfig`, `abortConfig`,
//! `schedulingConfig` and `jobExecutionsRetryConfig` (read and checked by
//! [`crate::rollout`]), UpdateJob's `jobExecutionsRetryConfig`, and
//! DescribeJob's `scheduledJobRollouts`, which depends on the time of the
//! request.

use super::ApiError;
use crate::rollout::datetime::format_utc;
use crate::rollout::{JobConfigs, RawConfigs, RetryConfig};
use crate::store::{Job, JobStatus};
use serde::Serialize;
use serde_json::Value;

/// How many maintenance windows `scheduledJobRollouts` lists: "the next
/// seven maintenance window occurrences" (the `Job` shape of the botocore
/// `iot` model).
const SCHEDULED_ROLLOUTS: usize = 7;

/// The configurations of a CreateJob body, checked at `now`; a refusal
/// is a 400 that names the field.
pub(super) fn configs(raw: RawConfigs<'_>, now: i64) -> Result<JobConfigs, ApiError> {
    JobConfigs::from_json(raw, now).map_err(|e| ApiError::InvalidRequest(e.to_string()))
}

/// UpdateJob's `jobExecutionsRetryConfig`: every `numberOfRetries` 0; a
/// refusal is a 400 that names the field.
pub(super) fn retry_update(v: &Value) -> Result<RetryConfig, ApiError> {
    RetryConfig::from_update_json(v).map_err(|e| ApiError::InvalidRequest(e.to_string()))
}

/// An entry of `scheduledJobRollouts`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScheduledJobRollout {
    /// When the window opens, `YYYY-MM-DDTHH:MM` in UTC.
    pub start_time: String,
}

/// The next maintenance windows of a job still to run, from `now`; None
/// for a job without maintenance windows or one that has ended.
pub(super) fn scheduled_job_rollouts(job: &Job, now: i64) -> Option<Vec<ScheduledJobRollout>> {
    let scheduling = job.plan.scheduling_config.as_ref()?;
    let running = matches!(job.status, JobStatus::Scheduled | JobStatus::InProgress);
    if !running || scheduling.maintenance_windows.is_empty() {
        return None;
    }
    Some(
        scheduling
            .next_windows(now, SCHEDULED_ROLLOUTS)
            .into_iter()
            .map(|at| ScheduledJobRollout {
                start_time: format_utc(at),
            })
            .collect(),
    )
}
