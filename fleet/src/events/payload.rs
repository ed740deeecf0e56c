//! One store change as AWS publishes it: the topic, and the payload with
//! AWS's fields (the examples of
//! <https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html>):
//!
//! - `timestamp` is the event's time in epoch seconds (as events AWS sent
//!   show it), the job's `createdAt`, `lastUpdatedAt` and `completedAt` are
//!   epoch milliseconds; the store keeps seconds, so those end in `000`;
//! - `eventId` is a random UUID, different for each publication of an
//!   event (the broker's and the HTTP stream's are two);
//! - a job's `status` is COMPLETED, CANCELED, or DELETED for its deletion
//!   (one version of AWS's page shows SUCCEEDED in its `completed` example,
//!   which is no job status; DescribeJob's COMPLETED is used);
//! - an execution's `deleted` event carries the status it had before the
//!   deletion, as AWS's page says;
//! - `targets` are ARNs, `thingArn` the thing's ARN.

use crate::arn::thing_arn;
use crate::store::{
    EventType, ExecutionChange, ExecutionRecord, JobChange, JobOperation, ProcessDetails,
};
use jobhost_protocol::{JobExecutionStatus, StatusDetails, Timestamp};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// An event, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsEvent {
    /// JOB or JOB_EXECUTION: which configuration enables it.
    pub event_type: EventType,
    /// The job, a level of the topic.
    pub job_id: String,
    /// The last level of the topic, and the payload's `operation`.
    pub operation: &'static str,
    /// The payload's `eventId`.
    pub event_id: String,
    /// The payload, JSON.
    pub payload: String,
}

impl AwsEvent {
    /// The event a change makes, if any: executions that went terminal or
    /// were deleted, and jobs that ended. QUEUED and IN_PROGRESS changes
    /// and configuration changes make none.
    pub fn from_change(change: &ExecutionChange) -> Option<AwsEvent> {
        match change {
            ExecutionChange::Updated(record) => execution_ended(record),
            ExecutionChange::Deleted {
                job_id,
                thing_name,
                status,
                status_details,
                deleted_at,
                ..
            } => {
                let event_id = event_id();
                let payload = ExecutionPayload {
                    event_type: EventType::JobExecution.as_str(),
                    event_id: &event_id,
                    timestamp: *deleted_at,
                    operation: "deleted",
                    job_id,
                    thing_arn: thing_arn(thing_name),
                    status: *status,
                    status_details: status_details.as_ref(),
                };
                Self::new(
                    EventType::JobExecution,
                    job_id,
                    "deleted",
                    &event_id,
                    &payload,
                )
            }
            ExecutionChange::Job(job) => job_ended(job),
            ExecutionChange::EventConfigurations(_) => None,
        }
    }

    /// `$aws/events/job/<jobId>/<operation>` or
    /// `$aws/events/jobExecution/<jobId>/<operation>`.
    pub fn topic(&self) -> String {
        format!(
            "$aws/events/{}/{}/{}",
            self.kind(),
            self.job_id,
            self.operation
        )
    }

    /// The topic without `$aws/events/` and the job id, e.g.
    /// `job/completed` or `jobExecution/succeeded`: the Server-Sent Event's
    /// name, one of a fixed set a client can listen for.
    pub fn name(&self) -> String {
        format!("{}/{}", self.kind(), self.operation)
    }

    fn kind(&self) -> &'static str {
        match self.event_type {
            EventType::Job => "job",
            EventType::JobExecution => "jobExecution",
        }
    }

    fn new(
        event_type: EventType,
        job_id: &str,
        operation: &'static str,
        event_id: &str,
        payload: &impl Serialize,
    ) -> Option<Self> {
        // Structs of strings, numbers and string maps always serialise.
        let payload = serde_json::to_string(payload).ok()?;
        Some(Self {
            event_type,
            job_id: job_id.to_owned(),
            operation,
            event_id: event_id.to_owned(),
            payload,
        })
    }
}

/// A JOB_EXECUTION payload.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionPayload<'a> {
    event_type: &'static str,
    event_id: &'a str,
    timestamp: Timestamp,
    operation: &'static str,
    job_id: &'a str,
    thing_arn: String,
    status: JobExecutionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_details: Option<&'a StatusDetails>,
}

/// A JOB payload.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobPayload<'a> {
    event_type: &'static str,
    event_id: &'a str,
    timestamp: Timestamp,
    operation: &'static str,
    job_id: &'a str,
    status: &'static str,
    /// In the `canceled` example only.
    #[serde(skip_serializing_if = "Option::is_none")]
    force_canceled: Option<bool>,
    target_selection: &'static str,
    targets: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<i64>,
    created_at: i64,
    last_updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    /// In the `completed` and `canceled` examples, with these six counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    job_process_details: Option<EventProcessDetails>,
}

/// `jobProcessDetails` as the job events show it: the counts of ended
/// executions (DescribeJob's also has the queued and in-progress ones).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventProcessDetails {
    number_of_canceled_things: u64,
    number_of_rejected_things: u64,
    number_of_failed_things: u64,
    number_of_removed_things: u64,
    number_of_succeeded_things: u64,
    number_of_timed_out_things: u64,
}

impl From<&ProcessDetails> for EventProcessDetails {
    fn from(d: &ProcessDetails) -> Self {
        Self {
            number_of_canceled_things: d.number_of_canceled_things,
            number_of_rejected_things: d.number_of_rejected_things,
            number_of_failed_things: d.number_of_failed_things,
            number_of_removed_things: d.number_of_removed_things,
            number_of_succeeded_things: d.number_of_succeeded_things,
            number_of_timed_out_things: d.number_of_timed_out_things,
        }
    }
}

/// The event of an execution's change, if it reached a terminal status.
fn execution_ended(record: &ExecutionRecord) -> Option<AwsEvent> {
    use JobExecutionStatus as S;
    let e = &record.execution;
    let operation = match e.status {
        S::Succeeded => "succeeded",
        S::Failed => "failed",
        S::Rejected => "rejected",
        S::Canceled => "canceled",
        S::TimedOut => "timed_out",
        S::Removed => "removed",
        S::Queued | S::InProgress => return None,
    };
    let event_id = event_id();
    let payload = ExecutionPayload {
        event_type: EventType::JobExecution.as_str(),
        event_id: &event_id,
        timestamp: e.last_updated_at,
        operation,
        job_id: &e.job_id,
        thing_arn: thing_arn(&record.thing_name),
        status: e.status,
        status_details: e.status_details.as_ref(),
    };
    AwsEvent::new(
        EventType::JobExecution,
        &e.job_id,
        operation,
        &event_id,
        &payload,
    )
}

/// The event of a job's end.
fn job_ended(job: &JobChange) -> Option<AwsEvent> {
    let (status, counts) = match job.operation {
        JobOperation::Completed => ("COMPLETED", true),
        JobOperation::Canceled => ("CANCELED", true),
        JobOperation::Deleted => ("DELETED", false),
    };
    let operation = job.operation.as_str();
    let event_id = event_id();
    let payload = JobPayload {
        event_type: EventType::Job.as_str(),
        event_id: &event_id,
        timestamp: job.at,
        operation,
        job_id: &job.job_id,
        status,
        force_canceled: (job.operation == JobOperation::Canceled).then_some(job.force_canceled),
        target_selection: job.target_selection.as_str(),
        targets: &job.targets,
        description: job.description.as_deref(),
        completed_at: job.completed_at.map(millis),
        created_at: millis(job.created_at),
        last_updated_at: millis(job.last_updated_at),
        comment: job.comment.as_deref(),
        job_process_details: counts.then(|| (&job.process_details).into()),
    };
    AwsEvent::new(EventType::Job, &job.job_id, operation, &event_id, &payload)
}

/// Epoch seconds as epoch milliseconds.
fn millis(seconds: Timestamp) -> i64 {
    seconds.saturating_mul(1000)
}

/// A random (version 4) UUID. Should the OS have no randomness, which
/// getrandom reports as an error, a process-wide counter keeps the ids
/// unique, if predictable: an event id is an identifier, not a secret.
fn event_id() -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        let n = FALLBACK.fetch_add(1, Ordering::Relaxed);
        b[8..].copy_from_slice(&n.to_be_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
