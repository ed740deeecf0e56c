//! Undoing an install ([`Pending`]), in jobs-agent.js's order: the files
//! first, then the previous version started again if it started by itself
//! — plus what a systemd unit adds: the new version's unit is stopped
//! before its files are taken away, and the record is put back as it was.
//!
//! Undoing is idempotent (a backup stays where it is, a removed file stays
//! removed), so an undo cut short is simply done again. The pending
//! record is removed only once every file is back: until then the next
//! job on the package tries again.

use crate::files;
use crate::names::unit_name;
use crate::pending::Pending;
use crate::record::Records;
use crate::report::{codes, short, JobError, Op};
use crate::systemd;
use jobhost_sdk::log;
use std::path::Path;

/// What an undo managed.
#[derive(Debug, Default)]
pub struct Undone {
    /// Every file, record or unit it could not put back (`rollbackError`).
    pub error: Option<String>,
    /// Whether the previous version was started again: `None` when there
    /// was nothing to start.
    pub previous_started: Option<Result<(), String>>,
}

impl Undone {
    /// `error` with what the undo left undone: `rollbackError` (as
    /// jobs-agent.js reports it) and `previousVersionStarted`, each also
    /// said in the reason.
    pub fn attach(self, mut error: JobError) -> JobError {
        if let Some(rollback) = &self.error {
            error
                .reason
                .push_str(&format!("; the rollback failed: {rollback}"));
            error = error.detail("rollbackError", short(rollback));
        }
        match self.previous_started {
            Some(Ok(())) => {
                error
                    .reason
                    .push_str("; the previous version was started again");
                error.detail("previousVersionStarted", true)
            }
            Some(Err(why)) => {
                error
                    .reason
                    .push_str(&format!("; starting the previous version failed: {why}"));
                error.detail("previousVersionStarted", false)
            }
            None => error,
        }
    }
}

/// Undoes `pending`, reporting each file as jobs-agent.js does (`step`
/// `rolling back file`).
pub fn undo(op: Op, pending: &Pending, records: &Records, state_dir: &Path) -> Undone {
    let unit = unit_name(&pending.package_name);
    let mut errors = Vec::new();
    if pending.unit_started {
        if let Err(e) = systemd::stop(&unit) {
            errors.push(format!("stopping the new version: {}", e.message()));
        }
    }
    for file in &pending.files {
        op.progress("rolling back file", Some(&file.file_name));
        let path = pending.path_of(&file.file_name);
        let put_back = if file.existed {
            files::restore(&path)
        } else {
            files::remove(&path)
        };
        if let Err(e) = put_back {
            errors.push(format!("{}: {e}", file.file_name));
        }
    }
    if let Err(e) = records.set(&pending.package_name, pending.previous.as_ref()) {
        errors.push(format!("{}: {e}", records.path().display()));
    }
    let previous_started = match &pending.previous {
        Some(previous) if pending.unit_started && previous.starts_automatically() => {
            let argv = previous.launch_command.as_deref().unwrap_or_default();
            Some(
                systemd::start(&unit, &previous.device_working_directory, argv)
                    .map_err(|e| e.message().to_owned()),
            )
        }
        _ => None,
    };
    if errors.is_empty() {
        if let Err(e) = pending.remove(state_dir) {
            errors.push(format!("removing the pending install: {e}"));
        }
    }
    Undone {
        error: (!errors.is_empty()).then(|| errors.join("; ")),
        previous_started,
    }
}

/// Undoes an install of `pending`'s package that some other execution
/// started and never finished (cancelled, out of time, or the device went
/// down for good), before `op` touches the package.
pub fn recover(
    op: Op,
    pending: &Pending,
    records: &Records,
    state_dir: &Path,
) -> Result<(), JobError> {
    log::warn(&format!(
        "undoing the install of {} by job {} (execution {}), which did not finish",
        pending.package_name, pending.job_id, pending.execution_number
    ));
    let undone = undo(op, pending, records, state_dir);
    match undone.error {
        None => Ok(()),
        Some(why) => {
            let message = "cannot undo an unfinished install";
            Err(JobError::failed(codes::FILE_COPY_FAILED, message)
                .because(format!(
                    "{message} of {} (job {}): {why}",
                    pending.package_name, pending.job_id
                ))
                .detail("rollbackError", short(&why)))
        }
    }
}

/// [`recover`] whatever install of `package` did not finish, if any.
pub fn recover_any(
    op: Op,
    package: &str,
    records: &Records,
    state_dir: &Path,
) -> Result<(), JobError> {
    match Pending::load(state_dir, package) {
        Ok(Some(pending)) => recover(op, &pending, records, state_dir),
        Ok(None) => Ok(()),
        Err(e) => Err(JobError::failed(
            codes::UNEXPECTED,
            format!("cannot read the pending install of {package}: {e}"),
        )),
    }
}
