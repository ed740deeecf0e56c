//! What `notify` and `notify-next` carry
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>),
//! read for many things at once.
//!
//! One batch of device requests, or one CreateJob on a group, changes the
//! queues of hundreds or thousands of things. [`Store::queues`] reads them
//! all in one read transaction: per thing one query, whose first row is
//! the head (`notify-next`) and whose first [`NOTIFY_MAX_ENTRIES`] rows are
//! the list (`notify`); per job at the head of any of them, its document
//! and URL lifetime once. Read one thing at a time, in a transaction each,
//! with the head and the list as two queries and the document parsed for
//! every thing, this was a quarter of the service's time in the fleet
//! benchmark.

use super::rows::{job_document, pending};
use super::settings::url_ttl;
use super::{Store, StoreError};
use jobhost_protocol::{JobExecution, JobExecutionStatus, JobExecutionSummary};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// How many executions a `notify` lists (10 in AWS's job execution limits,
/// <https://docs.aws.amazon.com/iot/latest/developerguide/job-limits.html>;
/// AWS lists 15 for jobs with scheduling, which this service does not do
/// yet).
pub const NOTIFY_MAX_ENTRIES: usize = 10;

/// The queues of some things, read in one snapshot ([`Store::queues`]).
#[derive(Debug, Default)]
pub struct Queues {
    /// One per thing asked about, in the order asked.
    pub things: Vec<Queue>,
    /// Every job at the head of one of [`Queues::things`], by job id.
    pub heads: HashMap<String, HeadJob>,
}

/// One thing's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    /// The thing.
    pub thing: String,
    /// The head of the queue (IN_PROGRESS first, oldest started, then
    /// QUEUED by `queuedAt`), without its document: that is in
    /// [`Queues::heads`]. None when nothing is pending.
    pub head: Option<JobExecution>,
    /// The first [`NOTIFY_MAX_ENTRIES`] pending executions, in the same
    /// order (the head first), with their status: what `notify` lists,
    /// grouped by status.
    pub pending: Vec<(JobExecutionStatus, JobExecutionSummary)>,
}

/// What `notify-next` needs of the head's job besides the execution.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadJob {
    /// The job document, as stored (placeholders unresolved).
    pub document: Value,
    /// How long its presigned URLs stay valid (None: the server's TTL).
    pub url_ttl: Option<Duration>,
}

impl Store {
    /// The queues of `things` (see the module's documentation), in one
    /// read transaction.
    pub fn queues<T: AsRef<str>>(&self, things: &[T]) -> Result<Queues, StoreError> {
        let limit = i64::try_from(NOTIFY_MAX_ENTRIES).unwrap_or(i64::MAX);
        let tx = self.read_tx()?;
        let mut queues = Queues {
            things: Vec::with_capacity(things.len()),
            heads: HashMap::new(),
        };
        for thing in things {
            let rows = pending(&tx, thing.as_ref(), limit)?;
            let head = rows.first().map(|row| row.execution(None));
            if let Some(head) = &head {
                if !queues.heads.contains_key(&head.job_id) {
                    let job = HeadJob {
                        document: job_document(&tx, &head.job_id)?,
                        url_ttl: url_ttl(&tx, &head.job_id)?,
                    };
                    queues.heads.insert(head.job_id.clone(), job);
                }
            }
            queues.things.push(Queue {
                thing: thing.as_ref().to_owned(),
                head,
                pending: rows.iter().map(|r| (r.status, r.summary())).collect(),
            });
        }
        Ok(queues)
    }

    /// The head of `thing`'s queue, with its document: what `notify-next`
    /// carries. [`Store::queues`] for one thing.
    pub fn head(&self, thing: &str) -> Result<Option<JobExecution>, StoreError> {
        let mut queues = self.queues(&[thing])?;
        let Some(mut head) = queues.things.pop().and_then(|q| q.head) else {
            return Ok(None);
        };
        head.job_document = queues.heads.remove(&head.job_id).map(|j| j.document);
        Ok(Some(head))
    }

    /// The first [`NOTIFY_MAX_ENTRIES`] pending executions of `thing`, in
    /// queue order, with their status: what `notify` lists.
    /// [`Store::queues`] for one thing.
    pub fn pending_list(
        &self,
        thing: &str,
    ) -> Result<Vec<(JobExecutionStatus, JobExecutionSummary)>, StoreError> {
        Ok(self
            .queues(&[thing])?
            .things
            .pop()
            .map(|q| q.pending)
            .unwrap_or_default())
    }
}
