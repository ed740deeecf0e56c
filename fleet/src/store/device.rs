//! The device plane: the AWS IoT Jobs MQTT API
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>).
//! Errors are the AWS `/rejected` codes, as [`Rejection`]s. What the
//! notifications read is in `queues`.

use super::retry;
use super::rollout::abort;
use super::rows::{
    complete_job_if_done, find_execution, job_document, job_status, pending, save_execution,
    ExecRow,
};
use super::timeouts::{in_progress_deadline, StepTimer};
use super::types::{Changes, Rejection, UpdateResult};
use super::{ExecutionChange, Store, StoreError};
use jobhost_protocol::requests::{
    DescribeRequest, RawStatusDetails, StartNextRequest, UpdateRequest,
};
use jobhost_protocol::topics::NEXT;
use jobhost_protocol::{
    ErrorCode, JobExecution, JobExecutionStatus, JobExecutionSummary, StatusDetails,
};
use rusqlite::Connection;

impl Store {
    /// GetPendingJobExecutions: (IN_PROGRESS, QUEUED) summaries of `thing`,
    /// each in queue order.
    pub fn get_pending(
        &self,
        thing: &str,
    ) -> Result<(Vec<JobExecutionSummary>, Vec<JobExecutionSummary>), StoreError> {
        let rows = pending(&self.conn, thing, i64::MAX)?;
        let (in_progress, queued): (Vec<ExecRow>, Vec<ExecRow>) = rows
            .into_iter()
            .partition(|r| r.status == JobExecutionStatus::InProgress);
        Ok((
            in_progress.iter().map(ExecRow::summary).collect(),
            queued.iter().map(ExecRow::summary).collect(),
        ))
    }

    /// StartNextPendingJobExecution: returns the head of the queue, with its
    /// document. A QUEUED head becomes IN_PROGRESS with the request's
    /// statusDetails; an IN_PROGRESS head keeps its details, so that a
    /// restarted device can resume with this call
    /// (<https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_StartNextPendingJobExecution.html>). A given
    /// `stepTimeoutInMinutes` replaces the step timer either way; on an
    /// IN_PROGRESS head that changes nothing the device sees, so neither
    /// the version nor the pending list changes. None when nothing is
    /// pending.
    pub fn start_next(
        &mut self,
        thing: &str,
        req: &StartNextRequest,
        now: i64,
    ) -> Result<(Option<JobExecution>, Changes), Rejection> {
        let step = StepTimer::parse(req.step_timeout_in_minutes)?;
        let details = req
            .status_details
            .as_ref()
            .map(validate_details)
            .transpose()?;
        let tx = self.write_tx()?;
        let Some(mut row) = pending(&tx, thing, 1)?.into_iter().next() else {
            return Ok((None, Changes::none()));
        };
        let mut changes = Changes::none();
        let started = row.status == JobExecutionStatus::Queued;
        if started {
            start(&tx, &mut row, now)?;
            if details.is_some() {
                row.status_details = details;
            }
            row.transition(JobExecutionStatus::InProgress, now);
            changes = Changes::thing(thing);
        }
        if let Some(step) = step {
            row.step_deadline = step.deadline(now, row.in_progress_deadline);
        }
        save_execution(&tx, &row)?;
        let document = job_document(&tx, &row.job_id)?;
        tx.commit()?;
        // Resuming an IN_PROGRESS head changes no version: no event.
        if started {
            self.publish([ExecutionChange::Updated(row.record())]);
        }
        Ok((Some(row.execution(Some(document))), changes))
    }

    /// DescribeJobExecution. `$next` is the head of the queue, or None when
    /// nothing is pending (not an error). A job id is the thing's latest
    /// execution of it, or execution `executionNumber`: ResourceNotFound if
    /// there is none, TerminalStateReached if it has ended. The document is
    /// included unless `includeJobDocument` is false (the MQTT default is
    /// true: <https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_DescribeJobExecution.html>).
    /// Never changes state.
    pub fn describe(
        &self,
        thing: &str,
        job_id: &str,
        req: &DescribeRequest,
    ) -> Result<Option<JobExecution>, Rejection> {
        let tx = self.read_tx()?;
        let row = if job_id == NEXT {
            match pending(&tx, thing, 1)?.into_iter().next() {
                Some(row) => row,
                None => return Ok(None),
            }
        } else {
            let row = find_execution(&tx, job_id, thing, req.execution_number)?
                .ok_or_else(|| not_found(job_id, thing, req.execution_number))?;
            if row.status.is_terminal() {
                return Err(Rejection::new(
                    ErrorCode::TerminalStateReached,
                    format!("the execution of job {job_id} is {}", row.status),
                ));
            }
            row
        };
        let document = match req.include_job_document {
            Some(false) => None,
            _ => Some(job_document(&tx, &row.job_id)?),
        };
        Ok(Some(row.execution(document)))
    }

    /// UpdateJobExecution
    /// (<https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_UpdateJobExecution.html>), checked in this order: the status must be
    /// one a device may set, the statusDetails and stepTimeoutInMinutes
    /// within limits (InvalidRequest); the execution must exist
    /// (ResourceNotFound); `expectedVersion` must match (VersionMismatch)
    /// and the execution must not have ended (InvalidStateTransition), both
    /// rejections carrying the current state. statusDetails replace the
    /// stored map when present and keep it when absent.
    ///
    /// The pending list changes when the status does: a QUEUED execution
    /// starts or ends, or an IN_PROGRESS one ends. A progress update
    /// (IN_PROGRESS → IN_PROGRESS) changes no list.
    ///
    /// An update that ends the execution checks the job's abort rules and
    /// then queues its retry if the job's `jobExecutionsRetryConfig` allows
    /// one (`super::retry`), in the same transaction.
    pub fn update(
        &mut self,
        thing: &str,
        job_id: &str,
        req: &UpdateRequest,
        now: i64,
    ) -> Result<(UpdateResult, Changes), Rejection> {
        use JobExecutionStatus as S;
        if !matches!(
            req.status,
            S::InProgress | S::Succeeded | S::Failed | S::Rejected
        ) {
            return Err(Rejection::new(
                ErrorCode::InvalidRequest,
                format!(
                    "a device cannot set status {}: use IN_PROGRESS, SUCCEEDED, FAILED or REJECTED",
                    req.status
                ),
            ));
        }
        let details = req
            .status_details
            .as_ref()
            .map(validate_details)
            .transpose()?;
        let step = StepTimer::parse(req.step_timeout_in_minutes)?;
        let tx = self.write_tx()?;
        let mut row = find_execution(&tx, job_id, thing, req.execution_number)?
            .ok_or_else(|| not_found(job_id, thing, req.execution_number))?;
        if let Some(expected) = req.expected_version {
            if expected != row.version_number {
                return Err(Rejection {
                    code: ErrorCode::VersionMismatch,
                    message: format!(
                        "expectedVersion {expected} does not match versionNumber {}",
                        row.version_number
                    ),
                    execution_state: Some(row.state()),
                });
            }
        }
        if row.status.is_terminal() {
            return Err(Rejection {
                code: ErrorCode::InvalidStateTransition,
                message: format!(
                    "the execution of job {job_id} is {}; it accepts no update",
                    row.status
                ),
                execution_state: Some(row.state()),
            });
        }
        let before = row.status;
        if before == S::Queued && req.status == S::InProgress {
            start(&tx, &mut row, now)?;
        }
        if details.is_some() {
            row.status_details = details;
        }
        row.transition(req.status, now);
        if let (S::InProgress, Some(step)) = (req.status, step) {
            row.step_deadline = step.deadline(now, row.in_progress_deadline);
        }
        save_execution(&tx, &row)?;
        let mut aborted = None;
        let mut retried = None;
        if req.status.is_terminal() {
            // The abort rules first, while this execution is the thing's
            // latest; a job they cancel retries nothing.
            aborted = abort::after_terminal(&tx, job_id, now)?;
            retried = retry::after_terminal(&tx, &row, now)?;
            complete_job_if_done(&tx, job_id, now)?;
        }
        let job_document = job_document(&tx, job_id)?;
        tx.commit()?;
        // Every accepted update is a new version, a progress update too;
        // a retry is seen from its first state, QUEUED. The thing is
        // notified for it with this update (its status changed).
        let mut events: Vec<ExecutionChange> = std::iter::once(row.record())
            .chain(retried.map(|r| r.record()))
            .map(ExecutionChange::Updated)
            .collect();
        let mut changes = if before == req.status {
            Changes::none()
        } else {
            Changes::thing(thing)
        };
        // An abort rule this update met cancelled the job's QUEUED
        // executions: their devices are notified with this one. One
        // publish, so that the job's end is sent after all of them.
        if let Some(aborted) = aborted {
            events.extend(aborted.events);
            changes.merge(aborted.changes);
        }
        self.publish(events);
        let result = UpdateResult {
            execution_state: row.state(),
            execution_number: row.execution_number,
            job_document,
        };
        Ok((result, changes))
    }
}

/// Marks the moment an execution first goes IN_PROGRESS: `startedAt`, and
/// the in-progress deadline, which is fixed from then on.
fn start(conn: &Connection, row: &mut ExecRow, now: i64) -> Result<(), StoreError> {
    let (_, timeout) = job_status(conn, &row.job_id)?
        .ok_or_else(|| StoreError::NotFound(format!("job {}", row.job_id)))?;
    row.started_at = Some(now);
    row.in_progress_deadline = in_progress_deadline(now, timeout);
    Ok(())
}

/// Checks statusDetails without repairing them: AWS rejects the whole
/// request (the `statusDetails` limits in
/// <https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_UpdateJobExecution.html>), and the message
/// names the offending key.
fn validate_details(raw: &RawStatusDetails) -> Result<StatusDetails, Rejection> {
    StatusDetails::validate(raw).map_err(|m| Rejection::new(ErrorCode::InvalidRequest, m))
}

fn not_found(job_id: &str, thing: &str, number: Option<u64>) -> Rejection {
    let which = number.map_or_else(String::new, |n| format!(" number {n}"));
    Rejection::new(
        ErrorCode::ResourceNotFound,
        format!("no execution{which} of job {job_id} on thing {thing}"),
    )
}
