//! The in-progress and step timers, as AWS runs them
//! (<https://docs.aws.amazon.com/iot/latest/apireference/API_TimeoutConfig.html>, `stepTimeoutInMinutes` in
//! <https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_UpdateJobExecution.html>).
//!
//! Both are stored as absolute deadlines on the execution, so a restart
//! loses none: the service calls [`Store::next_deadline`], sleeps until then
//! (or until a change), and calls [`Store::expire_timeouts`].

use super::control::TIMEOUT_MINUTES_MAX;
use super::retry;
use super::rollout::abort;
use super::rows::{complete_job_if_done, query_execs, save_execution};
use super::types::{Changes, Rejection};
use super::{ExecutionChange, Store, StoreError};
use jobhost_protocol::{ErrorCode, JobExecutionStatus};
use std::collections::BTreeSet;

/// A validated `stepTimeoutInMinutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepTimer {
    /// `-1`: discard the current step timer.
    Discard,
    /// Fire this many minutes from now (1..=10080).
    Minutes(i64),
}

impl StepTimer {
    /// Checks a request's `stepTimeoutInMinutes`: absent, `-1`, or
    /// 1..=10080 like the in-progress timeout; anything else is
    /// InvalidRequest, as in AWS.
    pub fn parse(minutes: Option<i64>) -> Result<Option<StepTimer>, Rejection> {
        match minutes {
            None => Ok(None),
            Some(-1) => Ok(Some(StepTimer::Discard)),
            Some(m) if (1..=i64::from(TIMEOUT_MINUTES_MAX)).contains(&m) => {
                Ok(Some(StepTimer::Minutes(m)))
            }
            Some(m) => Err(Rejection::new(
                ErrorCode::InvalidRequest,
                format!("stepTimeoutInMinutes {m} must be -1 or 1-{TIMEOUT_MINUTES_MAX}"),
            )),
        }
    }

    /// The new step deadline. A step timer cannot outlive the in-progress
    /// timer: it is capped at that absolute deadline.
    pub fn deadline(self, now: i64, in_progress_deadline: Option<i64>) -> Option<i64> {
        match self {
            StepTimer::Discard => None,
            StepTimer::Minutes(m) => {
                let step = now.saturating_add(m.saturating_mul(60));
                Some(in_progress_deadline.map_or(step, |ip| step.min(ip)))
            }
        }
    }
}

/// The in-progress deadline of an execution that starts at `started_at`,
/// fixed then for good: later updates never move it.
pub(crate) fn in_progress_deadline(started_at: i64, timeout_minutes: Option<u32>) -> Option<i64> {
    timeout_minutes.map(|m| started_at.saturating_add(i64::from(m) * 60))
}

impl Store {
    /// Moves every IN_PROGRESS execution whose step or in-progress deadline
    /// is at or before `now` to TIMED_OUT (one change: version + 1), checks
    /// the abort rules of their jobs, queues the retries their jobs'
    /// `jobExecutionsRetryConfig` allows, and completes jobs left with no
    /// pending execution. Returns the things whose pending lists changed.
    pub fn expire_timeouts(&mut self, now: i64) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        let expired = query_execs(
            &tx,
            "WHERE e.status = 'IN_PROGRESS' AND (e.step_deadline <= ?1 OR e.in_progress_deadline <= ?1) \
             ORDER BY e.id",
            [now],
        )?;
        let mut changes = Changes::none();
        let mut jobs = BTreeSet::new();
        let mut events = Vec::with_capacity(expired.len());
        let mut ended = Vec::with_capacity(expired.len());
        for mut row in expired {
            row.transition(JobExecutionStatus::TimedOut, now);
            save_execution(&tx, &row)?;
            events.push(ExecutionChange::Updated(row.record()));
            changes.things.insert(row.thing_name.clone());
            jobs.insert(row.job_id.clone());
            ended.push(row);
        }
        for job_id in &jobs {
            // A timeout is a failure an abort rule may count.
            if let Some(aborted) = abort::after_terminal(&tx, job_id, now)? {
                events.extend(aborted.events);
                changes.merge(aborted.changes);
            }
        }
        // Then the retries, which a job an abort rule cancelled gets none
        // of; each thing is in `changes` already.
        for row in &ended {
            if let Some(retry) = retry::after_terminal(&tx, row, now)? {
                events.push(ExecutionChange::Updated(retry.record()));
            }
        }
        for job_id in &jobs {
            complete_job_if_done(&tx, job_id, now)?;
        }
        tx.commit()?;
        self.publish(events);
        Ok(changes)
    }

    /// The earliest deadline of any IN_PROGRESS execution, so that the
    /// service can sleep until then; None when no timer runs.
    pub fn next_deadline(&self) -> Result<Option<i64>, StoreError> {
        // Two MINs, each served by its partial index, rather than one scan.
        // Cached: the device API asks before every message it handles.
        Ok(self
            .conn
            .prepare_cached(
                "SELECT MIN(d) FROM ( \
                     SELECT MIN(step_deadline) AS d FROM executions \
                         WHERE status = 'IN_PROGRESS' AND step_deadline IS NOT NULL \
                     UNION ALL \
                     SELECT MIN(in_progress_deadline) FROM executions \
                         WHERE status = 'IN_PROGRESS' AND in_progress_deadline IS NOT NULL)",
            )?
            .query_row([], |r| r.get(0))?)
    }
}
