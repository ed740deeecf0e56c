//! `install-package`: jobs-agent.js's `install`, step by step. Each
//! existing file is backed up to `<file>.old` (`backing up existing
//! file`), each file downloaded and checked (`downloading`); a download or
//! checksum failure restores every backup and removes the files that had
//! none (`rolling back file`). With a `launchCommand` and `autoStart`, the
//! package's unit is stopped and started again (`restarting package`) and
//! must still be active `startupCheckSecs` later; if not, the files are
//! rolled back and the previous version, if it started by itself, is
//! started again. Only then is the record updated.
//!
//! # Interruptions
//!
//! Nothing is replaced until every backup is made; then the install is
//! written down on the device ([`Pending`]) and checkpointed `replacing`.
//! Before the unit is started it is checkpointed `starting`, and before a
//! rollback `rolling-back` with the error. A resumed attempt (same job,
//! same execution, after an agent restart) therefore:
//!
//! - `starting`: runs the restart and startup check again (the files are
//!   in place and checked);
//! - `rolling-back`: finishes the rollback and reports the saved error;
//! - otherwise: rolls back what the interrupted attempt replaced, if
//!   anything, and starts over — unless it had finished (its pending
//!   install is gone and the record says what this install writes), when
//!   it reports the success it could not.
//!
//! An install that will never resume (cancelled: the host stops the plugin
//! at once; out of time; the job retried as a new execution) is undone by
//! the next job on the same package, before it does anything else.

use crate::checksum::{digest_file, Expected, MISMATCH};
use crate::document::{File, Install};
use crate::files;
use crate::names::unit_name;
use crate::paths::STATE_DIR;
use crate::pending::{Pending, PendingFile};
use crate::record::{find, Records};
use crate::report::{codes, short, JobError, Op};
use crate::rollback::{recover, undo};
use crate::systemd::{self, CallError};
use jobhost_sdk::{download, host, log, Failure, HostError, Job, Outcome};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Bytes of a reason kept in the `rolling-back` checkpoint: a checkpoint
/// holds at most 1024 bytes, and JSON escaping may grow the text.
const CHECKPOINT_REASON_BYTES: usize = 400;

/// The most a checkpoint may hold (the host's limit).
const MAX_CHECKPOINT_BYTES: usize = 1024;

/// Where an interrupted attempt picks up (see the module docs).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
enum Checkpoint {
    /// Files may have been replaced.
    Replacing,
    /// Every file is in place and checked; the unit is being restarted.
    Starting,
    /// The install failed with this error and is being rolled back.
    #[serde(rename_all = "camelCase")]
    RollingBack {
        error_code: String,
        error_message: String,
        reason: String,
        retryable: bool,
    },
}

impl Checkpoint {
    fn rolling_back(error: &JobError, reason_bytes: usize) -> Self {
        Checkpoint::RollingBack {
            error_code: error.code.to_owned(),
            error_message: short(&error.message),
            reason: truncate(&error.reason, reason_bytes),
            retryable: error.retryable,
        }
    }
}

/// The error a `rolling-back` checkpoint saved.
fn saved_error(code: &str, message: String, reason: String, retryable: bool) -> JobError {
    let error = if retryable {
        JobError::failed(codes::named(code), message)
    } else {
        JobError::rejected(codes::named(code), message)
    };
    error.because(reason)
}

/// Runs one attempt at an `install-package` job.
pub fn run(job: &Job) -> Result<Outcome, Failure> {
    let install = Install::parse(job).and_then(|doc| {
        let checkpoint = job
            .checkpoint::<Checkpoint>()
            .map_err(|f| JobError::rejected(codes::UNEXPECTED, f.reason()))?;
        let installer = Installer::new(job, doc);
        installer.resume(checkpoint)
    });
    install.map_err(|e| e.into_failure(Op::Install))
}

struct Installer<'a> {
    job: &'a Job,
    doc: Install,
    state: PathBuf,
    records: Records,
    unit: String,
}

impl<'a> Installer<'a> {
    fn new(job: &'a Job, doc: Install) -> Self {
        let state = PathBuf::from(STATE_DIR);
        Self {
            job,
            records: Records::at(&state),
            unit: unit_name(&doc.package_name),
            state,
            doc,
        }
    }

    /// Picks up where an interrupted attempt left off, or starts afresh.
    fn resume(&self, checkpoint: Option<Checkpoint>) -> Result<Outcome, JobError> {
        let name = &self.doc.package_name;
        let pending = Pending::load(&self.state, name).map_err(|e| {
            JobError::failed(
                codes::UNEXPECTED,
                format!("cannot read the pending install of {name}: {e}"),
            )
        })?;
        match (pending, checkpoint) {
            (Some(pending), Some(Checkpoint::Starting)) if pending.is_for(self.job) => {
                log::info(&format!("resuming the install of {name}: restarting it"));
                self.start(pending)
            }
            (
                Some(pending),
                Some(Checkpoint::RollingBack {
                    error_code,
                    error_message,
                    reason,
                    retryable,
                }),
            ) if pending.is_for(self.job) => {
                log::info(&format!("resuming the rollback of {name}"));
                let error = saved_error(&error_code, error_message, reason, retryable);
                Err(undo(Op::Install, &pending, &self.records, &self.state).attach(error))
            }
            (Some(pending), _) => {
                recover(Op::Install, &pending, &self.records, &self.state)?;
                self.fresh()
            }
            (
                None,
                Some(Checkpoint::RollingBack {
                    error_code,
                    error_message,
                    reason,
                    retryable,
                }),
            ) => Err(saved_error(&error_code, error_message, reason, retryable)),
            // The interrupted attempt finished (the record is written and
            // the pending install removed last) but could not report it.
            (None, Some(Checkpoint::Starting)) if self.installed() => {
                log::info(&format!("{name} was installed before the interruption"));
                Ok(Op::Install.done("package installed and started"))
            }
            (None, Some(Checkpoint::Replacing)) if !self.doc.starts() && self.installed() => {
                log::info(&format!("{name} was installed before the interruption"));
                Ok(Op::Install.done("package files installed"))
            }
            (None, _) => self.fresh(),
        }
    }

    /// Whether the record already says what this install would write.
    fn installed(&self) -> bool {
        self.records
            .load()
            .is_ok_and(|p| find(&p, &self.doc.package_name) == Some(&self.doc.record()))
    }

    fn checkpoint(&self, checkpoint: &Checkpoint) {
        if let Err(e) = host::checkpoint_json(checkpoint) {
            log::warn(&format!(
                "cannot save the checkpoint: {}",
                host::describe(&e)
            ));
        }
    }

    /// A first attempt: back up, write down, download, then start.
    fn fresh(&self) -> Result<Outcome, JobError> {
        let doc = &self.doc;
        let copy_failed = |what: String| JobError::failed(codes::FILE_COPY_FAILED, what);
        let previous = self
            .records
            .load()
            .map_err(|e| {
                JobError::failed(
                    codes::UNEXPECTED,
                    format!("cannot read {}: {e}", self.records.path().display()),
                )
            })?
            .into_iter()
            .find(|p| p.package_name == doc.package_name);
        std::fs::create_dir_all(&doc.working_directory)
            .map_err(|e| copy_failed(format!("cannot create {}: {e}", doc.working_directory)))?;
        let mut replaced = Vec::with_capacity(doc.files.len());
        for file in &doc.files {
            let existed = files::exists(&doc.path_of(file))
                .map_err(|e| copy_failed(format!("cannot replace {}: {e}", file.file_name)))?;
            replaced.push(PendingFile {
                file_name: file.file_name.clone(),
                existed,
            });
        }
        for (file, _) in doc.files.iter().zip(&replaced).filter(|(_, r)| r.existed) {
            Op::Install.progress("backing up existing file", Some(&file.file_name));
            files::backup(&doc.path_of(file)).map_err(|e| {
                let why = format!("cannot back up {}: {e}", file.file_name);
                copy_failed(why.clone())
                    .detail("backupError", short(&why))
                    .detail("fileName", &file.file_name)
            })?;
        }
        let pending = Pending {
            job_id: self.job.job_id.clone(),
            execution_number: self.job.execution_number,
            package_name: doc.package_name.clone(),
            working_directory: doc.working_directory.clone(),
            files: replaced,
            previous,
            unit_started: false,
        };
        pending.save(&self.state).map_err(|e| {
            copy_failed(format!(
                "cannot write down the install of {}: {e}",
                doc.package_name
            ))
        })?;
        self.checkpoint(&Checkpoint::Replacing);
        for file in &doc.files {
            if let Err(error) = self.download(file) {
                return Err(self.roll_back(&pending, error));
            }
        }
        if doc.starts() {
            self.start(pending)
        } else {
            self.finish(&pending, "package files installed")
        }
    }

    /// Downloads `file` into place and checks it.
    fn download(&self, file: &File) -> Result<(), JobError> {
        let path = self.doc.path_of(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                let why = format!("cannot create the directory of {}: {e}", file.file_name);
                download_error(file, JobError::failed(codes::DOWNLOAD_FAILED, why))
            })?;
        }
        Op::Install.progress("downloading", Some(&file.file_name));
        let expected = file.checksum.as_ref();
        let destination = path.to_string_lossy();
        match download::fetch(
            &file.url,
            &destination,
            expected.and_then(Expected::for_host),
            None,
        ) {
            Ok(got) => log::info(&format!(
                "downloaded {}: {} bytes",
                file.file_name, got.bytes
            )),
            Err(e) if is_sha256_mismatch(&e) => {
                return Err(mismatch(file, &host::describe(&e)));
            }
            Err(e) => {
                let why = host::describe(&e);
                let error = match e {
                    HostError::NotPermitted(_) | HostError::InvalidArgument(_) => {
                        JobError::rejected(codes::DOWNLOAD_FAILED, why.clone())
                    }
                    _ => JobError::failed(codes::DOWNLOAD_FAILED, why.clone()),
                };
                return Err(download_error(
                    file,
                    error.because(format!("downloading {}: {why}", file.file_name)),
                ));
            }
        }
        if let Some(expected) = expected.filter(|e| e.checked_here()) {
            let actual = digest_file(&path, expected.algorithm).map_err(|e| {
                let why = format!("cannot read {} to check it: {e}", file.file_name);
                download_error(file, JobError::failed(codes::DOWNLOAD_FAILED, why))
            })?;
            if actual != expected.value {
                return Err(mismatch(
                    file,
                    &format!(
                        "{} is {actual}, expected {}",
                        expected.algorithm.name(),
                        expected.value
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Stops the package's unit, starts the new version and checks that it
    /// stays up; rolls back if anything fails.
    fn start(&self, mut pending: Pending) -> Result<Outcome, JobError> {
        Op::Install.progress("restarting package", None);
        if let Err(e) = systemd::stop(&self.unit) {
            let refused = matches!(e, CallError::Refused(_));
            let message = "unable to stop package for restart";
            let mut error = e.into_error(codes::UNABLE_TO_STOP_PACKAGE, Some(message));
            self.checkpoint(&Checkpoint::rolling_back(&error, CHECKPOINT_REASON_BYTES));
            let undone = undo(Op::Install, &pending, &self.records, &self.state);
            if !refused {
                // jobs-agent.js's words, comma and all.
                let outcome = match undone.error {
                    None => "rollback successful",
                    Some(_) => "rollback failed",
                };
                error.message = format!("{message},{outcome}");
            }
            return Err(undone.attach(error));
        }
        if !pending.unit_started {
            pending.unit_started = true;
            if let Err(e) = pending.save(&self.state) {
                pending.unit_started = false;
                let why = format!(
                    "cannot write down the install of {}: {e}",
                    pending.package_name
                );
                return Err(
                    self.roll_back(&pending, JobError::failed(codes::FILE_COPY_FAILED, why))
                );
            }
        }
        self.checkpoint(&Checkpoint::Starting);
        let argv = self.doc.launch_command.as_deref().unwrap_or_default();
        let started = systemd::start_and_check(
            &self.unit,
            &self.doc.device_working_directory,
            argv,
            self.doc.startup_check_secs,
        );
        match started {
            Ok(()) => self.finish(&pending, "package installed and started"),
            Err(e) => Err(self.roll_back(&pending, e.into_error(codes::UNEXPECTED_PACKAGE_EXIT))),
        }
    }

    /// Records the package and forgets the pending install.
    fn finish(&self, pending: &Pending, state: &str) -> Result<Outcome, JobError> {
        let name = &self.doc.package_name;
        let recorded = self
            .records
            .set(name, Some(&self.doc.record()))
            .map_err(|e| {
                format!(
                    "cannot record {name} in {}: {e}",
                    self.records.path().display()
                )
            })
            .and_then(|()| {
                pending
                    .remove(&self.state)
                    .map_err(|e| format!("cannot finish the install of {name}: {e}"))
            });
        if let Err(why) = recorded {
            return Err(self.roll_back(pending, JobError::failed(codes::UNEXPECTED, why)));
        }
        log::info(&format!("{name}: {state}"));
        Ok(Op::Install.done(state))
    }

    /// Checkpoints `rolling-back`, undoes `pending` and returns `error`
    /// with what the undo left undone.
    fn roll_back(&self, pending: &Pending, error: JobError) -> JobError {
        log::warn(&format!(
            "{}: {}; rolling back",
            self.doc.package_name, error.reason
        ));
        let mut checkpoint = Checkpoint::rolling_back(&error, CHECKPOINT_REASON_BYTES);
        if serde_json::to_string(&checkpoint).map_or(true, |t| t.len() > MAX_CHECKPOINT_BYTES) {
            checkpoint = Checkpoint::rolling_back(&error, 0);
        }
        self.checkpoint(&checkpoint);
        undo(Op::Install, pending, &self.records, &self.state).attach(error)
    }
}

/// The host checks sha256 while streaming and fails a mismatching
/// download with `failed: sha256 mismatch: expected …, got …`
/// (host/src/runtime/capabilities/download/transfer.rs); nothing else
/// tells a bad file from a bad network.
fn is_sha256_mismatch(error: &HostError) -> bool {
    matches!(error, HostError::Failed(m) if m.starts_with("sha256 mismatch"))
}

/// ERR_CHECKSUM_FAILED for `file`, with jobs-agent.js's message (it also
/// reported it as `downloadError`).
fn mismatch(file: &File, detail: &str) -> JobError {
    JobError::failed(codes::CHECKSUM_FAILED, MISMATCH)
        .because(format!("{MISMATCH} for {}: {detail}", file.file_name))
        .detail("downloadError", MISMATCH)
        .detail("fileName", &file.file_name)
}

/// `error` with `downloadError` and `fileName`, as jobs-agent.js reports a
/// failed download.
fn download_error(file: &File, error: JobError) -> JobError {
    let message = short(&error.message);
    error
        .detail("downloadError", message)
        .detail("fileName", &file.file_name)
}

/// At most `max` bytes of `text`, cut on a character boundary.
fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hosts_sha256_mismatch_is_a_checksum_failure() {
        let host = HostError::Failed("sha256 mismatch: expected 00, got 11".into());
        assert!(is_sha256_mismatch(&host));
        assert!(!is_sha256_mismatch(&HostError::Failed("HTTP 404".into())));
        assert!(!is_sha256_mismatch(&HostError::InvalidArgument(
            "sha256 mismatch".into()
        )));
    }

    #[test]
    fn a_rolling_back_checkpoint_fits_and_brings_the_error_back() {
        let error = JobError::failed(codes::CHECKSUM_FAILED, MISMATCH)
            .because(format!("{MISMATCH}: {}", "\u{1}".repeat(1000)));
        let checkpoint = Checkpoint::rolling_back(&error, CHECKPOINT_REASON_BYTES);
        let text = serde_json::to_string(&checkpoint).unwrap();
        assert!(text.len() > MAX_CHECKPOINT_BYTES, "escaping grows it");
        let text = serde_json::to_string(&Checkpoint::rolling_back(&error, 0)).unwrap();
        assert!(text.len() <= MAX_CHECKPOINT_BYTES);
        let Checkpoint::RollingBack {
            error_code,
            error_message,
            reason,
            retryable,
        } = serde_json::from_str(&text).unwrap()
        else {
            panic!("{text}");
        };
        let back = saved_error(&error_code, error_message, reason, retryable);
        assert_eq!(
            (back.code, back.message.as_str()),
            (codes::CHECKSUM_FAILED, MISMATCH)
        );
        assert!(back.retryable);
        assert_eq!(
            serde_json::to_string(&Checkpoint::Starting).unwrap(),
            r#"{"step":"starting"}"#
        );
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
