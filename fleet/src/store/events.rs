//! Change events: every committed change of a job execution, for
//! in-process followers (the demo, the jobs events of [`crate::events`])
//! that must see each state an execution passes through, not only the one
//! a poll happens to catch; and, in the same order, each job's end
//! ([`JobChange`], `job_changes`) and each change of the event
//! configuration.
//!
//! The store sends on a bounded [`tokio::sync::broadcast`] channel:
//!
//! - **after** the transaction commits, so a follower never sees a change
//!   that was rolled back, and a follower that re-reads the store on an
//!   event finds at least that state;
//! - in commit order, because one connection (behind the service's
//!   `Mutex`) makes every write, and each sends before it returns;
//! - without ever blocking or failing the write: a send with no receiver is
//!   dropped, and a receiver more than [`EVENT_CAPACITY`] events behind gets
//!   `RecvError::Lagged` and should re-read the executions it follows.
//!
//! Only changes made through this [`Store`] are sent; another process
//! writing the same file (nothing does today) would go unseen.

use super::event_config::EventConfigurations;
use super::types::{Changes, ExecutionRecord, Job, JobStatus, ProcessDetails, TargetSelection};
use super::Store;
use jobhost_protocol::{JobExecutionStatus, StatusDetails, Timestamp};
use tokio::sync::broadcast;

/// How many events a receiver may fall behind before it lags. Enough for a
/// follower that reads between two commits, the largest being a batch of
/// device requests (up to 256, each an update and perhaps a retry and a
/// job's end: `crate::device_api`'s group commit), not a CreateJob on
/// thousands of things (one QUEUED change each, which no AWS event
/// reports); small enough that the slots, allocated up front, cost little
/// (an event is one execution, statusDetails included, ~1 MiB in all).
pub const EVENT_CAPACITY: usize = 2048;

/// One committed change: of one job execution (most of them), of a job
/// that ended, or of the event configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionChange {
    /// The execution as committed: created (QUEUED, version 1) by CreateJob,
    /// or moved to its next version by a device update, StartNext, a
    /// cancel or a timeout. Every such change bumps `versionNumber` by
    /// one, so a follower can order events and skip ones it has seen.
    Updated(ExecutionRecord),
    /// DeleteJob removed the execution with its job, or
    /// DeleteJobExecution removed it alone; nothing follows.
    Deleted {
        /// The job.
        job_id: String,
        /// The thing it was for.
        thing_name: String,
        /// Which execution of the job on the thing.
        execution_number: u64,
        /// Its status when it was deleted (AWS's `deleted` event reports
        /// it).
        status: JobExecutionStatus,
        /// Its statusDetails then.
        status_details: Option<StatusDetails>,
        /// When it was deleted (epoch seconds).
        deleted_at: Timestamp,
    },
    /// A job ended: COMPLETED, CANCELED, or deleted. Sent after the
    /// execution changes of the same commit.
    Job(JobChange),
    /// UpdateEventConfigurations changed which events are published; the
    /// configuration now in force.
    EventConfigurations(EventConfigurations),
}

impl ExecutionChange {
    /// The job the change belongs to; None for a configuration change.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Self::Updated(r) => Some(&r.execution.job_id),
            Self::Deleted { job_id, .. } => Some(job_id),
            Self::Job(j) => Some(&j.job_id),
            Self::EventConfigurations(_) => None,
        }
    }

    /// The thing the changed execution is for; None for a job's or the
    /// configuration's change.
    pub fn thing_name(&self) -> Option<&str> {
        match self {
            Self::Updated(r) => Some(&r.thing_name),
            Self::Deleted { thing_name, .. } => Some(thing_name),
            Self::Job(_) | Self::EventConfigurations(_) => None,
        }
    }

    /// Whether this is a change of `job_id`'s execution on `thing`.
    pub fn is_for(&self, job_id: &str, thing: &str) -> bool {
        self.job_id() == Some(job_id) && self.thing_name() == Some(thing)
    }
}

/// How a job ended: the last level of its AWS event topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOperation {
    /// Every execution reached a terminal status (`completed`).
    Completed,
    /// Cancelled by an operator, an abort rule or a schedule's end
    /// (`canceled`).
    Canceled,
    /// Removed by DeleteJob (`deleted`).
    Deleted,
}

impl JobOperation {
    /// AWS's `operation` (and topic level): `completed`, `canceled`,
    /// `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Canceled => "canceled",
            Self::Deleted => "deleted",
        }
    }
}

/// A job that ended, as it was when it did: what a job event reports. No
/// document: events stay small, and AWS's do not carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobChange {
    /// How it ended.
    pub operation: JobOperation,
    /// When (epoch seconds): its `lastUpdatedAt` for an end, the time of
    /// DeleteJob for a deletion.
    pub at: Timestamp,
    /// The id.
    pub job_id: String,
    /// Its status then (COMPLETED or CANCELED; for a deletion, the status
    /// it had before).
    pub status: JobStatus,
    /// Whether a cancellation used `force`.
    pub force_canceled: bool,
    /// SNAPSHOT or CONTINUOUS.
    pub target_selection: TargetSelection,
    /// Its targets: thing and thing group ARNs ([`Job::targets`]).
    pub targets: Vec<String>,
    /// The operator's description.
    pub description: Option<String>,
    /// CancelJob's comment, or why an abort rule or the schedule's end
    /// cancelled it.
    pub comment: Option<String>,
    /// When it was created (epoch seconds).
    pub created_at: Timestamp,
    /// When its status or comment last changed.
    pub last_updated_at: Timestamp,
    /// When it became COMPLETED.
    pub completed_at: Option<Timestamp>,
    /// Counts by execution status, when it ended.
    pub process_details: ProcessDetails,
}

impl JobChange {
    /// `job`, ended by `operation` at `at`.
    pub(crate) fn of(operation: JobOperation, job: Job, at: Timestamp) -> Self {
        Self {
            operation,
            at,
            job_id: job.job_id,
            status: job.status,
            force_canceled: job.force_canceled,
            target_selection: job.target_selection,
            targets: job.targets,
            description: job.description,
            comment: job.comment,
            created_at: job.created_at,
            last_updated_at: job.last_updated_at,
            completed_at: job.completed_at,
            process_details: job.process_details,
        }
    }

    /// `job`, deleted at `at`: read before the deletion, sent after it.
    pub(crate) fn deleted(job: Job, at: Timestamp) -> Self {
        Self::of(JobOperation::Deleted, job, at)
    }
}

/// What a transaction changed: the execution events to publish once it
/// has committed ([`Store::after_commit`]), and the things whose pending
/// lists changed, to notify. Cancelling a job, the rollout scheduler's
/// tick and every change of group membership collect into one.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub events: Vec<ExecutionChange>,
    pub changes: Changes,
}

impl Effects {
    /// An execution changed (created, or moved to another status).
    pub fn saw(&mut self, record: ExecutionRecord) {
        self.changes.things.insert(record.thing_name.clone());
        self.events.push(ExecutionChange::Updated(record));
    }

    /// Another part of the same transaction's effects.
    pub fn merge(&mut self, other: Effects) {
        self.events.extend(other.events);
        self.changes.merge(other.changes);
    }
}

/// The sending half a [`Store`] holds.
pub(crate) fn channel() -> broadcast::Sender<ExecutionChange> {
    broadcast::Sender::new(EVENT_CAPACITY)
}

impl Store {
    /// Receives every execution change committed from now on (see the
    /// module documentation for the guarantees). Subscribe before the
    /// action whose effects you want to see, e.g. before CreateJob to see
    /// the new execution's QUEUED state.
    pub fn subscribe(&self) -> broadcast::Receiver<ExecutionChange> {
        self.events.subscribe()
    }

    /// Publishes `effects`' events, once their transaction has committed,
    /// and returns the things to notify.
    pub(crate) fn after_commit(&mut self, effects: Effects) -> Changes {
        self.publish(effects.events);
        effects.changes
    }

    /// Sends `changes`, in order, then the jobs that ended in the commit
    /// ([`Store::drain_ended_jobs`]); call only after the commit, once with everything
    /// it changed. With no receiver the send fails and the event is
    /// dropped, which is right: nobody is following.
    ///
    /// The write is committed whatever happens here, so a failure to read
    /// the jobs that ended is logged, not returned.
    ///
    /// Inside a batch ([`Store::in_one_commit`]) "after the commit" is the
    /// batch's: the changes wait until it commits.
    pub(crate) fn publish(&mut self, changes: impl IntoIterator<Item = ExecutionChange>) {
        if let Some(deferred) = &mut self.deferred {
            // A batch is open: nothing is committed yet.
            deferred.extend(changes);
            return;
        }
        for change in changes {
            let _ = self.events.send(change);
        }
        match self.drain_ended_jobs() {
            Ok(ended) => {
                for job in ended {
                    let _ = self.events.send(ExecutionChange::Job(job));
                }
            }
            Err(e) => tracing::error!(target: "service", "cannot read the jobs that ended: {e}"),
        }
    }
}
