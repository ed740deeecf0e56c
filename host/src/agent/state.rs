//! What the actor knows: the execution it handles and where it stands
//! ([`State`]), and what a running plugin tells it ([`Event`]). Plain data
//! that the rest of `agent` shares; the lifecycle is drawn in `actor`.

use super::outbox::Pending;
use super::{reboot, rotate};
use crate::executor::{CancelToken, Conclusion};
use crate::plugins::{Builtin, Installed};
use jobhost_protocol::StatusDetails;
use std::sync::Arc;

/// statusDetails key under which the checkpoint travels to the cloud.
pub const CHECKPOINT_KEY: &str = "checkpoint";

/// Finished executions remembered for dedupe (duplicates arrive after every
/// reconnect; a handful is plenty since the service only re-offers the head).
pub(super) const SEEN_CAPACITY: usize = 64;

/// The execution being handled.
#[derive(Debug, Clone)]
pub(super) struct Current {
    pub(super) job_id: String,
    pub(super) execution_number: u64,
    /// Set once the IN_PROGRESS claim is accepted, so that a plugin that
    /// cannot run (unknown operation, no document) is still reported
    /// through IN_PROGRESS → REJECTED, never straight from QUEUED.
    pub(super) plan: Plan,
    pub(super) document: String,
    pub(super) operation: String,
    pub(super) checkpoint: Option<String>,
    /// The statusDetails the cloud holds for it (checkpoint + progress).
    pub(super) details: StatusDetails,
    /// What the refusal of a [`Plan::Reject`] or [`Plan::Fail`] carries
    /// beside its reason (`crate::document::failure_details`).
    pub(super) refusal_details: StatusDetails,
}

impl Current {
    /// Whether this is execution `execution_number` of `job_id`.
    pub(super) fn is(&self, job_id: &str, execution_number: u64) -> bool {
        self.job_id == job_id && self.execution_number == execution_number
    }
}

/// What to do with a claimed execution.
#[derive(Debug, Clone)]
pub(super) enum Plan {
    Run(Arc<Installed>),
    Builtin(Builtin),
    Reject(String),
    /// Report FAILED with this reason once claimed (a reboot that did not
    /// happen).
    Fail(String),
}

#[derive(Debug)]
pub(super) enum State {
    Idle,
    Starting {
        current: Current,
        request: Pending,
    },
    Running {
        current: Current,
        cancel: CancelToken,
    },
    Reporting {
        job_id: String,
        execution_number: u64,
        request: Pending,
        /// Shut the device down once the status is accepted (the built-in
        /// `shutdown`, `agent::shutdown`).
        then_shutdown: bool,
    },
    /// The plugin asked for a reboot: announce it (IN_PROGRESS with the
    /// boot id), run the reboot command, wait to go down.
    Rebooting {
        current: Current,
        phase: reboot::Phase,
    },
    /// The plugin staged a new certificate and asked to install it: the
    /// files are swapped and the agent waits for the broker to accept it.
    Rotating {
        current: Current,
        phase: rotate::Phase,
    },
}

impl State {
    /// The request awaiting its reply, resent on reconnect and when
    /// unanswered.
    pub(super) fn request_mut(&mut self) -> Option<&mut Pending> {
        match self {
            State::Starting { request, .. }
            | State::Reporting { request, .. }
            | State::Rebooting {
                phase: reboot::Phase::Announcing(request),
                ..
            } => Some(request),
            _ => None,
        }
    }
}

/// A describe request sent for [`Event::RefreshDocument`].
#[derive(Debug)]
pub(super) struct Refreshing {
    pub(super) job_id: String,
    pub(super) token: String,
    pub(super) reply: std::sync::mpsc::Sender<Result<String, String>>,
}

/// What the running plugin (and the tasks the actor starts) tell the actor.
#[derive(Debug)]
pub(crate) enum Event {
    /// A progress report to publish (rate-limited).
    Progress {
        job_id: String,
        execution_number: u64,
        details: StatusDetails,
    },
    /// A checkpoint, already in the journal (or waiting there for its
    /// write slot), to publish with the next progress update.
    Checkpoint {
        job_id: String,
        execution_number: u64,
        state: String,
    },
    /// The running plugin needs its job document again (a presigned URL
    /// expired): describe the execution and answer on `reply`.
    RefreshDocument {
        job_id: String,
        execution_number: u64,
        reply: std::sync::mpsc::Sender<Result<String, String>>,
    },
    /// The reboot command ended (`Err`: it failed, with why).
    RebootCommand {
        job_id: String,
        execution_number: u64,
        result: Result<(), String>,
    },
    /// The run `run` of this execution is still going
    /// [`crate::executor::WATCHDOG_GRACE`] after it should have stopped: it is
    /// blocked where neither the deadline nor a cancel can reach it (inside
    /// a host call), and is abandoned.
    Overran {
        job_id: String,
        execution_number: u64,
        run: u64,
        limit: Overrun,
    },
    /// The run ended.
    Finished {
        job_id: String,
        execution_number: u64,
        conclusion: Conclusion,
    },
}

/// What a run outlived.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Overrun {
    /// Its wall-clock deadline.
    Deadline(std::time::Duration),
    /// The cancellation of its job.
    Cancel,
}

/// `details` as an update request carries them.
pub(super) fn raw(details: &StatusDetails) -> jobhost_protocol::requests::RawStatusDetails {
    details
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
