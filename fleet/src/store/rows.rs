//! Rows ↔ protocol types, and the queries the control and device planes
//! share. Every execution transition goes through [`ExecRow::transition`]
//! and [`save_execution`], so the version rule (+1 per change) and the
//! timer cleanup live in one place.

use super::types::{ExecutionRecord, JobStatus, ProcessDetails, TargetSelection};
use super::StoreError;
use crate::rollout::RetriesSpent;
use jobhost_protocol::{
    JobExecution, JobExecutionState, JobExecutionStatus, JobExecutionSummary, StatusDetails,
};
use rusqlite::types::Type;
use rusqlite::{named_params, params, Connection, OptionalExtension, Params, Row};

/// The execution columns, in the order [`ExecRow::from_row`] reads them.
pub(crate) const EXEC_COLUMNS: &str = "e.id, e.job_id, e.thing_name, e.execution_number, \
    e.status, e.status_details, e.queued_at, e.started_at, e.last_updated_at, \
    e.version_number, e.in_progress_deadline, e.step_deadline, e.force_canceled, \
    e.retries_failed, e.retries_timed_out";

/// Every execution status, to parse the database spelling.
const EXEC_STATUSES: [JobExecutionStatus; 8] = [
    JobExecutionStatus::Queued,
    JobExecutionStatus::InProgress,
    JobExecutionStatus::Succeeded,
    JobExecutionStatus::Failed,
    JobExecutionStatus::Rejected,
    JobExecutionStatus::TimedOut,
    JobExecutionStatus::Removed,
    JobExecutionStatus::Canceled,
];

/// A value in the database that this program never writes.
#[derive(Debug, thiserror::Error)]
#[error("unexpected value in the database: {0}")]
struct BadValue(String);

/// Reads column `idx` as text and parses it, reporting a value that does not
/// parse as a conversion failure of that column (a corrupt or foreign row).
fn parse_col<T>(
    row: &Row<'_>,
    idx: usize,
    parse: impl Fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(BadValue(text)))
    })
}

/// Reads column `idx` as a non-negative integer.
fn u64_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let n: i64 = row.get(idx)?;
    u64::try_from(n)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, Box::new(e)))
}

/// Reads column `idx` as a small count.
fn u32_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<u32> {
    let n: i64 = row.get(idx)?;
    u32::try_from(n)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, Box::new(e)))
}

/// Parses a stored job status.
pub(crate) fn job_status_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<JobStatus> {
    parse_col(row, idx, |s| s.parse().ok())
}

/// Parses a stored target selection.
pub(crate) fn selection_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<TargetSelection> {
    parse_col(row, idx, |s| s.parse().ok())
}

/// A version or execution number for SQL. They start at 1 and grow by one
/// per change, so they never come near `i64::MAX`; saturating keeps a
/// hostile `executionNumber` from panicking (it then matches nothing).
pub(crate) fn sql_u64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One row of `executions`.
#[derive(Debug, Clone)]
pub(crate) struct ExecRow {
    pub id: i64,
    pub job_id: String,
    pub thing_name: String,
    pub execution_number: u64,
    pub status: JobExecutionStatus,
    pub status_details: Option<StatusDetails>,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub last_updated_at: i64,
    pub version_number: u64,
    pub in_progress_deadline: Option<i64>,
    pub step_deadline: Option<i64>,
    pub force_canceled: bool,
    /// The retries of the job this thing had, up to this execution.
    pub retries: RetriesSpent,
}

impl ExecRow {
    /// A new execution as inserted: QUEUED at `now`, version 1, with row id
    /// `id`, number `execution_number` and `retries` counted before it.
    pub fn queued(
        id: i64,
        job_id: &str,
        thing_name: &str,
        execution_number: u64,
        retries: RetriesSpent,
        now: i64,
    ) -> Self {
        Self {
            id,
            job_id: job_id.to_owned(),
            thing_name: thing_name.to_owned(),
            execution_number,
            status: JobExecutionStatus::Queued,
            status_details: None,
            queued_at: now,
            started_at: None,
            last_updated_at: now,
            version_number: 1,
            in_progress_deadline: None,
            step_deadline: None,
            force_canceled: false,
            retries,
        }
    }

    /// Reads a row selected with [`EXEC_COLUMNS`].
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let details: Option<String> = row.get(5)?;
        let status_details = details
            .map(|json| {
                serde_json::from_str::<StatusDetails>(&json).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(5, Type::Text, Box::new(e))
                })
            })
            .transpose()?;
        Ok(Self {
            id: row.get(0)?,
            job_id: row.get(1)?,
            thing_name: row.get(2)?,
            execution_number: u64_col(row, 3)?,
            status: parse_col(row, 4, |s| {
                EXEC_STATUSES.into_iter().find(|st| st.as_str() == s)
            })?,
            status_details,
            queued_at: row.get(6)?,
            started_at: row.get(7)?,
            last_updated_at: row.get(8)?,
            version_number: u64_col(row, 9)?,
            in_progress_deadline: row.get(10)?,
            step_deadline: row.get(11)?,
            force_canceled: row.get(12)?,
            retries: RetriesSpent {
                failed: u32_col(row, 13)?,
                timed_out: u32_col(row, 14)?,
            },
        })
    }

    /// Moves to `status` at `now`: one change, so the version grows by one.
    /// A terminal execution has no timers left to fire.
    pub fn transition(&mut self, status: JobExecutionStatus, now: i64) {
        self.status = status;
        self.version_number += 1;
        self.last_updated_at = now;
        if status.is_terminal() {
            self.in_progress_deadline = None;
            self.step_deadline = None;
        }
    }

    /// The execution as the device plane returns it.
    pub fn execution(&self, job_document: Option<serde_json::Value>) -> JobExecution {
        JobExecution {
            job_id: self.job_id.clone(),
            thing_name: self.thing_name.clone(),
            job_document,
            status: self.status,
            status_details: self.status_details.clone(),
            queued_at: self.queued_at,
            started_at: self.started_at,
            last_updated_at: self.last_updated_at,
            version_number: self.version_number,
            execution_number: self.execution_number,
        }
    }

    /// The entry of a pending list.
    pub fn summary(&self) -> JobExecutionSummary {
        JobExecutionSummary {
            job_id: self.job_id.clone(),
            queued_at: self.queued_at,
            started_at: self.started_at,
            last_updated_at: self.last_updated_at,
            version_number: self.version_number,
            execution_number: self.execution_number,
        }
    }

    /// What VersionMismatch, InvalidStateTransition and update replies carry.
    pub fn state(&self) -> JobExecutionState {
        JobExecutionState {
            status: self.status,
            status_details: self.status_details.clone(),
            version_number: self.version_number,
        }
    }

    /// When the earlier timer fires, while IN_PROGRESS.
    pub fn timeout_at(&self) -> Option<i64> {
        if self.status != JobExecutionStatus::InProgress {
            return None;
        }
        match (self.step_deadline, self.in_progress_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The control-plane view.
    pub fn record(&self) -> ExecutionRecord {
        ExecutionRecord {
            thing_name: self.thing_name.clone(),
            execution: self.execution(None),
            force_canceled: self.force_canceled,
            timeout_at: self.timeout_at(),
            retry_attempt: self.retries.attempt(),
        }
    }
}

/// Executions matching `filter` (SQL after `FROM executions e`, may join
/// and order).
pub(crate) fn query_execs(
    conn: &Connection,
    filter: &str,
    params: impl Params,
) -> Result<Vec<ExecRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&execs_sql(filter))?;
    let rows = stmt.query_map(params, ExecRow::from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The query of [`query_execs`] for `filter`.
pub(crate) fn execs_sql(filter: &str) -> String {
    format!("SELECT {EXEC_COLUMNS} FROM executions e {filter}")
}

/// The execution `number` of `job_id` on `thing`, or its latest one.
pub(crate) fn find_execution(
    conn: &Connection,
    job_id: &str,
    thing: &str,
    number: Option<u64>,
) -> Result<Option<ExecRow>, StoreError> {
    let rows = match number {
        Some(n) => query_execs(
            conn,
            "WHERE e.job_id = ?1 AND e.thing_name = ?2 AND e.execution_number = ?3",
            params![job_id, thing, sql_u64(n)],
        )?,
        None => query_execs(conn, LATEST_EXECUTION, params![job_id, thing])?,
    };
    Ok(rows.into_iter().next())
}

/// The filter of [`find_execution`] without a number: `?1` the job, `?2`
/// the thing.
pub(crate) const LATEST_EXECUTION: &str =
    "WHERE e.job_id = ?1 AND e.thing_name = ?2 ORDER BY e.execution_number DESC LIMIT 1";

/// The pending (QUEUED or IN_PROGRESS) executions of `thing`, in queue
/// order, at most `limit` of them.
pub(crate) fn pending(
    conn: &Connection,
    thing: &str,
    limit: i64,
) -> Result<Vec<ExecRow>, StoreError> {
    query_execs(conn, PENDING, params![thing, limit])
}

/// The filter of [`pending`]: `?1` the thing, `?2` the limit. The queue
/// order, as AWS lists it
/// (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>):
/// IN_PROGRESS first, oldest started first; then QUEUED by `queuedAt`; the
/// row id (creation order) breaks ties within one second.
pub(crate) const PENDING: &str =
    "WHERE e.thing_name = ?1 AND e.status IN ('QUEUED', 'IN_PROGRESS') \
     ORDER BY (e.status <> 'IN_PROGRESS'), e.started_at, e.queued_at, e.id LIMIT ?2";

/// The document of `job_id`.
pub(crate) fn job_document(
    conn: &Connection,
    job_id: &str,
) -> Result<serde_json::Value, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT document FROM jobs WHERE job_id = ?1")?
        .query_row([job_id], |r| r.get(0))
        .optional()?;
    let text = text.ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
    Ok(serde_json::from_str(&text)?)
}

/// The status and in-progress timeout of `job_id`, if it exists.
pub(crate) fn job_status(
    conn: &Connection,
    job_id: &str,
) -> Result<Option<(JobStatus, Option<u32>)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT status, in_progress_timeout_minutes FROM jobs WHERE job_id = ?1")?
        .query_row([job_id], |r| Ok((job_status_col(r, 0)?, r.get(1)?)))
        .optional()?)
}

/// Writes back every mutable column of `row`.
pub(crate) fn save_execution(conn: &Connection, row: &ExecRow) -> Result<(), StoreError> {
    let details = row
        .status_details
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let mut stmt = conn.prepare_cached(
        "UPDATE executions SET status = :status, status_details = :details, \
         started_at = :started_at, last_updated_at = :last_updated_at, \
         version_number = :version, in_progress_deadline = :ip_deadline, \
         step_deadline = :step_deadline, force_canceled = :force_canceled \
         WHERE id = :id",
    )?;
    stmt.execute(named_params! {
        ":status": row.status.as_str(),
        ":details": details,
        ":started_at": row.started_at,
        ":last_updated_at": row.last_updated_at,
        ":version": sql_u64(row.version_number),
        ":ip_deadline": row.in_progress_deadline,
        ":step_deadline": row.step_deadline,
        ":force_canceled": row.force_canceled,
        ":id": row.id,
    })?;
    Ok(())
}

/// Completes a SNAPSHOT job none of whose executions is pending and none
/// of whose targets awaits release. Asked after every terminal update, so
/// it must not scan the job's executions (`executions_by_job_status`).
pub(crate) const COMPLETE_IF_DONE: &str =
    "UPDATE jobs SET status = 'COMPLETED', completed_at = ?2, last_updated_at = ?2 \
     WHERE job_id = ?1 AND status = 'IN_PROGRESS' AND target_selection = 'SNAPSHOT' \
     AND NOT EXISTS ( \
         SELECT 1 FROM executions WHERE job_id = ?1 AND status IN ('QUEUED', 'IN_PROGRESS')) \
     AND NOT EXISTS (SELECT 1 FROM rollout_pending WHERE job_id = ?1)";

/// A snapshot job is COMPLETED once every execution is terminal
/// (<https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html>), unless an operator cancelled it first: CANCELED stays CANCELED.
/// A staged rollout is not done while targets wait to be released, nor a
/// SCHEDULED job (waiting for its next maintenance window). A continuous
/// job never completes by itself: things may join its groups at any time
/// ("A continuous job is always in progress", same page).
pub(crate) fn complete_job_if_done(
    conn: &Connection,
    job_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(COMPLETE_IF_DONE)?
        .execute(params![job_id, now])?;
    Ok(())
}

/// Forgets the targets of `job_id` not released yet: its rollout ends
/// (cancelled, aborted, or stopped by its schedule's end).
pub(crate) fn drop_unreleased(conn: &Connection, job_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM rollout_pending WHERE job_id = ?1")?
        .execute([job_id])?;
    Ok(())
}

/// `jobProcessDetails`: each thing counts once, with its latest execution.
pub(crate) fn process_details(
    conn: &Connection,
    job_id: &str,
) -> Result<ProcessDetails, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.status, COUNT(*) FROM executions e WHERE e.job_id = ?1 \
         AND e.execution_number = (SELECT MAX(x.execution_number) FROM executions x \
             WHERE x.job_id = e.job_id AND x.thing_name = e.thing_name) \
         GROUP BY e.status",
    )?;
    let mut d = ProcessDetails::default();
    let rows = stmt.query_map([job_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (status, count) = row?;
        let count = u64::try_from(count).unwrap_or(0);
        let slot = match status.as_str() {
            "QUEUED" => &mut d.number_of_queued_things,
            "IN_PROGRESS" => &mut d.number_of_in_progress_things,
            "SUCCEEDED" => &mut d.number_of_succeeded_things,
            "FAILED" => &mut d.number_of_failed_things,
            "REJECTED" => &mut d.number_of_rejected_things,
            "CANCELED" => &mut d.number_of_canceled_things,
            "TIMED_OUT" => &mut d.number_of_timed_out_things,
            "REMOVED" => &mut d.number_of_removed_things,
            // The schema's CHECK constraint admits no other value.
            _ => continue,
        };
        *slot = count;
    }
    Ok(d)
}
