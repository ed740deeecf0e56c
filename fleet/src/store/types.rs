//! The public records of the store. They serialise with the AWS IoT control
//! plane's field names (`jobId`, `createdAt`, `jobProcessDetails`, ...), so
//! that the HTTP API can return them as they are, inside the envelope AWS
//! uses (`{"job": ...}`, `{"jobs": [...]}`, ...).

use super::documents::{FromTemplate, JobDocument};
use super::StoreError;
use crate::rollout::{AbortConfig, RetryConfig, RolloutConfig, SchedulingConfig};
use jobhost_protocol::{ErrorCode, ErrorResponse, JobExecution, JobExecutionState, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// Things whose pending list (the set of their non-terminal executions, or
/// the status of one) may have changed: the service publishes `notify` and,
/// if the head moved, `notify-next` to each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// Thing names, sorted.
    pub things: BTreeSet<String>,
}

impl Changes {
    /// No thing changed.
    pub fn none() -> Self {
        Self::default()
    }

    /// Exactly `thing` changed.
    pub fn thing(thing: &str) -> Self {
        let mut c = Self::default();
        c.things.insert(thing.to_owned());
        c
    }

    /// Whether no thing changed.
    pub fn is_empty(&self) -> bool {
        self.things.is_empty()
    }

    /// Adds every thing of `other`.
    pub fn merge(&mut self, other: Changes) {
        self.things.extend(other.things);
    }
}

/// A device-plane rejection: the body of a `/rejected` reply, less the
/// `clientToken` and `timestamp` the service adds ([`Rejection::into_response`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{code}: {message}")]
pub struct Rejection {
    /// The AWS error code.
    pub code: ErrorCode,
    /// Why, for a human.
    pub message: String,
    /// The execution's current state: only for `VersionMismatch` and
    /// `InvalidStateTransition`, as in AWS
    /// (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-api.html#jobs-mqtt-error-response>).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_state: Option<JobExecutionState>,
}

impl Rejection {
    /// A rejection without an execution state.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            execution_state: None,
        }
    }

    /// The full `/rejected` payload.
    pub fn into_response(
        self,
        client_token: Option<String>,
        timestamp: Timestamp,
    ) -> ErrorResponse {
        ErrorResponse {
            code: self.code,
            message: self.message,
            client_token,
            timestamp,
            execution_state: self.execution_state,
        }
    }
}

/// Store failures seen by a device: a missing execution is
/// `ResourceNotFound`, a refused transition `InvalidStateTransition`, and a
/// database failure `InternalError`, the one code devices retry.
impl From<super::StoreError> for Rejection {
    fn from(e: super::StoreError) -> Self {
        use super::StoreError as E;
        let code = match &e {
            E::NotFound(_) => ErrorCode::ResourceNotFound,
            E::InvalidRequest(_) => ErrorCode::InvalidRequest,
            E::Conflict(_) | E::AlreadyExists(_) | E::InvalidStateTransition(_) => {
                ErrorCode::InvalidStateTransition
            }
            E::VersionConflict(_) => ErrorCode::VersionMismatch,
            E::LimitExceeded(_) | E::InvalidQuery(_) => ErrorCode::InvalidRequest,
            E::UnsupportedSchema { .. } | E::File { .. } | E::Sqlite(_) | E::Json(_) => {
                ErrorCode::InternalError
            }
        };
        Self::new(code, e.to_string())
    }
}

/// A database failure inside a device-plane call: `InternalError`.
impl From<rusqlite::Error> for Rejection {
    fn from(e: rusqlite::Error) -> Self {
        super::StoreError::from(e).into()
    }
}

/// What an accepted UpdateJobExecution returns; the service includes each
/// part only if the request's `includeJobExecutionState` /
/// `includeJobDocument` asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateResult {
    /// The state after the update.
    pub execution_state: JobExecutionState,
    /// Which execution was updated (for the document's CSR URL).
    pub execution_number: u64,
    /// The job document.
    pub job_document: serde_json::Value,
}

/// A CreateJob request. Targets are thing and thing group ARNs
/// (`arn:aws:iot:<region>:<account>:thing/<name>`, `…:thinggroup/<name>`),
/// or bare names: a name is a thing group's if such a group exists (and no
/// registered thing has it), else a thing's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJob {
    /// 1-64 of `[a-zA-Z0-9_-]`. Defaulted on input because AWS carries it
    /// in the URL path: the API layer sets it after parsing the body.
    #[serde(default)]
    pub job_id: String,
    /// The things and thing groups to run the job on (at least one).
    pub targets: Vec<String>,
    /// SNAPSHOT (the default) or CONTINUOUS.
    #[serde(default)]
    pub target_selection: TargetSelection,
    /// The job document: the text as submitted (kept verbatim), or a JSON
    /// object; at most [`super::JOB_DOCUMENT_MAX_CHARS`] characters.
    pub document: JobDocument,
    /// Free text for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `timeoutConfig.inProgressTimeoutInMinutes`: 1..=10080.
    #[serde(
        default,
        rename = "timeoutConfig",
        with = "timeout_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub in_progress_timeout_minutes: Option<u32>,
    /// `presignedUrlConfig`: the lifetime of the job's presigned URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned_url_config: Option<PresignedUrlConfig>,
    /// The managed template `document` was made from. Not part of the
    /// body: the API sets it after looking the template up.
    #[serde(skip)]
    pub template: Option<FromTemplate>,
}

/// Whether a job runs on its targets as they were when it was created, or
/// also on things that join its target groups later
/// (<https://docs.aws.amazon.com/iot/latest/developerguide/key-concepts-jobs.html>).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetSelection {
    /// The targets' members when the job is created; the job completes
    /// when all their executions have ended.
    #[default]
    Snapshot,
    /// Also every thing that joins a target group later; never completes
    /// by itself.
    Continuous,
}

impl TargetSelection {
    /// The wire (and database) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Snapshot => "SNAPSHOT",
            Self::Continuous => "CONTINUOUS",
        }
    }
}

/// Parses the wire spelling, e.g. a `?targetSelection=CONTINUOUS` query.
impl FromStr for TargetSelection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Snapshot, Self::Continuous]
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown targetSelection {s:?}: SNAPSHOT or CONTINUOUS"))
    }
}

/// Status of a job (not of an execution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Waiting for its `schedulingConfig`: before its startTime, or
    /// between two maintenance windows with targets still to notify.
    Scheduled,
    /// Executions may still run.
    InProgress,
    /// Every execution reached a terminal status.
    Completed,
    /// Cancelled by an operator.
    Canceled,
    /// Being deleted. Deletion here is one transaction, so no stored job
    /// has this status; it exists for wire compatibility with AWS.
    DeletionInProgress,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 5] = [
        Self::Scheduled,
        Self::InProgress,
        Self::Completed,
        Self::Canceled,
        Self::DeletionInProgress,
    ];

    /// The wire (and database) spelling, e.g. `IN_PROGRESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Canceled => "CANCELED",
            Self::DeletionInProgress => "DELETION_IN_PROGRESS",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the wire spelling, e.g. a `?status=IN_PROGRESS` query parameter.
impl FromStr for JobStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job status {s:?}"))
    }
}

/// `jobProcessDetails`: how many targets are in each execution status
/// (counting each thing's latest execution).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessDetails {
    /// QUEUED.
    pub number_of_queued_things: u64,
    /// IN_PROGRESS.
    pub number_of_in_progress_things: u64,
    /// SUCCEEDED.
    pub number_of_succeeded_things: u64,
    /// FAILED.
    pub number_of_failed_things: u64,
    /// REJECTED.
    pub number_of_rejected_things: u64,
    /// CANCELED.
    pub number_of_canceled_things: u64,
    /// TIMED_OUT.
    pub number_of_timed_out_things: u64,
    /// REMOVED.
    pub number_of_removed_things: u64,
}

/// A job, as DescribeJob returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// The id.
    pub job_id: String,
    /// The job's status.
    pub status: JobStatus,
    /// SNAPSHOT or CONTINUOUS.
    #[serde(default)]
    pub target_selection: TargetSelection,
    /// Thing and thing group ARNs, in the order given (AssociateTargetsWithJob
    /// appends); a job created before groups existed lists thing ARNs.
    pub targets: Vec<String>,
    /// The job document, parsed (GetJobDocument returns the text).
    pub document: serde_json::Value,
    /// Free text for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When it was created (epoch seconds).
    pub created_at: Timestamp,
    /// When its status or comment last changed.
    pub last_updated_at: Timestamp,
    /// When it became COMPLETED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// `timeoutConfig.inProgressTimeoutInMinutes`.
    #[serde(
        default,
        rename = "timeoutConfig",
        with = "timeout_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub in_progress_timeout_minutes: Option<u32>,
    /// The operator's comment from CancelJob, or why an abort rule or the
    /// schedule's end cancelled the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A reason code for a cancellation: the operator's from CancelJob
    /// (`[A-Z0-9_]+`), or the abort rule's failure type when an abort rule
    /// cancelled the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// `presignedUrlConfig`, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned_url_config: Option<PresignedUrlConfig>,
    /// The managed template the document was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_template_arn: Option<String>,
    /// The template's parameters, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_parameters: Option<BTreeMap<String, String>>,
    /// Whether a CancelJob used `force` (IN_PROGRESS executions were
    /// cancelled under their devices).
    #[serde(default)]
    pub force_canceled: bool,
    /// Counts by execution status.
    #[serde(rename = "jobProcessDetails")]
    pub process_details: ProcessDetails,
    /// Its rollout, abort rules and schedule, and where the rollout stands.
    #[serde(flatten)]
    pub plan: JobPlan,
}

/// What DescribeJob says of a job's rollout, abort rules, schedule and
/// retries: the configurations as given at creation, AWS's `isConcurrent`, and
/// (not an AWS field) the rollout's progress under `jobhost`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPlan {
    /// `jobExecutionsRolloutConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_rollout_config: Option<RolloutConfig>,
    /// `abortConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_config: Option<AbortConfig>,
    /// `schedulingConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_config: Option<SchedulingConfig>,
    /// `jobExecutionsRetryConfig`, as given at creation or as UpdateJob
    /// set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_retry_config: Option<RetryConfig>,
    /// AWS's `isConcurrent`: true while the job is notifying targets (it
    /// is IN_PROGRESS with targets still to release).
    #[serde(default)]
    pub is_concurrent: bool,
    /// This service's own details, under a name AWS does not use; only
    /// for a job with a rollout or a schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobhost: Option<JobhostDetails>,
}

/// `jobhost`: what DescribeJob adds to AWS's shape. AWS shows a rollout's
/// progress only as `jobProcessDetails` counts, which leave out the
/// targets not yet notified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobhostDetails {
    /// The staged rollout.
    pub rollout: RolloutProgress,
}

/// Where a staged or scheduled rollout stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutProgress {
    /// Targets notified so far (each has an execution).
    pub released_things: u64,
    /// Targets still waiting (no execution yet; invisible to their
    /// devices). Zero once the rollout is done, stopped or cancelled.
    pub unreleased_things: u64,
    /// The current rate, per minute, for a job with
    /// `jobExecutionsRolloutConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_minute: Option<u32>,
    /// When targets were last released (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_released_at: Option<Timestamp>,
}

/// One entry of ListJobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    /// The id.
    pub job_id: String,
    /// The job's status.
    pub status: JobStatus,
    /// SNAPSHOT or CONTINUOUS.
    #[serde(default)]
    pub target_selection: TargetSelection,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its status or comment last changed.
    pub last_updated_at: Timestamp,
    /// When it became COMPLETED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
}

/// A job execution as the control plane sees it: which thing, the execution
/// (with statusDetails, without the document), and operator-only facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRecord {
    /// The thing it runs on.
    pub thing_name: String,
    /// The execution.
    pub execution: JobExecution,
    /// Whether a forced cancel ended it while IN_PROGRESS.
    #[serde(default)]
    pub force_canceled: bool,
    /// While IN_PROGRESS: when the earlier of its step and in-progress
    /// timers fires (epoch seconds). Not an AWS field; AWS reports
    /// `approximateSecondsBeforeTimedOut`, which is this minus now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_at: Option<Timestamp>,
    /// AWS's `retryAttempt`: 0 for the first execution of the job on the
    /// thing, n for its n-th retry (`jobExecutionsRetryConfig`).
    #[serde(default)]
    pub retry_attempt: u32,
}

/// (De)serialises `Option<u32>` minutes as AWS's
/// `"timeoutConfig": {"inProgressTimeoutInMinutes": N}`.
pub(super) mod timeout_config {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct TimeoutConfig {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_progress_timeout_in_minutes: Option<u32>,
    }

    pub fn serialize<S: Serializer>(minutes: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        TimeoutConfig {
            in_progress_timeout_in_minutes: *minutes,
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Ok(Option::<TimeoutConfig>::deserialize(d)?.and_then(|t| t.in_progress_timeout_in_minutes))
    }
}

/// AWS's range for `presignedUrlConfig.expiresInSec`, in seconds
/// (`ExpiresInSec` in botocore's `iot` model: 60-3600).
pub const EXPIRES_IN_SEC_RANGE: std::ops::RangeInclusive<i64> = 60..=3600;

/// AWS's length range for `presignedUrlConfig.roleArn`, in characters
/// (`RoleArn`: 20-2048).
const ROLE_ARN_CHARS: std::ops::RangeInclusive<usize> = 20..=2048;

/// `presignedUrlConfig`, in AWS's shape. `expiresInSec` is how long the
/// URLs this service signs for the job's `${aws:iot:s3-presigned-url:…}`
/// placeholders stay valid, instead of the server-wide `--url-ttl`.
/// `roleArn` is kept and returned as given, and used for nothing: there is
/// no IAM here, the service signs with its own key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PresignedUrlConfig {
    /// The IAM role AWS would presign with (20-2048 characters; unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// URL lifetime in seconds, 60-3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_sec: Option<i64>,
}

impl PresignedUrlConfig {
    /// Checks AWS's ranges.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if let Some(s) = self.expires_in_sec {
            if !EXPIRES_IN_SEC_RANGE.contains(&s) {
                return Err(StoreError::InvalidRequest(format!(
                    "presignedUrlConfig.expiresInSec {s} is outside {}-{}",
                    EXPIRES_IN_SEC_RANGE.start(),
                    EXPIRES_IN_SEC_RANGE.end()
                )));
            }
        }
        if let Some(arn) = &self.role_arn {
            let n = arn.chars().count();
            if !ROLE_ARN_CHARS.contains(&n) {
                return Err(StoreError::InvalidRequest(format!(
                    "presignedUrlConfig.roleArn is {n} characters long; it must be {}-{}",
                    ROLE_ARN_CHARS.start(),
                    ROLE_ARN_CHARS.end()
                )));
            }
        }
        Ok(())
    }

    /// None when neither part is set (nothing to store or return).
    pub(crate) fn non_empty(self) -> Option<Self> {
        (self.role_arn.is_some() || self.expires_in_sec.is_some()).then_some(self)
    }
}
