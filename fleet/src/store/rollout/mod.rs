//! Staged rollouts, abort rules and schedules, applied to the store's rows
//! (the rules themselves are [`crate::rollout`]'s).
//!
//! A job with a `jobExecutionsRolloutConfig` or a `schedulingConfig` does
//! not create an execution for each target when it is created. Its
//! targets wait in `rollout_pending`, in the order given, and each gets its
//! execution (QUEUED, version 1) only when the rollout releases it: until
//! then its device sees nothing of the job (no `notify`, no `$next`,
//! nothing for StartNext) and `jobProcessDetails` does not count it. Each
//! release is logged in `rollout_releases` (job, second, how many); the
//! rate's budget is computed from that log, so a restarted service goes on
//! where the rollout was instead of granting a fresh minute.
//!
//! The service's scheduler calls [`Store::advance_rollouts`] once a second:
//! it releases what each rate allows, moves jobs between SCHEDULED and
//! IN_PROGRESS as their start time and maintenance windows come and go,
//! and applies `endBehavior` at `endTime`. Abort rules are checked inside
//! the transaction of every update that ends an execution
//! ([`abort::after_terminal`]).
//!
//! # Layout
//!
//! - this file: a job's rules as stored, the entry point for targets
//!   ([`admit`]), and DescribeJob's view of them.
//! - `release`: releasing targets, and the scheduler's tick.
//! - `abort`: the abort rules.

pub(crate) mod abort;
mod release;

use super::rows::{find_execution, sql_u64, ExecRow};
use super::types::{JobPlan, JobStatus, JobhostDetails, ProcessDetails, RolloutProgress};
use super::StoreError;
use crate::rollout::{JobConfigs, RetriesSpent};
use jobhost_protocol::JobExecutionStatus;
use rusqlite::{params, Connection, OptionalExtension};

/// A job's rollout, abort, schedule and retry rules, and what the
/// scheduler needs to know of its state.
#[derive(Debug, Clone)]
pub(crate) struct JobRules {
    pub job_id: String,
    pub status: JobStatus,
    pub configs: JobConfigs,
    /// Whether `endBehavior` has been applied.
    pub schedule_ended: bool,
}

impl JobRules {
    /// Whether targets may be released at `now`: no schedule, or the
    /// schedule is open. The rollout's rate is [`release`]'s concern.
    pub fn is_open(&self, now: i64) -> bool {
        self.configs
            .scheduling
            .as_ref()
            .is_none_or(|s| s.is_open(now))
    }
}

/// The status a job is created with: SCHEDULED when its schedule is not
/// open yet (before its startTime, or outside its maintenance windows).
pub(crate) fn initial_status(configs: &JobConfigs, now: i64) -> JobStatus {
    match &configs.scheduling {
        Some(s) if !s.is_open(now) => JobStatus::Scheduled,
        _ => JobStatus::InProgress,
    }
}

/// The configuration columns of `jobs`, as stored: AWS-shaped JSON
/// (rollout, abort, scheduling, retry).
pub(crate) fn config_columns(
    configs: &JobConfigs,
) -> Result<[Option<String>; 4], serde_json::Error> {
    Ok([
        configs
            .rollout
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        configs
            .abort
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        configs
            .scheduling
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        configs
            .retry
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
    ])
}

fn parse<T: serde::de::DeserializeOwned>(json: Option<String>) -> Result<Option<T>, StoreError> {
    Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
}

/// The rules of `job_id`, if it exists.
pub(crate) fn load_rules(conn: &Connection, job_id: &str) -> Result<Option<JobRules>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT status, rollout_config, abort_config, scheduling_config, \
             schedule_ended_at IS NOT NULL, retry_config FROM jobs WHERE job_id = ?1",
        )?
        .query_row([job_id], |r| {
            Ok((
                super::rows::job_status_col(r, 0)?,
                [
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(5)?,
                ],
                r.get::<_, bool>(4)?,
            ))
        })
        .optional()?;
    let Some((status, [rollout, abort, scheduling, retry], schedule_ended)) = row else {
        return Ok(None);
    };
    Ok(Some(JobRules {
        job_id: job_id.to_owned(),
        status,
        configs: JobConfigs {
            rollout: parse(rollout)?,
            abort: parse(abort)?,
            scheduling: parse(scheduling)?,
            retry: parse(retry)?,
        },
        schedule_ended,
    }))
}

/// The entry point for a job's targets: `things` (thing names, distinct
/// and not yet targets of the job) become targets of `job_id`. Without a
/// rollout or a schedule each gets its execution now; otherwise they wait
/// in release order, and the first release happens now if the job may
/// release. Returns the executions created.
pub(crate) fn admit(
    conn: &Connection,
    job_id: &str,
    things: &[String],
    now: i64,
) -> Result<Vec<ExecRow>, StoreError> {
    let rules =
        load_rules(conn, job_id)?.ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
    if !rules.configs.gates_release() {
        return queue_now(conn, job_id, things, now);
    }
    let next: i64 = conn.query_row(
        "SELECT COALESCE(MAX(seq) + 1, 0) FROM rollout_pending WHERE job_id = ?1",
        [job_id],
        |r| r.get(0),
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO rollout_pending (job_id, seq, thing_name) VALUES (?1, ?2, ?3)",
    )?;
    for (seq, thing) in (next..).zip(things) {
        insert.execute(params![job_id, seq, thing])?;
    }
    if rules.status == JobStatus::InProgress && rules.is_open(now) {
        release::release(conn, &rules, now)
    } else {
        Ok(Vec::new())
    }
}

/// Creates the next execution (QUEUED, version 1) of `job_id` for each of
/// `things` at once, bypassing any rollout: for a job without one, for a
/// release, and for whatever else must not wait (AWS notifies the things
/// that join a continuous job's groups after its creation at once). A
/// thing's first execution is number 1; a thing whose latest execution was
/// REMOVED (it left a continuous job's group, and came back) gets the next
/// number, with the retries that execution had spent (a rejoin restarts
/// the execution it lost, not the job's retry budget).
pub(crate) fn queue_now(
    conn: &Connection,
    job_id: &str,
    things: &[String],
    now: i64,
) -> Result<Vec<ExecRow>, StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO executions (job_id, thing_name, execution_number, status, queued_at, \
         last_updated_at, version_number, retries_failed, retries_timed_out) \
         VALUES (?1, ?2, ?3, 'QUEUED', ?4, ?4, 1, ?5, ?6)",
    )?;
    let mut rows = Vec::with_capacity(things.len());
    for thing in things {
        let (number, retries) = match find_execution(conn, job_id, thing, None)? {
            None => (1, RetriesSpent::default()),
            Some(latest) if latest.status == JobExecutionStatus::Removed => {
                (latest.execution_number.saturating_add(1), latest.retries)
            }
            Some(latest) => (
                latest.execution_number.saturating_add(1),
                RetriesSpent::default(),
            ),
        };
        insert.execute(params![
            job_id,
            thing,
            sql_u64(number),
            now,
            retries.failed,
            retries.timed_out
        ])?;
        rows.push(ExecRow::queued(
            conn.last_insert_rowid(),
            job_id,
            thing,
            number,
            retries,
            now,
        ));
    }
    Ok(rows)
}

/// What DescribeJob shows of `rules`: the configurations, `isConcurrent`,
/// and, for a job with a rollout or a schedule, its progress.
pub(crate) fn plan(
    conn: &Connection,
    rules: JobRules,
    details: &ProcessDetails,
) -> Result<JobPlan, StoreError> {
    let progress = if rules.configs.gates_release() {
        let log = release::log(conn, &rules.job_id)?;
        let unreleased_things = release::unreleased(conn, &rules.job_id)?;
        Some(RolloutProgress {
            released_things: log.released,
            unreleased_things,
            rate_per_minute: rules
                .configs
                .rollout
                .as_ref()
                .map(|r| r.rate_per_minute(log.released, details.number_of_succeeded_things)),
            last_released_at: log.last,
        })
    } else {
        None
    };
    let is_concurrent = rules.status == JobStatus::InProgress
        && progress.as_ref().is_some_and(|p| p.unreleased_things > 0);
    Ok(JobPlan {
        job_executions_rollout_config: rules.configs.rollout,
        abort_config: rules.configs.abort,
        scheduling_config: rules.configs.scheduling,
        job_executions_retry_config: rules.configs.retry,
        is_concurrent,
        jobhost: progress.map(|rollout| JobhostDetails { rollout }),
    })
}
