//! A job's end (COMPLETED, CANCELED, deleted) as a committed change, for
//! AWS's job events (`$aws/events/job/<jobId>/completed|canceled|deleted`,
//! <https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html>).
//!
//! A job ends in many places: the last execution ending (a device's
//! update, a timeout, a cancel, a deletion, the end of a staged rollout or
//! of a schedule), an operator's CancelJob, an abort rule, a schedule's
//! `endBehavior`, and whatever later code adds. Rather than have each of
//! them report it, a TEMP trigger on `jobs` notes every move to COMPLETED
//! or CANCELED in a TEMP table, inside the transaction that makes it:
//!
//! - a rolled-back transaction takes its notes with it (SQLite rolls back
//!   the temp database with the main one), so only committed ends are
//!   reported;
//! - `Store::publish`, which every writer calls after its commit, drains
//!   the notes ([`Store::drain_ended_jobs`]) and sends them after the
//!   execution changes it was given: a job's end follows the execution
//!   change that caused it;
//! - TEMP objects belong to this connection alone: nothing is added to the
//!   schema on disk, and another process's writes are not seen (as for
//!   execution changes, see `events`).
//!
//! Deletion is reported by DeleteJob itself ([`JobChange::deleted`]): the
//! row is gone after the commit, and DeleteJob knows the time.

use super::control::load_job;
use super::events::{JobChange, JobOperation};
use super::types::JobStatus;
use super::{Store, StoreError};
use rusqlite::Connection;

/// The temp table and the trigger that fills it. `seq` keeps the order in
/// which jobs ended within one transaction.
const SETUP: &str = "
    CREATE TEMP TABLE IF NOT EXISTS job_endings (
        seq    INTEGER PRIMARY KEY,
        job_id TEXT    NOT NULL,
        status TEXT    NOT NULL
    );
    CREATE TEMP TRIGGER IF NOT EXISTS job_ended AFTER UPDATE OF status ON main.jobs
    WHEN NEW.status IN ('COMPLETED', 'CANCELED') AND NEW.status IS NOT OLD.status
    BEGIN
        INSERT INTO job_endings (job_id, status) VALUES (NEW.job_id, NEW.status);
    END;
";

/// Creates the temp table and the trigger on this connection: once, when
/// the store opens (after the migrations, which may rebuild `jobs`).
pub(crate) fn install(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SETUP)?;
    Ok(())
}

impl Store {
    /// The jobs that ended in the transactions committed since the last
    /// drain, in order, read as they are now; and forgets them. Call only
    /// outside a transaction, right after a commit. A job deleted since it
    /// ended is left out: its deletion is reported instead.
    pub(crate) fn drain_ended_jobs(&self) -> Result<Vec<JobChange>, StoreError> {
        drain(&self.conn)
    }
}

fn drain(conn: &Connection) -> Result<Vec<JobChange>, StoreError> {
    let ended: Vec<(i64, String, String)> = conn
        .prepare_cached("SELECT seq, job_id, status FROM temp.job_endings ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let Some((last, _, _)) = ended.last() else {
        return Ok(Vec::new());
    };
    // A write to the temp database only: no lock on the main file.
    conn.prepare_cached("DELETE FROM temp.job_endings WHERE seq <= ?1")?
        .execute([last])?;
    let mut changes = Vec::with_capacity(ended.len());
    for (_, job_id, status) in ended {
        let operation = if status == JobStatus::Completed.as_str() {
            JobOperation::Completed
        } else {
            JobOperation::Canceled
        };
        match load_job(conn, &job_id) {
            Ok(job) => {
                let at = job.last_updated_at;
                changes.push(JobChange::of(operation, job, at));
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(changes)
}
