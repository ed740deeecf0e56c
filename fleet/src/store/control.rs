//! The control plane: what an operator does to jobs, shaped after AWS IoT
//! CreateJob, DescribeJob, DescribeJobExecution, CancelJob,
//! CancelJobExecution, DeleteJob and DeleteJobExecution. The list calls are
//! in `lists`, UpdateJob in `settings`.

use super::cancel::cancel_in;
use super::events::JobChange;
use super::rollout;
use super::rows::{
    complete_job_if_done, find_execution, job_status, job_status_col, process_details, query_execs,
    save_execution,
};
use super::targets;
use super::types::{
    Changes, CreateJob, ExecutionRecord, Job, JobPlan, JobStatus, PresignedUrlConfig,
    ProcessDetails,
};
use super::{ExecutionChange, Store, StoreError};
use crate::rollout::JobConfigs;
use jobhost_protocol::topics::is_valid_job_id;
use jobhost_protocol::JobExecutionStatus;
use rusqlite::{params, Connection, OptionalExtension};

/// AWS's limit on an in-progress timeout: 1 minute to 7 days
/// (<https://docs.aws.amazon.com/iot/latest/apireference/API_TimeoutConfig.html>).
pub(crate) const TIMEOUT_MINUTES_MAX: u32 = 10_080;

/// AWS's limit on a job description and a cancel comment (CreateJob,
/// CancelJob: 2028 characters).
const TEXT_MAX_CHARS: usize = 2028;

/// AWS's limit on CancelJob's `reasonCode` (`ReasonCode`: at most 128 of
/// `[\p{Upper}\p{Digit}_]`, Java's ASCII classes, so `[A-Z0-9_]`).
const REASON_CODE_MAX_CHARS: usize = 128;

impl Store {
    /// CreateJob: stores the job and queues one execution (number 1,
    /// version 1) per distinct thing its targets reach (thing targets, and
    /// the members of target groups now). `job.targets` are the targets as
    /// ARNs, not thing names.
    pub fn create_job(&mut self, req: &CreateJob, now: i64) -> Result<Job, StoreError> {
        Ok(self.create_job_with(req, &JobConfigs::default(), now)?.0)
    }

    /// CreateJob with a staged rollout, abort rules, a schedule or retries
    /// (`configs`, read and checked by [`JobConfigs::from_json`]; without
    /// any it is [`Store::create_job`]). A job with a rollout or a schedule
    /// queues an execution only for the targets released now (none if it
    /// is SCHEDULED); the rest wait for [`Store::advance_rollouts`]. A
    /// group target reaches the group's members now
    /// (`targets::{resolve, expand}`); they are released like any target.
    /// Returns the job and the things whose pending lists changed: the ones
    /// to notify.
    pub fn create_job_with(
        &mut self,
        req: &CreateJob,
        configs: &JobConfigs,
        now: i64,
    ) -> Result<(Job, Changes), StoreError> {
        validate_create(req)?;
        let text = req.document.check()?;
        if let Some(c) = &req.presigned_url_config {
            c.check()?;
        }
        let presigned = req.presigned_url_config.clone().and_then(|c| c.non_empty());
        let template = req.template.as_ref();
        let parameters = template
            .map(|t| serde_json::to_string(&t.parameters))
            .transpose()?;
        let [rollout_config, abort_config, scheduling_config, retry_config] =
            rollout::config_columns(configs)?;
        let tx = self.write_tx()?;
        if job_status(&tx, &req.job_id)?.is_some() {
            return Err(StoreError::AlreadyExists(format!("job {}", req.job_id)));
        }
        let resolved = targets::resolve(&tx, &req.targets)?;
        let things = targets::expand(&tx, &resolved)?;
        tx.execute(
            "INSERT INTO jobs (job_id, status, targets, document, description, created_at, \
             last_updated_at, in_progress_timeout_minutes, presigned_url_role_arn, \
             presigned_url_expires_in_sec, job_template_arn, document_parameters, \
             document_before_substitution, rollout_config, abort_config, scheduling_config, \
             retry_config, target_selection) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                req.job_id,
                rollout::initial_status(configs, now).as_str(),
                serde_json::to_string(&targets::arns(&resolved))?,
                text,
                req.description,
                now,
                req.in_progress_timeout_minutes,
                presigned.as_ref().and_then(|c| c.role_arn.as_deref()),
                presigned.as_ref().and_then(|c| c.expires_in_sec),
                template.map(|t| t.arn.as_str()),
                parameters,
                template.map(|t| t.document.as_str()),
                rollout_config,
                abort_config,
                scheduling_config,
                retry_config,
                req.target_selection.as_str(),
            ],
        )?;
        targets::save(&tx, &req.job_id, &resolved)?;
        let created = rollout::admit(&tx, &req.job_id, &things, now)?;
        // A snapshot of empty groups has nothing to wait for.
        complete_job_if_done(&tx, &req.job_id, now)?;
        let job = load_job(&tx, &req.job_id)?;
        tx.commit()?;
        let changes = Changes {
            things: created.iter().map(|r| r.thing_name.clone()).collect(),
        };
        // A follower sees each execution from its first state, QUEUED.
        self.publish(created.iter().map(|r| ExecutionChange::Updated(r.record())));
        Ok((job, changes))
    }

    /// DescribeJob, with the counts of `jobProcessDetails`.
    pub fn describe_job(&self, job_id: &str) -> Result<Job, StoreError> {
        let tx = self.read_tx()?;
        load_job(&tx, job_id)
    }

    /// DescribeJobExecution (control plane): execution `execution_number`
    /// of the job on the thing, or the latest one.
    pub fn describe_execution(
        &self,
        job_id: &str,
        thing: &str,
        execution_number: Option<u64>,
    ) -> Result<ExecutionRecord, StoreError> {
        find_execution(&self.conn, job_id, thing, execution_number)?
            .map(|r| r.record())
            .ok_or_else(|| not_found(job_id, thing))
    }

    /// CancelJob. The job becomes CANCELED and its QUEUED executions too;
    /// IN_PROGRESS ones only with `force` (their devices find out when their
    /// next update is rejected, as in AWS:
    /// <https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html>). `reason_code` and `comment`
    /// are stored and returned by DescribeJob. A COMPLETED job has nothing
    /// to cancel: InvalidRequest (AWS's CancelJob models no conflict
    /// error). Cancelling a CANCELED job again is a no-op, unless `force`
    /// asks to cancel the IN_PROGRESS executions the first call left.
    pub fn cancel_job(
        &mut self,
        job_id: &str,
        force: bool,
        reason_code: Option<&str>,
        comment: Option<&str>,
        now: i64,
    ) -> Result<Changes, StoreError> {
        if let Some(c) = comment {
            check_text("comment", c)?;
        }
        if let Some(r) = reason_code {
            check_reason_code(r)?;
        }
        let tx = self.write_tx()?;
        let (status, _) = job_status(&tx, job_id)?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
        match status {
            JobStatus::InProgress | JobStatus::Scheduled => {}
            JobStatus::Canceled if force => {}
            JobStatus::Canceled => return Ok(Changes::none()),
            JobStatus::Completed | JobStatus::DeletionInProgress => {
                return Err(StoreError::InvalidRequest(format!(
                    "job {job_id} is {status}: there is nothing left to cancel"
                )));
            }
        }
        let cancelled = cancel_in(&tx, job_id, force, comment, reason_code, now)?;
        tx.commit()?;
        self.publish(cancelled.events);
        Ok(cancelled.changes)
    }

    /// CancelJobExecution on the thing's latest execution of the job:
    /// QUEUED → CANCELED; IN_PROGRESS only with `force`; a terminal one is
    /// an InvalidStateTransition, a stale `expected_version` a
    /// VersionConflict (AWS's exceptions for CancelJobExecution). Completes
    /// the job if this was its last pending execution.
    pub fn cancel_execution(
        &mut self,
        job_id: &str,
        thing: &str,
        force: bool,
        expected_version: Option<u64>,
        now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        let mut row =
            find_execution(&tx, job_id, thing, None)?.ok_or_else(|| not_found(job_id, thing))?;
        if let Some(expected) = expected_version {
            if expected != row.version_number {
                return Err(StoreError::VersionConflict(format!(
                    "expected version {expected}, the execution is at version {}",
                    row.version_number
                )));
            }
        }
        match row.status {
            JobExecutionStatus::Queued => {}
            JobExecutionStatus::InProgress if force => row.force_canceled = true,
            JobExecutionStatus::InProgress => {
                return Err(StoreError::InvalidStateTransition(format!(
                    "the execution of {job_id} on {thing} is IN_PROGRESS: cancel it with force"
                )));
            }
            terminal => {
                return Err(StoreError::InvalidStateTransition(format!(
                    "the execution of {job_id} on {thing} is already {terminal}"
                )));
            }
        }
        row.transition(JobExecutionStatus::Canceled, now);
        save_execution(&tx, &row)?;
        complete_job_if_done(&tx, job_id, now)?;
        tx.commit()?;
        self.publish([ExecutionChange::Updated(row.record())]);
        Ok(Changes::thing(thing))
    }

    /// DeleteJob: removes the job and every execution of it at once (so no
    /// job is ever seen in DELETION_IN_PROGRESS). A job with IN_PROGRESS
    /// executions needs `force`, since their devices are mid-operation
    /// (without it: InvalidStateTransition, as in AWS). Returns the things that had pending executions of it. Every
    /// execution of the job, ended or not, is sent as
    /// [`ExecutionChange::Deleted`], so that a follower waiting for it to
    /// end learns that it never will, and then the job as it was, as
    /// [`ExecutionChange::Job`], stamped `now` (AWS's `deleted` events,
    /// <https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html>).
    pub fn delete_job(
        &mut self,
        job_id: &str,
        force: bool,
        now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        if job_status(&tx, job_id)?.is_none() {
            return Err(StoreError::NotFound(format!("job {job_id}")));
        }
        let job = load_job(&tx, job_id)?;
        let executions = query_execs(&tx, "WHERE e.job_id = ?1 ORDER BY e.id", [job_id])?;
        if !force
            && executions
                .iter()
                .any(|r| r.status == JobExecutionStatus::InProgress)
        {
            return Err(StoreError::InvalidStateTransition(format!(
                "job {job_id} has IN_PROGRESS executions: delete it with force"
            )));
        }
        // The executions go with it: ON DELETE CASCADE.
        tx.execute("DELETE FROM jobs WHERE job_id = ?1", [job_id])?;
        tx.commit()?;
        let things = executions
            .iter()
            .filter(|r| !r.status.is_terminal())
            .map(|r| r.thing_name.clone())
            .collect();
        let deleted = executions.into_iter().map(|r| ExecutionChange::Deleted {
            job_id: r.job_id,
            thing_name: r.thing_name,
            execution_number: r.execution_number,
            status: r.status,
            status_details: r.status_details,
            deleted_at: now,
        });
        let job = ExecutionChange::Job(JobChange::deleted(job, now));
        self.publish(deleted.chain([job]));
        Ok(Changes { things })
    }

    /// DeleteJobExecution: removes execution `execution_number` of the job
    /// on the thing, as AWS does
    /// (<https://docs.aws.amazon.com/iot/latest/apireference/API_DeleteJobExecution.html>): a terminal execution
    /// always; an IN_PROGRESS one only with `force` (its device can no
    /// longer read or update it); a QUEUED one never (cancel it first).
    /// Refusals are InvalidStateTransition. Deleting the IN_PROGRESS one
    /// changes the thing's pending list, and completes the job if it was
    /// the job's last pending execution.
    pub fn delete_execution(
        &mut self,
        job_id: &str,
        thing: &str,
        execution_number: u64,
        force: bool,
        now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        let row = find_execution(&tx, job_id, thing, Some(execution_number))?.ok_or_else(|| {
            StoreError::NotFound(format!(
                "no execution number {execution_number} of job {job_id} on thing {thing}"
            ))
        })?;
        match row.status {
            JobExecutionStatus::InProgress if force => {}
            JobExecutionStatus::InProgress => {
                return Err(StoreError::InvalidStateTransition(format!(
                    "the execution of {job_id} on {thing} is IN_PROGRESS: delete it with force"
                )));
            }
            JobExecutionStatus::Queued => {
                return Err(StoreError::InvalidStateTransition(format!(
                    "the execution of {job_id} on {thing} is QUEUED: only a terminal \
                     (or, with force, an IN_PROGRESS) execution can be deleted; cancel it first"
                )));
            }
            _ => {}
        }
        tx.execute("DELETE FROM executions WHERE id = ?1", [row.id])?;
        let pending = !row.status.is_terminal();
        if pending {
            complete_job_if_done(&tx, job_id, now)?;
        }
        tx.commit()?;
        self.publish([ExecutionChange::Deleted {
            job_id: row.job_id,
            thing_name: row.thing_name,
            execution_number: row.execution_number,
            status: row.status,
            status_details: row.status_details,
            deleted_at: now,
        }]);
        Ok(if pending {
            Changes::thing(thing)
        } else {
            Changes::none()
        })
    }
}

fn not_found(job_id: &str, thing: &str) -> StoreError {
    StoreError::NotFound(format!("no execution of job {job_id} on thing {thing}"))
}

/// Checks a CreateJob; its targets are resolved in the transaction
/// (`targets::resolve`), since a name may be a thing group's.
fn validate_create(req: &CreateJob) -> Result<(), StoreError> {
    let invalid = |m: String| Err(StoreError::InvalidRequest(m));
    if !is_valid_job_id(&req.job_id) {
        return invalid(format!(
            "job id {:?} must be 1-64 characters of [a-zA-Z0-9_-]",
            req.job_id
        ));
    }
    if req.targets.is_empty() {
        return invalid("a job needs at least one target".into());
    }
    if let Some(d) = &req.description {
        check_text("description", d)?;
    }
    if let Some(m) = req.in_progress_timeout_minutes {
        check_timeout(m)?;
    }
    Ok(())
}

/// A description or comment: at most 2028 characters and no control
/// characters (AWS's pattern `[^\p{C}]+`; newlines and tabs are control
/// characters too).
pub(crate) fn check_text(what: &str, text: &str) -> Result<(), StoreError> {
    if text.chars().count() > TEXT_MAX_CHARS {
        return Err(StoreError::InvalidRequest(format!(
            "the {what} is longer than {TEXT_MAX_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(StoreError::InvalidRequest(format!(
            "the {what} contains a control character (a newline, a tab, ...)"
        )));
    }
    Ok(())
}

/// `timeoutConfig.inProgressTimeoutInMinutes`: 1-10080.
pub(crate) fn check_timeout(minutes: u32) -> Result<(), StoreError> {
    if (1..=TIMEOUT_MINUTES_MAX).contains(&minutes) {
        Ok(())
    } else {
        Err(StoreError::InvalidRequest(format!(
            "inProgressTimeoutInMinutes {minutes} is outside 1-{TIMEOUT_MINUTES_MAX}"
        )))
    }
}

/// CancelJob's `reasonCode`: 1-128 of `[A-Z0-9_]`.
fn check_reason_code(code: &str) -> Result<(), StoreError> {
    let valid = !code.is_empty()
        && code.len() <= REASON_CODE_MAX_CHARS
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidRequest(format!(
            "reasonCode {code:?} must be 1-{REASON_CODE_MAX_CHARS} characters of [A-Z0-9_]"
        )))
    }
}

/// A job and its counts, read inside the caller's transaction.
pub(crate) fn load_job(conn: &Connection, job_id: &str) -> Result<Job, StoreError> {
    let found = conn
        .query_row(
            "SELECT status, targets, document, description, created_at, last_updated_at, \
             completed_at, in_progress_timeout_minutes, comment, force_canceled, reason_code, \
             presigned_url_role_arn, presigned_url_expires_in_sec, job_template_arn, \
             document_parameters, target_selection FROM jobs WHERE job_id = ?1",
            [job_id],
            |r| {
                // The JSON columns are parsed below, outside rusqlite's
                // error type.
                let job = Job {
                    job_id: job_id.to_owned(),
                    status: job_status_col(r, 0)?,
                    target_selection: super::rows::selection_col(r, 15)?,
                    targets: Vec::new(),
                    document: serde_json::Value::Null,
                    description: r.get(3)?,
                    created_at: r.get(4)?,
                    last_updated_at: r.get(5)?,
                    completed_at: r.get(6)?,
                    in_progress_timeout_minutes: r.get(7)?,
                    comment: r.get(8)?,
                    force_canceled: r.get(9)?,
                    reason_code: r.get(10)?,
                    presigned_url_config: PresignedUrlConfig {
                        role_arn: r.get(11)?,
                        expires_in_sec: r.get(12)?,
                    }
                    .non_empty(),
                    job_template_arn: r.get(13)?,
                    document_parameters: None,
                    process_details: ProcessDetails::default(),
                    plan: JobPlan::default(),
                };
                let json: (String, String, Option<String>) = (r.get(1)?, r.get(2)?, r.get(14)?);
                Ok((job, json))
            },
        )
        .optional()?;
    let Some((mut job, (targets, document, parameters))) = found else {
        return Err(StoreError::NotFound(format!("job {job_id}")));
    };
    // Jobs created before thing groups existed stored thing names.
    let stored: Vec<String> = serde_json::from_str(&targets)?;
    job.targets = stored
        .into_iter()
        .map(|t| {
            if t.starts_with("arn:") {
                t
            } else {
                crate::arn::thing_arn(&t)
            }
        })
        .collect();
    job.document = serde_json::from_str(&document)?;
    job.document_parameters = parameters
        .as_deref()
        .map(serde_json::from_str)
        .transpose()?;
    job.process_details = process_details(conn, job_id)?;
    if let Some(rules) = rollout::load_rules(conn, job_id)? {
        job.plan = rollout::plan(conn, rules, &job.process_details)?;
    }
    Ok(job)
}
