//! Releasing targets at the rollout's rate, and the scheduler's tick.

use super::{load_rules, queue_now, JobRules};
use crate::rollout::rate::allowance;
use crate::rollout::EndBehavior;
use crate::store::cancel::cancel_in;
use crate::store::events::Effects;
use crate::store::rows::{complete_job_if_done, drop_unreleased, ExecRow};
use crate::store::types::{Changes, JobStatus};
use crate::store::{Store, StoreError};
use rusqlite::{params, Connection};

/// The jobs the scheduler must look at: SCHEDULED or IN_PROGRESS, with
/// targets still to release or a schedule whose end is still to come.
const ACTIVE: &str = "FROM jobs j WHERE j.status IN ('SCHEDULED', 'IN_PROGRESS') AND ( \
     (j.scheduling_config IS NOT NULL AND j.schedule_ended_at IS NULL) \
     OR EXISTS (SELECT 1 FROM rollout_pending p WHERE p.job_id = j.job_id))";

/// What a job's rollout released so far.
pub(super) struct ReleaseLog {
    /// Targets released.
    pub released: u64,
    /// When the last were (epoch seconds).
    pub last: Option<i64>,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(super) fn log(conn: &Connection, job_id: &str) -> Result<ReleaseLog, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(things), 0), MAX(released_at) FROM rollout_releases \
             WHERE job_id = ?1",
        )?
        .query_row([job_id], |r| {
            Ok(ReleaseLog {
                released: count(r.get(0)?),
                last: r.get(1)?,
            })
        })?)
}

/// How many targets of `job_id` wait to be released.
pub(super) fn unreleased(conn: &Connection, job_id: &str) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM rollout_pending WHERE job_id = ?1")?
        .query_row([job_id], |r| r.get(0))?;
    Ok(count(n))
}

/// Releases as many waiting targets of `rules`' job as its rate allows at
/// `now` (all of them without a rollout config), in release order, each
/// with its first execution. Returns the executions created.
pub(super) fn release(
    conn: &Connection,
    rules: &JobRules,
    now: i64,
) -> Result<Vec<ExecRow>, StoreError> {
    let job_id = rules.job_id.as_str();
    let limit = match &rules.configs.rollout {
        None => u64::MAX,
        Some(rollout) => {
            let log = log(conn, job_id)?;
            let succeeded: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM executions WHERE job_id = ?1 AND status = 'SUCCEEDED'",
                )?
                .query_row([job_id], |r| r.get(0))?;
            let last_minute: i64 = conn
                .prepare_cached(
                    "SELECT COALESCE(SUM(things), 0) FROM rollout_releases \
                     WHERE job_id = ?1 AND released_at > ?2",
                )?
                .query_row(params![job_id, now - 60], |r| r.get(0))?;
            let rate = rollout.rate_per_minute(log.released, count(succeeded));
            allowance(rate, count(last_minute), log.last, now)
        }
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let batch: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, thing_name FROM rollout_pending WHERE job_id = ?1 ORDER BY seq LIMIT ?2",
        )?
        .query_map(
            params![job_id, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let Some((last_seq, _)) = batch.last() else {
        return Ok(Vec::new());
    };
    conn.prepare_cached("DELETE FROM rollout_pending WHERE job_id = ?1 AND seq <= ?2")?
        .execute(params![job_id, last_seq])?;
    conn.prepare_cached(
        "INSERT INTO rollout_releases (job_id, released_at, things) VALUES (?1, ?2, ?3) \
         ON CONFLICT (job_id, released_at) DO UPDATE SET things = things + excluded.things",
    )?
    .execute(params![
        job_id,
        now,
        i64::try_from(batch.len()).unwrap_or(i64::MAX)
    ])?;
    let things: Vec<String> = batch.into_iter().map(|(_, thing)| thing).collect();
    queue_now(conn, job_id, &things, now)
}

fn set_status(
    conn: &Connection,
    job_id: &str,
    status: JobStatus,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE jobs SET status = ?2, last_updated_at = ?3 WHERE job_id = ?1")?
        .execute(params![job_id, status.as_str(), now])?;
    Ok(())
}

/// What one tick changed.
type Tick = Effects;

fn add(tick: &mut Tick, rows: Vec<ExecRow>) {
    for row in rows {
        tick.saw(row.record());
    }
}

/// One job at one tick: its schedule's end, its status as its schedule
/// opens and closes, and a release.
fn advance(
    conn: &Connection,
    rules: &JobRules,
    now: i64,
    tick: &mut Tick,
) -> Result<(), StoreError> {
    let job_id = rules.job_id.as_str();
    if let Some(schedule) = &rules.configs.scheduling {
        if !rules.schedule_ended && schedule.has_ended(now) {
            conn.prepare_cached("UPDATE jobs SET schedule_ended_at = ?2 WHERE job_id = ?1")?
                .execute(params![job_id, now])?;
            let behavior = schedule.end();
            if behavior == EndBehavior::StopRollout {
                drop_unreleased(conn, job_id)?;
                if rules.status == JobStatus::Scheduled {
                    set_status(conn, job_id, JobStatus::InProgress, now)?;
                }
                complete_job_if_done(conn, job_id, now)?;
            } else {
                let comment = format!(
                    "the schedule's endTime ({}) passed; endBehavior {}",
                    schedule.end_time.as_ref().map_or("", |e| e.as_str()),
                    if behavior == EndBehavior::Cancel {
                        "CANCEL"
                    } else {
                        "FORCE_CANCEL"
                    }
                );
                let force = behavior == EndBehavior::ForceCancel;
                let cancelled = cancel_in(conn, job_id, force, Some(&comment), None, now)?;
                tick.merge(cancelled);
            }
            return Ok(());
        }
    }
    let open = rules.is_open(now);
    let waiting = unreleased(conn, job_id)? > 0;
    match rules.status {
        JobStatus::Scheduled if open => {
            set_status(conn, job_id, JobStatus::InProgress, now)?;
            complete_job_if_done(conn, job_id, now)?;
        }
        // A maintenance window closed before the rollout was done: the job
        // waits for the next one, SCHEDULED, as AWS shows it.
        JobStatus::InProgress if !open && waiting => {
            set_status(conn, job_id, JobStatus::Scheduled, now)?;
        }
        _ => {}
    }
    if open && waiting {
        add(tick, release(conn, rules, now)?);
    }
    Ok(())
}

impl Store {
    /// The rollout scheduler's tick at `now`: for every job with targets
    /// to release or a schedule to follow, applies its `endBehavior` once
    /// `endTime` has come, moves it between SCHEDULED and IN_PROGRESS as
    /// its start time and maintenance windows come and go, and releases as
    /// many targets as its rate allows. Returns the things whose pending
    /// lists changed (new executions, or executions cancelled at the end).
    ///
    /// Calling it again at the same `now` releases nothing more: the rate
    /// is spent from the persisted log of releases.
    pub fn advance_rollouts(&mut self, now: i64) -> Result<Changes, StoreError> {
        // The common case, nothing to do, takes no write lock.
        if !self.rollouts_active()? {
            return Ok(Changes::none());
        }
        let tx = self.write_tx()?;
        let jobs: Vec<String> = tx
            .prepare_cached(&format!(
                "SELECT j.job_id {ACTIVE} ORDER BY j.created_at, j.rowid"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut tick = Tick::default();
        for job_id in jobs {
            if let Some(rules) = load_rules(&tx, &job_id)? {
                advance(&tx, &rules, now, &mut tick)?;
            }
        }
        tx.commit()?;
        Ok(self.after_commit(tick))
    }

    /// Whether any job has targets to release or a schedule to follow, so
    /// that the scheduler knows whether to tick every second.
    pub fn rollouts_active(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT EXISTS (SELECT 1 {ACTIVE})"))?
            .query_row([], |r| r.get(0))?)
    }
}
