//! What a job targets: things and thing groups, named by ARN or by name;
//! the things they reach (a static group reaches the members of its
//! descendants too); and continuous jobs, whose executions follow group
//! membership as AWS documents
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html>):
//!
//! - a thing that joins a target group gets a QUEUED execution;
//! - a thing that leaves (removed from the group, no longer matching a
//!   dynamic group's query, its group deleted) has its QUEUED execution
//!   REMOVED; an IN_PROGRESS one runs on, since REMOVED is documented
//!   only as a way out of QUEUED;
//! - a thing that rejoins after its execution was REMOVED gets a new
//!   execution, `executionNumber` + 1 ("re-attach the thing to your target
//!   group and restart the job execution"); one whose execution ended any
//!   other way has run the job and gets none. A QUEUED retry
//!   (`store::retry`) is an execution like any other: it is REMOVED when
//!   its thing leaves, and a rejoin restarts it with the retries spent so
//!   far; a thing that left is not retried;
//! - with a staged rollout (`store::rollout`), a thing that joins later is
//!   not held back by the rate (AWS notifies it at once); one that leaves
//!   before its release just leaves the rollout, with nothing to mark
//!   REMOVED; while the job is SCHEDULED, a thing that joins waits for the
//!   schedule among the unreleased targets; a CANCELED (or aborted) job
//!   queues nothing.
//!
//! Snapshot jobs are expanded once, at creation. [`reconcile`] is called
//! by every change that can move a thing in or out of a group, inside that
//! change's transaction, so membership and executions never disagree.

use super::events::Effects;
use super::registry::{self, check_name};
use super::rollout;
use super::rows::{
    complete_job_if_done, find_execution, job_status_col, query_execs, save_execution,
    selection_col,
};
use super::types::{Changes, JobStatus, TargetSelection};
use super::{Store, StoreError};
use crate::arn::{self, Resource};
use jobhost_protocol::JobExecutionStatus;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, BTreeSet};

/// AWS's limit on the targets of a job that AssociateTargetsWithJob may
/// reach ("The total number of targets associated with a job must not
/// exceed 100").
pub const MAX_JOB_TARGETS: usize = 100;

/// A resolved job target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Thing(String),
    Group { name: String, id: String },
}

impl Target {
    fn arn(&self) -> String {
        match self {
            Target::Thing(name) => arn::thing_arn(name),
            Target::Group { name, .. } => arn::thing_group_arn(name),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Target::Thing(_) => "thing",
            Target::Group { .. } => "group",
        }
    }

    fn name(&self) -> &str {
        match self {
            Target::Thing(name) | Target::Group { name, .. } => name,
        }
    }
}

/// Resolves targets as given to CreateJob or AssociateTargetsWithJob,
/// without duplicates, in the order given. A thing ARN or name need not be
/// registered (jobs on unregistered things predate the registry); a group
/// must exist. A bare name is a group's when the group exists, unless a
/// registered thing has the name too: then the caller must say which with
/// an ARN.
pub(crate) fn resolve(conn: &Connection, given: &[String]) -> Result<Vec<Target>, StoreError> {
    let mut out: Vec<Target> = Vec::with_capacity(given.len());
    for target in given {
        let resolved = match arn::parse(target) {
            Some(Resource::Thing(name)) => {
                check_target_name(target, name)?;
                Target::Thing(name.to_owned())
            }
            Some(Resource::ThingGroup(name)) => {
                check_target_name(target, name)?;
                group_target(conn, name)?
                    .ok_or_else(|| StoreError::NotFound(format!("thing group {name}")))?
            }
            None if target.starts_with("arn:") => {
                return Err(StoreError::InvalidRequest(format!(
                    "target {target:?} is not a thing or thing group ARN"
                )));
            }
            None => {
                check_target_name(target, target)?;
                match group_target(conn, target)? {
                    Some(_) if registry::load_thing(conn, target)?.is_some() => {
                        return Err(StoreError::InvalidRequest(format!(
                            "target {target:?} names both a thing and a thing group: give its ARN \
                             ({} or {})",
                            arn::thing_arn(target),
                            arn::thing_group_arn(target)
                        )));
                    }
                    Some(group) => group,
                    None => Target::Thing(target.clone()),
                }
            }
        };
        if !out.contains(&resolved) {
            out.push(resolved);
        }
    }
    Ok(out)
}

fn check_target_name(target: &str, name: &str) -> Result<(), StoreError> {
    check_name("target", name).map_err(|_| {
        StoreError::InvalidRequest(format!(
            "target {target:?} is not a thing or thing group name or ARN \
             (names are 1-128 characters of [a-zA-Z0-9:_-])"
        ))
    })
}

fn group_target(conn: &Connection, name: &str) -> Result<Option<Target>, StoreError> {
    Ok(registry::load_group(conn, name)?.map(|g| Target::Group {
        name: g.group_name,
        id: g.group_id,
    }))
}

/// The things `targets` reach now, without duplicates: direct things in
/// the order given, then group members by name.
pub(crate) fn expand(conn: &Connection, targets: &[Target]) -> Result<Vec<String>, StoreError> {
    let mut things: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for target in targets {
        let reached = match target {
            Target::Thing(name) => vec![name.clone()],
            Target::Group { name, .. } => members_recursive(conn, name)?,
        };
        for thing in reached {
            if seen.insert(thing.clone()) {
                things.push(thing);
            }
        }
    }
    Ok(things)
}

/// The members of group `name` and, for a static group, of every group
/// below it, by name.
pub(crate) fn members_recursive(conn: &Connection, name: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE tree(name) AS ( \
             SELECT group_name FROM thing_groups WHERE group_name = ?1 \
             UNION SELECT g.group_name FROM thing_groups g JOIN tree ON g.parent_name = tree.name) \
         SELECT DISTINCT m.thing_name FROM thing_group_members m \
             JOIN tree ON m.group_name = tree.name ORDER BY m.thing_name",
    )?;
    let rows = stmt.query_map([name], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<String>, _>>()?)
}

/// The groups whose members (recursively) include `thing`: its own groups
/// and their ancestors.
fn reaching(conn: &Connection, thing: &str) -> Result<BTreeSet<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE up(name) AS ( \
             SELECT group_name FROM thing_group_members WHERE thing_name = ?1 \
             UNION SELECT g.parent_name FROM thing_groups g JOIN up ON g.group_name = up.name \
                 WHERE g.parent_name IS NOT NULL) \
         SELECT name FROM up",
    )?;
    let rows = stmt.query_map([thing], |r| r.get(0))?;
    Ok(rows.collect::<Result<BTreeSet<String>, _>>()?)
}

/// Records a job's resolved targets.
pub(crate) fn save(conn: &Connection, job_id: &str, targets: &[Target]) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO job_targets (job_id, kind, name, group_id) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for t in targets {
        let id = match t {
            Target::Group { id, .. } => Some(id.as_str()),
            Target::Thing(_) => None,
        };
        insert.execute(params![job_id, t.kind(), t.name(), id])?;
    }
    Ok(())
}

/// The targets as `Job.targets` lists them: ARNs.
pub(crate) fn arns(targets: &[Target]) -> Vec<String> {
    targets.iter().map(Target::arn).collect()
}

/// Whether a continuous job's targets (as (kind, name)) reach `thing`,
/// given the groups that reach it ([`reaching`]).
fn reaches(targets: &[KindAndName], thing: &str, groups: &BTreeSet<String>) -> bool {
    targets.iter().any(|(kind, name)| match kind.as_str() {
        "thing" => name == thing,
        _ => groups.contains(name),
    })
}

/// Whether `job_id` still targets `thing`: always for a snapshot job (its
/// targets were fixed at creation); for a continuous one, while the thing
/// is a target or a member of a target group. A retry is queued only for a
/// thing the job still targets.
pub(crate) fn still_targets(
    conn: &Connection,
    job_id: &str,
    thing: &str,
) -> Result<bool, StoreError> {
    let selection = conn
        .prepare_cached("SELECT target_selection FROM jobs WHERE job_id = ?1")?
        .query_row([job_id], |r| selection_col(r, 0))
        .optional()?;
    if selection != Some(TargetSelection::Continuous) {
        return Ok(selection.is_some());
    }
    let targets: Vec<KindAndName> = conn
        .prepare_cached("SELECT kind, name FROM job_targets WHERE job_id = ?1")?
        .query_map([job_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(reaches(&targets, thing, &reaching(conn, thing)?))
}

/// Whether `thing` waits in `job_id`'s rollout, not released yet.
fn unreleased(conn: &Connection, job_id: &str, thing: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM rollout_pending WHERE job_id = ?1 AND thing_name = ?2)",
        )?
        .query_row(params![job_id, thing], |r| r.get(0))?)
}

/// Forgets `thing` among the unreleased targets of `job_id` (every job
/// when None): it left, or was deleted, before its release.
fn drop_unreleased_thing(
    conn: &Connection,
    job_id: Option<&str>,
    thing: &str,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM rollout_pending WHERE (?1 IS NULL OR job_id = ?1) AND thing_name = ?2",
        )?
        .execute(params![job_id, thing])?)
}

/// Brings the executions of every SCHEDULED or IN_PROGRESS continuous job
/// in step with the current membership of `things` (the module
/// documentation has the rules). A thing that is not registered is in no
/// group, but is still the target a job names directly.
///
/// A staged rollout does not hold a thing that joins later back: it gets
/// its execution at once, as AWS notifies things that join a continuous
/// job's groups. A thing still waiting for its release stays where it is
/// in the rollout while it remains a member, and leaves it, with nothing
/// to mark REMOVED, when it stops being one. While a job is SCHEDULED
/// (before its start time, or between maintenance windows) a thing that
/// joins waits among its unreleased targets instead: no execution is
/// queued before the schedule opens. A CANCELED (or aborted) or COMPLETED
/// job is left alone.
pub(crate) fn reconcile<'a>(
    conn: &Connection,
    things: impl IntoIterator<Item = &'a String>,
    now: i64,
    effects: &mut Effects,
) -> Result<(), StoreError> {
    let jobs = continuous_jobs(conn)?;
    if jobs.is_empty() {
        return Ok(());
    }
    for thing in things {
        // A deleted thing's memberships went with it.
        let groups = reaching(conn, thing)?;
        for (job_id, (status, targets)) in &jobs {
            let targeted = reaches(targets, thing, &groups);
            if unreleased(conn, job_id, thing)? {
                if !targeted {
                    drop_unreleased_thing(conn, Some(job_id), thing)?;
                }
                continue;
            }
            let latest = find_execution(conn, job_id, thing, None)?;
            let joins = match &latest {
                None => targeted,
                Some(r) => targeted && r.status == JobExecutionStatus::Removed,
            };
            if joins {
                let one = [thing.clone()];
                let queued = if *status == JobStatus::Scheduled {
                    rollout::admit(conn, job_id, &one, now)?
                } else {
                    rollout::queue_now(conn, job_id, &one, now)?
                };
                for row in queued {
                    effects.saw(row.record());
                }
            } else if let Some(mut r) = latest {
                if !targeted && r.status == JobExecutionStatus::Queued {
                    r.transition(JobExecutionStatus::Removed, now);
                    save_execution(conn, &r)?;
                    effects.saw(r.record());
                }
            }
        }
    }
    Ok(())
}

/// A job's targets as stored in `job_targets`: (kind, name).
type KindAndName = (String, String);

/// The SCHEDULED and IN_PROGRESS continuous jobs, with their status and
/// their targets.
fn continuous_jobs(
    conn: &Connection,
) -> Result<BTreeMap<String, (JobStatus, Vec<KindAndName>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT j.job_id, j.status, t.kind, t.name FROM jobs j \
         JOIN job_targets t ON t.job_id = j.job_id \
         WHERE j.target_selection = 'CONTINUOUS' AND j.status IN ('SCHEDULED', 'IN_PROGRESS')",
    )?;
    let mut jobs: BTreeMap<String, (JobStatus, Vec<KindAndName>)> = BTreeMap::new();
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, job_status_col(r, 1)?, r.get(2)?, r.get(3)?))
    })?;
    for row in rows {
        let (job, status, kind, name): (String, JobStatus, String, String) = row?;
        jobs.entry(job)
            .or_insert_with(|| (status, Vec::new()))
            .1
            .push((kind, name));
    }
    Ok(jobs)
}

/// A deleted thing is no longer scheduled to run anything: its QUEUED
/// executions, of every job, become REMOVED (AWS counts them in
/// `numberOfRemovedThings`), it leaves every rollout that had not
/// released it yet, and snapshot jobs left with nothing pending complete.
pub(crate) fn remove_thing(
    conn: &Connection,
    thing: &str,
    now: i64,
    effects: &mut Effects,
) -> Result<(), StoreError> {
    let waiting: Vec<String> = conn
        .prepare_cached("SELECT DISTINCT job_id FROM rollout_pending WHERE thing_name = ?1")?
        .query_map([thing], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    drop_unreleased_thing(conn, None, thing)?;
    for job_id in &waiting {
        complete_job_if_done(conn, job_id, now)?;
    }
    let queued = query_execs(
        conn,
        "WHERE e.thing_name = ?1 AND e.status = 'QUEUED' ORDER BY e.id",
        [thing],
    )?;
    for mut row in queued {
        row.transition(JobExecutionStatus::Removed, now);
        save_execution(conn, &row)?;
        complete_job_if_done(conn, &row.job_id, now)?;
        effects.saw(row.record());
    }
    Ok(())
}

impl Store {
    /// AssociateTargetsWithJob: adds `targets` to an IN_PROGRESS continuous
    /// job (at most [`MAX_JOB_TARGETS`] in all) and queues executions for
    /// the things they reach that the job has not reached yet. `comment`
    /// becomes the job's comment. Returns the things to notify.
    pub fn associate_targets(
        &mut self,
        job_id: &str,
        targets: &[String],
        comment: Option<&str>,
        now: i64,
    ) -> Result<Changes, StoreError> {
        if targets.is_empty() {
            return Err(StoreError::InvalidRequest(
                "targets needs at least one thing group ARN".into(),
            ));
        }
        if let Some(c) = comment {
            if c.is_empty() || c.chars().count() > 2028 || c.chars().any(char::is_control) {
                return Err(StoreError::InvalidRequest(
                    "comment must be 1-2028 characters, none of them control characters".into(),
                ));
            }
        }
        let tx = self.write_tx()?;
        let (status, selection, stored): (JobStatus, TargetSelection, String) = tx
            .query_row(
                "SELECT status, target_selection, targets FROM jobs WHERE job_id = ?1",
                [job_id],
                |r| Ok((job_status_col(r, 0)?, selection_col(r, 1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
        if selection != TargetSelection::Continuous {
            return Err(StoreError::InvalidRequest(format!(
                "job {job_id} is a SNAPSHOT job: targets can be associated with CONTINUOUS jobs only"
            )));
        }
        if status != JobStatus::InProgress {
            return Err(StoreError::InvalidRequest(format!(
                "job {job_id} is {status}: targets can be associated with IN_PROGRESS jobs only"
            )));
        }
        // Continuous jobs exist only since targets are stored as ARNs.
        let mut all: Vec<String> = serde_json::from_str(&stored)?;
        let added: Vec<Target> = resolve(&tx, targets)?
            .into_iter()
            .filter(|t| !all.contains(&t.arn()))
            .collect();
        let total = all.len() + added.len();
        if total > MAX_JOB_TARGETS {
            return Err(StoreError::LimitExceeded(format!(
                "job {job_id} would have {total} targets; at most {MAX_JOB_TARGETS} are allowed"
            )));
        }
        all.extend(arns(&added));
        tx.execute(
            "UPDATE jobs SET targets = ?2, comment = COALESCE(?3, comment), last_updated_at = ?4 \
             WHERE job_id = ?1",
            params![job_id, serde_json::to_string(&all)?, comment, now],
        )?;
        save(&tx, job_id, &added)?;
        let mut effects = Effects::default();
        let reached = expand(&tx, &added)?;
        reconcile(&tx, &reached, now, &mut effects)?;
        tx.commit()?;
        Ok(self.after_commit(effects))
    }
}
