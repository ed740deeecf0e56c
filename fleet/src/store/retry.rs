//! Retries (`jobExecutionsRetryConfig`, whose rules are
//! [`crate::rollout::retry`]'s), applied to the store's rows.
//!
//! When an execution ends FAILED (its device's update) or TIMED_OUT (the
//! in-progress or step timer), and the criterion that governs that failure
//! still has retries for the thing, the same transaction queues a new
//! execution of the job for the thing: QUEUED, version 1, the next
//! `executionNumber`, with the retries counted so far (its `retryAttempt`
//! is one more than the failed one's). The thing's pending list changed,
//! so its device is notified and claims the retry like any execution; the
//! failed execution stays as it ended, readable by its number.
//!
//! What is never retried: a REJECTED, CANCELED or REMOVED execution (an
//! operator's CancelJob or CancelJobExecution, an abort rule, a forced
//! cancel under a running device), and anything of a job that is no longer
//! SCHEDULED or IN_PROGRESS (cancelled, by an operator, an abort rule or
//! its schedule's end), and a thing that has left the groups of a
//! continuous job (`store::targets`). A retry is not a release: a staged rollout's rate
//! does not apply to it, and a job between two maintenance windows
//! retries its released things all the same.
//!
//! The callers run the abort rules first, with the failed execution still
//! the thing's latest: a failure that meets a rule cancels the job, and
//! then no retry is queued. A job is not complete while a retry is queued
//! or running, since `complete_job_if_done` waits for every execution.

use super::rollout::load_rules;
use super::rows::ExecRow;
use super::targets::still_targets;
use super::types::JobStatus;
use super::StoreError;
use crate::rollout::Failure;
use rusqlite::{params, Connection};

/// Queues the retry of `ended`, an execution that has just ended, if its
/// job's retry configuration allows one; returns the new execution.
pub(crate) fn after_terminal(
    conn: &Connection,
    ended: &ExecRow,
    now: i64,
) -> Result<Option<ExecRow>, StoreError> {
    let Some(cause) = Failure::of_status(ended.status) else {
        return Ok(None);
    };
    let Some(rules) = load_rules(conn, &ended.job_id)? else {
        return Ok(None);
    };
    let Some(retry) = &rules.configs.retry else {
        return Ok(None);
    };
    if !matches!(rules.status, JobStatus::InProgress | JobStatus::Scheduled)
        || !retry.allows(cause, ended.retries)
        || !still_targets(conn, &ended.job_id, &ended.thing_name)?
    {
        return Ok(None);
    }
    // The ended execution is the thing's latest (a retry is queued only
    // once the one before has ended); MAX + 1 keeps the numbers distinct
    // even if it were not.
    let execution_number: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(MAX(execution_number), 0) + 1 FROM executions \
             WHERE job_id = ?1 AND thing_name = ?2",
        )?
        .query_row(params![ended.job_id, ended.thing_name], |r| r.get(0))?;
    let retries = ended.retries.after(cause);
    conn.prepare_cached(
        "INSERT INTO executions (job_id, thing_name, execution_number, status, queued_at, \
         last_updated_at, version_number, retries_failed, retries_timed_out) \
         VALUES (?1, ?2, ?3, 'QUEUED', ?4, ?4, 1, ?5, ?6)",
    )?
    .execute(params![
        ended.job_id,
        ended.thing_name,
        execution_number,
        now,
        retries.failed,
        retries.timed_out
    ])?;
    let execution_number = u64::try_from(execution_number)
        .unwrap_or_else(|_| ended.execution_number.saturating_add(1));
    Ok(Some(ExecRow::queued(
        conn.last_insert_rowid(),
        &ended.job_id,
        &ended.thing_name,
        execution_number,
        retries,
        now,
    )))
}
