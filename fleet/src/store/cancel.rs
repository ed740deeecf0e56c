//! Cancelling a job, whoever asks: an operator's CancelJob
//! (`control`), an abort rule or a schedule's end (`rollout`).

use super::events::Effects;
use super::rows::{drop_unreleased, query_execs, save_execution};
use super::StoreError;
use jobhost_protocol::JobExecutionStatus;
use rusqlite::{params, Connection};

/// Cancels `job_id` inside the caller's transaction, whoever asks (an
/// operator's CancelJob, an abort rule, a schedule's end): the job becomes
/// CANCELED (keeping an earlier comment and reason code when none is
/// given), its targets not released yet are dropped, its QUEUED executions
/// are CANCELED, and with `force` its IN_PROGRESS ones too.
pub(crate) fn cancel_in(
    conn: &Connection,
    job_id: &str,
    force: bool,
    comment: Option<&str>,
    reason_code: Option<&str>,
    now: i64,
) -> Result<Effects, StoreError> {
    conn.execute(
        "UPDATE jobs SET status = 'CANCELED', comment = COALESCE(?2, comment), \
         reason_code = COALESCE(?5, reason_code), force_canceled = (force_canceled OR ?3), \
         last_updated_at = ?4 WHERE job_id = ?1",
        params![job_id, comment, force, now, reason_code],
    )?;
    drop_unreleased(conn, job_id)?;
    let victims = if force {
        "WHERE e.job_id = ?1 AND e.status IN ('QUEUED', 'IN_PROGRESS') ORDER BY e.id"
    } else {
        "WHERE e.job_id = ?1 AND e.status = 'QUEUED' ORDER BY e.id"
    };
    let mut done = Effects::default();
    for mut row in query_execs(conn, victims, [job_id])? {
        row.force_canceled = row.status == JobExecutionStatus::InProgress;
        row.transition(JobExecutionStatus::Canceled, now);
        save_execution(conn, &row)?;
        done.saw(row.record());
    }
    Ok(done)
}
