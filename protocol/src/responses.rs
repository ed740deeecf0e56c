//! What the service publishes: accepted replies and notifications
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>,
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>).

use crate::execution::{JobExecution, JobExecutionState, JobExecutionSummary, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `jobs/get/accepted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPendingAccepted {
    /// IN_PROGRESS executions.
    #[serde(default)]
    pub in_progress_jobs: Vec<JobExecutionSummary>,
    /// QUEUED executions, oldest first.
    #[serde(default)]
    pub queued_jobs: Vec<JobExecutionSummary>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub timestamp: Timestamp,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/start-next/accepted` and `jobs/{jobId}/get/accepted`: `execution`
/// is absent when nothing is pending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionAccepted {
    /// The execution, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<JobExecution>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub timestamp: Timestamp,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/{jobId}/update/accepted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAccepted {
    /// Present when the request asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_state: Option<JobExecutionState>,
    /// Present when the request asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_document: Option<serde_json::Value>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub timestamp: Timestamp,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `jobs/notify-next`: sent when the head of the thing's queue changes;
/// no `execution` when the queue became empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyNext {
    /// Seconds since the epoch.
    #[serde(default)]
    pub timestamp: Timestamp,
    /// The new head, with its document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<JobExecution>,
}

/// `jobs/notify`: the pending list changed. `jobs` maps `IN_PROGRESS` and
/// `QUEUED` to summaries; an empty queue is `{}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    /// Seconds since the epoch.
    #[serde(default)]
    pub timestamp: Timestamp,
    /// Pending executions by status.
    #[serde(default)]
    pub jobs: BTreeMap<String, Vec<JobExecutionSummary>>,
}

impl Notify {
    /// Whether `job_id` is still listed (IN_PROGRESS or QUEUED).
    pub fn lists(&self, job_id: &str) -> bool {
        self.jobs.values().flatten().any(|s| s.job_id == job_id)
    }
}
