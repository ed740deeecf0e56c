//! The control plane: what an operator does to jobs, shaped after AWS IoT
//! CreateJob, DescribeJob, ListJobs, ListJobExecutionsForJob/ForThing,
//! DescribeJobExecution, CancelJob, CancelJobExecution and DeleteJob.

use super::rows::{
    complete_job_if_done, find_execution, job_status, job_status_col, query_execs, save_execution,
};
use super::targets::{self, JobFilter};
use super::types::{
    Changes, CreateJob, ExecutionRecord, Job, JobStatus, JobSummary, ProcessDetails,
};
use super::{ExecutionChange, Store, StoreError};
use jobhost_protocol::limits::MAX_JOB_DOCUMENT_BYTES;
use jobhost_protocol::topics::is_valid_job_id;
use jobhost_protocol::JobExecutionStatus;
use rusqlite::{params, Connection, OptionalExtension};

/// AWS's limit on an in-progress timeout: 1 minute to 7 days
/// (<https://docs.aws.amazon.com/iot/latest/apireference/API_TimeoutConfig.html>).
pub(crate) const TIMEOUT_MINUTES_MAX: u32 = 10_080;

/// AWS's limit on a job description and a cancel comment (CreateJob,
/// CancelJob: 2028 characters).
const TEXT_MAX_CHARS: usize = 2028;

impl Store {
    /// CreateJob: stores the job and queues one execution (number 1,
    /// version 1) per distinct thing its targets reach
    /// ([`Store::create_job_notifying`] says which).
    pub fn create_job(&mut self, req: &CreateJob, now: i64) -> Result<Job, StoreError> {
        self.create_job_notifying(req, now).map(|(job, _)| job)
    }

    /// CreateJob, returning the things whose pending lists changed (those
    /// the targets reach: thing targets, and the members of target groups
    /// now), for the service to notify. `job.targets` are the targets as
    /// ARNs, not thing names.
    pub fn create_job_notifying(
        &mut self,
        req: &CreateJob,
        now: i64,
    ) -> Result<(Job, Changes), StoreError> {
        validate_create(req)?;
        let document = serde_json::to_string(&req.document)?;
        if document.len() > MAX_JOB_DOCUMENT_BYTES {
            return Err(StoreError::InvalidRequest(format!(
                "the job document is {} bytes; at most {MAX_JOB_DOCUMENT_BYTES} are allowed",
                document.len()
            )));
        }
        let tx = self.write_tx()?;
        if job_status(&tx, &req.job_id)?.is_some() {
            return Err(StoreError::AlreadyExists(format!("job {}", req.job_id)));
        }
        let resolved = targets::resolve(&tx, &req.targets)?;
        let things = targets::expand(&tx, &resolved)?;
        tx.execute(
            "INSERT INTO jobs (job_id, status, targets, document, description, created_at, \
             last_updated_at, in_progress_timeout_minutes, target_selection) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
            params![
                req.job_id,
                JobStatus::InProgress.as_str(),
                serde_json::to_string(&targets::arns(&resolved))?,
                document,
                req.description,
                now,
                req.in_progress_timeout_minutes,
                req.target_selection.as_str(),
            ],
        )?;
        targets::save(&tx, &req.job_id, &resolved)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO executions (job_id, thing_name, execution_number, status, \
                 queued_at, last_updated_at, version_number) VALUES (?1, ?2, 1, 'QUEUED', ?3, ?3, 1)",
            )?;
            for thing in &things {
                insert.execute(params![req.job_id, thing, now])?;
            }
        }
        // A snapshot of empty groups has nothing to wait for.
        complete_job_if_done(&tx, &req.job_id, now)?;
        let job = load_job(&tx, &req.job_id)?;
        let created = query_execs(&tx, "WHERE e.job_id = ?1 ORDER BY e.id", [&req.job_id])?;
        tx.commit()?;
        // A follower sees each execution from its first state, QUEUED.
        self.publish(created.iter().map(|r| ExecutionChange::Updated(r.record())));
        Ok((
            job,
            Changes {
                things: things.into_iter().collect(),
            },
        ))
    }

    /// DescribeJob, with the counts of `jobProcessDetails`.
    pub fn describe_job(&self, job_id: &str) -> Result<Job, StoreError> {
        let tx = self.read_tx()?;
        load_job(&tx, job_id)
    }

    /// ListJobs, oldest first, optionally only those with `status`
    /// ([`Store::list_jobs_matching`] takes every filter).
    pub fn list_jobs(&self, status: Option<JobStatus>) -> Result<Vec<JobSummary>, StoreError> {
        self.list_jobs_matching(&JobFilter {
            status,
            ..JobFilter::default()
        })
    }

    /// ListJobExecutionsForJob, in target order. An unknown job is
    /// NotFound (unlike an unknown thing, which simply has no executions).
    pub fn list_executions_for_job(
        &self,
        job_id: &str,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let tx = self.read_tx()?;
        if job_status(&tx, job_id)?.is_none() {
            return Err(StoreError::NotFound(format!("job {job_id}")));
        }
        let rows = query_execs(&tx, "WHERE e.job_id = ?1 ORDER BY e.id", [job_id])?;
        Ok(rows.iter().map(|r| r.record()).collect())
    }

    /// ListJobExecutionsForThing, oldest first. Things are not registered
    /// anywhere, so an unknown thing has an empty list, not an error.
    pub fn list_executions_for_thing(
        &self,
        thing: &str,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let rows = query_execs(&self.conn, "WHERE e.thing_name = ?1 ORDER BY e.id", [thing])?;
        Ok(rows.iter().map(|r| r.record()).collect())
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
    /// <https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html>). A COMPLETED job has nothing to
    /// cancel: Conflict. Cancelling a CANCELED job again is a no-op, unless
    /// `force` asks to cancel the IN_PROGRESS executions the first call left.
    pub fn cancel_job(
        &mut self,
        job_id: &str,
        force: bool,
        comment: Option<&str>,
        now: i64,
    ) -> Result<Changes, StoreError> {
        if let Some(c) = comment {
            check_text("comment", c)?;
        }
        let tx = self.write_tx()?;
        let (status, _) = job_status(&tx, job_id)?
            .ok_or_else(|| StoreError::NotFound(format!("job {job_id}")))?;
        match status {
            JobStatus::InProgress => {}
            JobStatus::Canceled if force => {}
            JobStatus::Canceled => return Ok(Changes::none()),
            JobStatus::Completed | JobStatus::DeletionInProgress => {
                return Err(StoreError::Conflict(format!("job {job_id} is {status}")));
            }
        }
        tx.execute(
            "UPDATE jobs SET status = 'CANCELED', comment = COALESCE(?2, comment), \
             force_canceled = (force_canceled OR ?3), last_updated_at = ?4 WHERE job_id = ?1",
            params![job_id, comment, force, now],
        )?;
        let mut changes = Changes::none();
        let mut events = Vec::new();
        let victims = if force {
            "WHERE e.job_id = ?1 AND e.status IN ('QUEUED', 'IN_PROGRESS') ORDER BY e.id"
        } else {
            "WHERE e.job_id = ?1 AND e.status = 'QUEUED' ORDER BY e.id"
        };
        for mut row in query_execs(&tx, victims, [job_id])? {
            row.force_canceled = row.status == JobExecutionStatus::InProgress;
            row.transition(JobExecutionStatus::Canceled, now);
            save_execution(&tx, &row)?;
            events.push(ExecutionChange::Updated(row.record()));
            changes.things.insert(row.thing_name);
        }
        tx.commit()?;
        self.publish(events);
        Ok(changes)
    }

    /// CancelJobExecution on the thing's latest execution of the job:
    /// QUEUED → CANCELED; IN_PROGRESS only with `force`; a terminal one, or
    /// a stale `expected_version`, is a Conflict. Completes the job if this
    /// was its last pending execution.
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
                return Err(StoreError::Conflict(format!(
                    "expected version {expected}, the execution is at version {}",
                    row.version_number
                )));
            }
        }
        match row.status {
            JobExecutionStatus::Queued => {}
            JobExecutionStatus::InProgress if force => row.force_canceled = true,
            JobExecutionStatus::InProgress => {
                return Err(StoreError::Conflict(format!(
                    "the execution of {job_id} on {thing} is IN_PROGRESS: cancel it with force"
                )));
            }
            terminal => {
                return Err(StoreError::Conflict(format!(
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
    /// executions needs `force`, since their devices are mid-operation.
    /// Returns the things that had pending executions of it. Every
    /// execution of the job, ended or not, is sent as
    /// [`ExecutionChange::Deleted`], so that a follower waiting for it to
    /// end learns that it never will.
    ///
    /// `now` is unused today; it is in the signature so that deletion events
    /// (AWS's `$aws/events/job/...`, <https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html>) can be
    /// stamped without changing callers.
    pub fn delete_job(
        &mut self,
        job_id: &str,
        force: bool,
        _now: i64,
    ) -> Result<Changes, StoreError> {
        let tx = self.write_tx()?;
        if job_status(&tx, job_id)?.is_none() {
            return Err(StoreError::NotFound(format!("job {job_id}")));
        }
        let executions = query_execs(&tx, "WHERE e.job_id = ?1 ORDER BY e.id", [job_id])?;
        if !force
            && executions
                .iter()
                .any(|r| r.status == JobExecutionStatus::InProgress)
        {
            return Err(StoreError::Conflict(format!(
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
        self.publish(executions.into_iter().map(|r| ExecutionChange::Deleted {
            job_id: r.job_id,
            thing_name: r.thing_name,
            execution_number: r.execution_number,
        }));
        Ok(Changes { things })
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
    if !req.document.is_object() {
        // Devices read the document as an object (`jobDocument` in
        // https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_JobExecution.html).
        return invalid("the job document must be a JSON object".into());
    }
    if let Some(d) = &req.description {
        check_text("description", d)?;
    }
    if let Some(m) = req.in_progress_timeout_minutes {
        if !(1..=TIMEOUT_MINUTES_MAX).contains(&m) {
            return invalid(format!(
                "inProgressTimeoutInMinutes {m} is outside 1-{TIMEOUT_MINUTES_MAX}"
            ));
        }
    }
    Ok(())
}

fn check_text(what: &str, text: &str) -> Result<(), StoreError> {
    if text.chars().count() > TEXT_MAX_CHARS {
        return Err(StoreError::InvalidRequest(format!(
            "the {what} is longer than {TEXT_MAX_CHARS} characters"
        )));
    }
    Ok(())
}

/// A job and its counts, read inside the caller's transaction.
pub(crate) fn load_job(conn: &Connection, job_id: &str) -> Result<Job, StoreError> {
    let found = conn
        .query_row(
            "SELECT status, targets, document, description, created_at, last_updated_at, \
             completed_at, in_progress_timeout_minutes, comment, force_canceled, \
             target_selection FROM jobs WHERE job_id = ?1",
            [job_id],
            |r| {
                // The JSON columns are parsed below, outside rusqlite's
                // error type.
                let job = Job {
                    job_id: job_id.to_owned(),
                    status: job_status_col(r, 0)?,
                    target_selection: targets::selection_col(r, 10)?,
                    targets: Vec::new(),
                    document: serde_json::Value::Null,
                    description: r.get(3)?,
                    created_at: r.get(4)?,
                    last_updated_at: r.get(5)?,
                    completed_at: r.get(6)?,
                    in_progress_timeout_minutes: r.get(7)?,
                    comment: r.get(8)?,
                    force_canceled: r.get(9)?,
                    process_details: ProcessDetails::default(),
                };
                Ok((job, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
            },
        )
        .optional()?;
    let Some((mut job, targets, document)) = found else {
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
    job.process_details = process_details(conn, job_id)?;
    Ok(job)
}

/// `jobProcessDetails`: each thing counts once, with its latest execution.
fn process_details(conn: &Connection, job_id: &str) -> Result<ProcessDetails, StoreError> {
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
