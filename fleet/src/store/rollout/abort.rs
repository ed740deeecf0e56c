//! Abort rules (`abortConfig.criteriaList`), as the developer guide
//! describes them
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/job-configurations-api.html#job-abort-api>):
//!
//! - the rules are checked in order, after each execution that ends, in the
//!   same transaction as the update that ended it (a device's update, or a
//!   timeout);
//! - a rule applies once `minNumberOfExecutedThings` executions have
//!   completed: ended SUCCEEDED, FAILED, REJECTED or TIMED_OUT (a CANCELED
//!   or REMOVED execution never ran, and counts for nothing); each thing
//!   counts once, with the latest of its executions that completed. For a
//!   job without retries that is its one execution, as in
//!   `jobProcessDetails`. With retries (`store::retry`), a thing whose
//!   failed execution is being retried counts as failed until the retry
//!   completes, although `jobProcessDetails` counts it QUEUED or
//!   IN_PROGRESS: the developer guide recommends abort rules precisely to
//!   stop "repeated retry failures", which they could not see if a queued
//!   retry hid the failure before it;
//! - it is met when the executions of its `failureType` (ALL: FAILED,
//!   REJECTED and TIMED_OUT together) are at least `thresholdPercentage`
//!   of those completed executions, and at least one;
//! - then the job is cancelled, as CancelJob without `force` would: it
//!   becomes CANCELED, its QUEUED executions CANCELED, its unreleased
//!   targets are dropped, and IN_PROGRESS executions run on ("only QUEUED
//!   job executions are canceled",
//!   <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-configurations-details.html>).
//!
//! AWS fills in `reasonCode` and `comment` for an abort but does not
//! document their values; this service sets `reasonCode` to the rule's
//! failure type (`FAILED`, `REJECTED`, `TIMED_OUT` or `ALL`) and a
//! `comment` that names the rule and the counts.

use super::load_rules;
use crate::rollout::{AbortCriterion, FailureType};
use crate::store::cancel::cancel_in;
use crate::store::events::Effects;
use crate::store::types::{JobStatus, ProcessDetails};
use crate::store::StoreError;
use rusqlite::Connection;

/// Checks `job_id`'s abort rules after one of its executions ended, and
/// cancels the job if one is met. Returns what the cancellation changed.
pub(crate) fn after_terminal(
    conn: &Connection,
    job_id: &str,
    now: i64,
) -> Result<Option<Effects>, StoreError> {
    let Some(rules) = load_rules(conn, job_id)? else {
        return Ok(None);
    };
    let Some(abort) = &rules.configs.abort else {
        return Ok(None);
    };
    if !matches!(rules.status, JobStatus::InProgress | JobStatus::Scheduled) {
        return Ok(None);
    }
    let counts = completed(conn, job_id)?;
    for (i, rule) in abort.criteria_list.iter().enumerate() {
        if let Some(comment) = met(i, rule, &counts) {
            let reason = rule.failure_type.as_str();
            return cancel_in(conn, job_id, false, Some(&comment), Some(reason), now).map(Some);
        }
    }
    Ok(None)
}

/// The things of `job_id` by the outcome of the latest of their executions
/// that completed (SUCCEEDED, FAILED, REJECTED, TIMED_OUT); things with
/// none are not counted.
fn completed(conn: &Connection, job_id: &str) -> Result<ProcessDetails, StoreError> {
    const COMPLETED: &str = "('SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT')";
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT e.status, COUNT(*) FROM executions e WHERE e.job_id = ?1 \
         AND e.status IN {COMPLETED} \
         AND e.execution_number = (SELECT MAX(x.execution_number) FROM executions x \
             WHERE x.job_id = e.job_id AND x.thing_name = e.thing_name \
             AND x.status IN {COMPLETED}) \
         GROUP BY e.status"
    ))?;
    let rows = stmt.query_map([job_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut d = ProcessDetails::default();
    for row in rows {
        let (status, count) = row?;
        let count = u64::try_from(count).unwrap_or(0);
        match status.as_str() {
            "SUCCEEDED" => d.number_of_succeeded_things = count,
            "FAILED" => d.number_of_failed_things = count,
            "REJECTED" => d.number_of_rejected_things = count,
            "TIMED_OUT" => d.number_of_timed_out_things = count,
            _ => {}
        }
    }
    Ok(d)
}

/// Whether rule `i` is met by `counts`; if so, the comment saying why.
fn met(i: usize, rule: &AbortCriterion, counts: &ProcessDetails) -> Option<String> {
    let executed = counts.number_of_succeeded_things
        + counts.number_of_failed_things
        + counts.number_of_rejected_things
        + counts.number_of_timed_out_things;
    let failures = match rule.failure_type {
        FailureType::Failed => counts.number_of_failed_things,
        FailureType::Rejected => counts.number_of_rejected_things,
        FailureType::TimedOut => counts.number_of_timed_out_things,
        FailureType::All => {
            counts.number_of_failed_things
                + counts.number_of_rejected_things
                + counts.number_of_timed_out_things
        }
    };
    let min = u64::from(rule.min_number_of_executed_things);
    // Counts are far below 2^52: exact as f64. The margin absorbs the
    // rounding of a two-decimal threshold (10.99 is not exact in binary).
    let percent = failures as f64 * 100.0 / executed.max(1) as f64;
    let reached = percent + 1e-9 >= rule.threshold_percentage;
    (executed >= min && failures > 0 && reached).then(|| {
        format!(
            "aborted by abortConfig.criteriaList[{i}]: {failures} of {executed} executed things \
             ended {} ({percent:.2} %), at least {} % once {min} have run",
            rule.failure_type.as_str(),
            rule.threshold_percentage
        )
    })
}
