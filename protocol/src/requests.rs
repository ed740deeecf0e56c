//! What a device publishes (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>). Every field but `status` on an
//! update is optional, as in AWS.

use crate::execution::lenient_u64_opt;
use crate::JobExecutionStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// statusDetails as a device sent them: not yet checked against the limits
/// (the service must *reject* invalid details, not repair them).
pub type RawStatusDetails = BTreeMap<String, String>;

/// GetPendingJobExecutions (`jobs/get`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPendingRequest {
    /// Echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// StartNextPendingJobExecution (`jobs/start-next`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartNextRequest {
    /// Set on the execution if it moves QUEUED → IN_PROGRESS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<RawStatusDetails>,
    /// Starts (or with -1 discards) the step timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout_in_minutes: Option<i64>,
    /// Echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// DescribeJobExecution (`jobs/{jobId}/get`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeRequest {
    /// Which execution; the latest when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_u64_opt"
    )]
    pub execution_number: Option<u64>,
    /// Defaults to true over MQTT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_job_document: Option<bool>,
    /// Echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// UpdateJobExecution (`jobs/{jobId}/update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    /// Required: IN_PROGRESS, SUCCEEDED, FAILED or REJECTED.
    pub status: JobExecutionStatus,
    /// Replaces the stored details when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<RawStatusDetails>,
    /// Optimistic concurrency: rejected with VersionMismatch unless equal.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_u64_opt"
    )]
    pub expected_version: Option<u64>,
    /// Which execution; the latest when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_u64_opt"
    )]
    pub execution_number: Option<u64>,
    /// Return the new state in the reply (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_job_execution_state: Option<bool>,
    /// Return the document in the reply (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_job_document: Option<bool>,
    /// Starts, replaces or (-1) discards the step timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout_in_minutes: Option<i64>,
    /// Echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

impl UpdateRequest {
    /// An update to `status` with everything else unset.
    pub fn new(status: JobExecutionStatus) -> Self {
        Self {
            status,
            status_details: None,
            expected_version: None,
            execution_number: None,
            include_job_execution_state: None,
            include_job_document: None,
            step_timeout_in_minutes: None,
            client_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_serialises_only_what_is_set() {
        let mut u = UpdateRequest::new(JobExecutionStatus::InProgress);
        u.expected_version = Some(3);
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"status":"IN_PROGRESS","expectedVersion":3}"#
        );
    }

    #[test]
    fn embedded_c_style_string_versions_are_accepted() {
        let u: UpdateRequest = serde_json::from_str(
            r#"{"status":"SUCCEEDED","expectedVersion":"2","executionNumber":"1"}"#,
        )
        .unwrap();
        assert_eq!((u.expected_version, u.execution_number), (Some(2), Some(1)));
    }
}
