//! Execution change events: every committed change of a job execution, for
//! in-process followers (the demo) that must see each state an execution
//! passes through, not only the one a poll happens to catch.
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

use super::types::ExecutionRecord;
use super::Store;
use tokio::sync::broadcast;

/// How many events a receiver may fall behind before it lags. Enough for a
/// follower that reads between two writes; small enough that a receiver
/// nobody reads costs little (each event is one execution, statusDetails
/// included).
pub const EVENT_CAPACITY: usize = 256;

/// One committed change of one job execution.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionChange {
    /// The execution as committed: created (QUEUED, version 1) by CreateJob,
    /// or moved to its next version by a device update, StartNext, a
    /// cancel or a timeout. Every such change bumps `versionNumber` by
    /// one, so a follower can order events and skip ones it has seen.
    Updated(ExecutionRecord),
    /// DeleteJob removed the execution with its job; nothing follows.
    Deleted {
        /// The job.
        job_id: String,
        /// The thing it was for.
        thing_name: String,
        /// Which execution of the job on the thing.
        execution_number: u64,
    },
}

impl ExecutionChange {
    /// The job the changed execution belongs to.
    pub fn job_id(&self) -> &str {
        match self {
            Self::Updated(r) => &r.execution.job_id,
            Self::Deleted { job_id, .. } => job_id,
        }
    }

    /// The thing the changed execution is for.
    pub fn thing_name(&self) -> &str {
        match self {
            Self::Updated(r) => &r.thing_name,
            Self::Deleted { thing_name, .. } => thing_name,
        }
    }

    /// Whether this is a change of `job_id`'s execution on `thing`.
    pub fn is_for(&self, job_id: &str, thing: &str) -> bool {
        self.job_id() == job_id && self.thing_name() == thing
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

    /// Sends `changes`, in order; call only after the commit. With no
    /// receiver the send fails and the event is dropped, which is right:
    /// nobody is following.
    pub(crate) fn publish(&self, changes: impl IntoIterator<Item = ExecutionChange>) {
        for change in changes {
            let _ = self.events.send(change);
        }
    }
}
