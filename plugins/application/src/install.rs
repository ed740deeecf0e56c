//! `install-application`: download a `.tar.gz` bundle, unpack it into its
//! own version directory, switch `current` to it, restart the service, run
//! the health check, and roll back to the previous version if either fails.
//!
//! Resuming (the agent restarted mid-install): before `current` is touched
//! the plugin checkpoints `switching` with the previous version; if the
//! service restart or health check then fails it checkpoints `rolling-back`
//! with the reason. An interrupted attempt therefore resumes where `current`
//! could have changed — finishing the health check of the new version, or
//! the rollback — and otherwise starts again from the download (staging is
//! cleared first). `current` is only ever replaced by an atomic rename, so
//! it always names a complete version.

use crate::exec::{self, Ran};
use crate::layout::{remove_any, AppDir};
use crate::unpack::{unpack, UnpackError};
use crate::words::{check_app_name, check_service, check_version};
use jobhost_sdk::{download, host, log, Failure, Job, Outcome};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Health check time limit when the document gives none.
const DEFAULT_HEALTH_TIMEOUT_SECS: u32 = 30;

/// Longest health check time limit a document may ask for (the operator's
/// `command_timeout_secs` caps it further).
const MAX_HEALTH_TIMEOUT_SECS: u32 = 3600;

/// Bytes of a failure reason kept in the `rolling-back` checkpoint: JSON
/// escaping may double them, and a checkpoint holds at most 1024 bytes.
const CHECKPOINT_REASON_BYTES: usize = 400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    #[allow(dead_code)]
    operation: String,
    name: String,
    version: String,
    url: String,
    sha256: Option<String>,
    /// The operator's signature of the bundle (`jobhost artifact sign`),
    /// which the host verifies before the file is in place; its `sha256`
    /// pins the bundle when the document gives none of its own.
    codesign: Option<serde_json::Value>,
    health_check: Option<Vec<String>>,
    health_check_timeout_secs: Option<u32>,
    service: Option<String>,
}

impl Document {
    /// The bundle's digest: `sha256`, else the codesign's (the same, when
    /// both are given); one of them is required.
    fn sha256(&self) -> Result<&str, Failure> {
        download::pinned_sha256(self.sha256.as_deref(), self.codesign.as_ref())?.ok_or_else(|| {
            Failure::permanent(
                "`sha256` is required (or a `codesign`, whose sha256 pins the bundle)",
            )
        })
    }

    fn check(&self) -> Result<(), Failure> {
        check_app_name(&self.name)?;
        check_version(&self.version)?;
        let sha256 = self.sha256()?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Failure::permanent(format!(
                "sha256 {sha256:?} is not 64 hex characters"
            )));
        }
        if let Some(service) = &self.service {
            check_service(service)?;
        }
        if let Some(argv) = &self.health_check {
            if argv.first().is_none_or(|p| p.is_empty()) {
                return Err(Failure::permanent("`healthCheck` needs a program"));
            }
        }
        match self.health_check_timeout_secs {
            Some(0) => Err(Failure::permanent(
                "`healthCheckTimeoutSecs` must be at least 1",
            )),
            Some(s) if s > MAX_HEALTH_TIMEOUT_SECS => Err(Failure::permanent(format!(
                "`healthCheckTimeoutSecs` is {s}: at most {MAX_HEALTH_TIMEOUT_SECS} is allowed"
            ))),
            _ => Ok(()),
        }
    }
}

/// Where an interrupted attempt must pick up (see the module docs).
#[derive(Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
enum Checkpoint {
    /// `current` may point at `version` now; it pointed at `previous`.
    Switching {
        version: String,
        previous: Option<String>,
    },
    /// `version` failed; `current` must go back to `previous`.
    RollingBack {
        version: String,
        previous: Option<String>,
        reason: String,
        retryable: bool,
    },
}

struct Install {
    doc: Document,
    app: AppDir,
}

/// Runs one attempt at an `install-application` job.
pub fn run(job: &Job) -> Result<Outcome, Failure> {
    let doc: Document = job.document()?;
    doc.check()?;
    let install = Install {
        app: AppDir::new(&doc.name),
        doc,
    };
    match job.checkpoint::<Checkpoint>()? {
        None => install.fresh(),
        Some(Checkpoint::Switching { version, previous }) => {
            install.same_version(&version)?;
            log::info(&format!("resuming {version}: switching and checking again"));
            if !install.app.version_dir(&version).is_dir() {
                // Nothing to switch to: make sure `current` is what it was
                // and start over.
                match &previous {
                    Some(previous) => install.app.switch(previous)?,
                    None => install.app.unset_current().map_err(|e| {
                        Failure::retryable(format!(
                            "cannot remove {}/current: {e}",
                            install.doc.name
                        ))
                    })?,
                }
                return install.fresh();
            }
            install.activate(previous)
        }
        Some(Checkpoint::RollingBack {
            version,
            previous,
            reason,
            retryable,
        }) => {
            install.same_version(&version)?;
            log::info(&format!("resuming the rollback of {version}"));
            Err(install.roll_back(previous, reason, retryable))
        }
    }
}

impl Install {
    fn same_version(&self, version: &str) -> Result<(), Failure> {
        if version == self.doc.version {
            Ok(())
        } else {
            Err(Failure::permanent(format!(
                "the checkpoint is for version {version}, the document asks for {}",
                self.doc.version
            )))
        }
    }

    fn progress(&self, step: &str) {
        // Progress is best-effort: a dropped update must not fail the job.
        let _ = host::progress(&[
            ("step", step),
            ("name", &self.doc.name),
            ("version", &self.doc.version),
        ]);
    }

    /// A first attempt: download, unpack, then [`Install::activate`].
    fn fresh(&self) -> Result<Outcome, Failure> {
        let (name, version) = (&self.doc.name, &self.doc.version);
        let previous = self.app.current()?;
        let same = previous.as_deref() == Some(version.as_str());
        if same && self.app.version_dir(version).is_dir() {
            log::info(&format!(
                "{name} {version} is already current: nothing to do"
            ));
            return Ok(Outcome::new()
                .detail("name", name)
                .detail("version", version)
                .detail("unchanged", true));
        }
        // `current` names this version but its directory is gone: install
        // it again, with nothing to roll back to.
        let previous = previous.filter(|_| !same);
        let io = |what: &str, e: std::io::Error| Failure::retryable(format!("{what}: {e}"));
        self.app
            .prepare()
            .map_err(|e| io(&format!("cannot prepare {}", self.app.root().display()), e))?;

        self.progress("downloading");
        let archive = self.app.staging().join(format!("{version}.tar.gz"));
        let archive_path = archive.to_string_lossy();
        let got = download::fetch(&self.doc.url, &archive_path, Some(self.doc.sha256()?), None)
            .map_err(|e| {
                let why = format!("downloading {name} {version}: {}", host::describe(&e));
                Failure::from(e).retag(why)
            })?;
        log::info(&format!("downloaded {name} {version}: {} bytes", got.bytes));
        if host::cancelled() {
            return Err(Failure::retryable("cancelled"));
        }

        self.progress("unpacking");
        let unpacking = self.app.staging().join(version);
        let done = unpack(&archive, &unpacking, host::cancelled).map_err(|e| match e {
            UnpackError::Rejected(why) => {
                Failure::permanent(format!("archive of {name} {version} rejected: {why}"))
            }
            UnpackError::Io(why) => {
                Failure::retryable(format!("unpacking {name} {version}: {why}"))
            }
            UnpackError::Cancelled => Failure::retryable("cancelled"),
        })?;
        log::info(&format!(
            "unpacked {name} {version}: {} files ({} executable), {} bytes",
            done.files, done.executables, done.bytes
        ));
        // Under its final name only once complete: a version directory is
        // never half-unpacked. An old copy of the same version (not
        // current, checked above) is replaced.
        let final_dir = self.app.version_dir(version);
        remove_any(&final_dir)
            .map_err(|e| io(&format!("cannot replace {}", final_dir.display()), e))?;
        std::fs::rename(&unpacking, &final_dir)
            .map_err(|e| io(&format!("cannot move {name} {version} into place"), e))?;
        let _ = self.app.clear_staging();

        host::checkpoint_json(&Checkpoint::Switching {
            version: version.clone(),
            previous: previous.clone(),
        })?;
        self.activate(previous)
    }

    /// Switches `current` to the new version, restarts the service, runs
    /// the health check; rolls back on failure.
    fn activate(&self, previous: Option<String>) -> Result<Outcome, Failure> {
        let (name, version) = (&self.doc.name, &self.doc.version);
        self.progress("switching");
        self.app.switch(version)?;
        log::info(&format!("{name}/current -> versions/{version}"));
        if let Some(service) = &self.doc.service {
            self.progress("restarting");
            if let Err(ran) = exec::systemctl("restart", service) {
                let reason = format!(
                    "restarting {service} on {version} failed: {}",
                    ran.message()
                );
                return Err(self.roll_back(previous, reason, retryable(&ran)));
            }
        }
        if let Some(argv) = &self.doc.health_check {
            self.progress("health-check");
            let secs = self
                .doc
                .health_check_timeout_secs
                .unwrap_or(DEFAULT_HEALTH_TIMEOUT_SECS);
            let Some((program, args)) = argv.split_first() else {
                return Err(Failure::permanent("`healthCheck` needs a program"));
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Err(ran) = exec::run(program, &args, Duration::from_secs(u64::from(secs))) {
                let reason = format!("health check failed: {}", ran.message());
                return Err(self.roll_back(previous, reason, retryable(&ran)));
            }
            log::info(&format!("{name} {version} passed its health check"));
        }
        let mut keep = vec![version.as_str()];
        keep.extend(previous.as_deref().filter(|p| p != version));
        match self.app.prune(&keep) {
            Ok(removed) if !removed.is_empty() => log::info(&format!(
                "removed old versions of {name}: {}",
                removed.join(", ")
            )),
            Ok(_) => {}
            Err(e) => log::warn(&format!("cannot remove old versions of {name}: {e}")),
        }
        let mut outcome = Outcome::new()
            .detail("name", name)
            .detail("version", version);
        if let Some(previous) = previous.filter(|p| p != version) {
            outcome = outcome.detail("previousVersion", previous);
        }
        Ok(outcome)
    }

    /// Puts `previous` back (or, with none, removes `current`), restarts
    /// the service on it, removes the failed version, and returns the
    /// failure to report.
    fn roll_back(&self, previous: Option<String>, reason: String, retryable: bool) -> Failure {
        let (name, version) = (&self.doc.name, &self.doc.version);
        log::warn(&format!("{name} {version}: {reason}; rolling back"));
        let saved = Checkpoint::RollingBack {
            version: version.clone(),
            previous: previous.clone(),
            reason: truncate(&reason, CHECKPOINT_REASON_BYTES),
            retryable,
        };
        if let Err(e) = host::checkpoint_json(&saved) {
            log::warn(&format!(
                "cannot save the rollback checkpoint: {}",
                host::describe(&e)
            ));
        }
        self.progress("rolling-back");
        let mut reason = reason;
        // Whether `current` no longer names the failed version, so that
        // its directory can go.
        let mut released = true;
        let rolled_back = match &previous {
            Some(previous) => match self.app.switch(previous) {
                Ok(()) => {
                    if let Some(service) = &self.doc.service {
                        if let Err(ran) = exec::systemctl("restart", service) {
                            reason.push_str(&format!(
                                "; restarting {service} on {previous} failed too: {}",
                                ran.message()
                            ));
                        }
                    }
                    true
                }
                Err(e) => {
                    reason.push_str(&format!(
                        "; rolling back to {previous} failed: {}",
                        e.reason()
                    ));
                    released = false;
                    false
                }
            },
            None => {
                if let Err(e) = self.app.unset_current() {
                    reason.push_str(&format!("; cannot remove {name}/current: {e}"));
                    released = false;
                }
                if let Some(service) = &self.doc.service {
                    if let Err(ran) = exec::systemctl("stop", service) {
                        reason.push_str(&format!("; stopping {service} failed: {}", ran.message()));
                    }
                }
                reason.push_str("; there is no previous version, so nothing runs now");
                false
            }
        };
        if released {
            if let Err(e) = remove_any(&self.app.version_dir(version)) {
                log::warn(&format!("cannot remove the failed {name} {version}: {e}"));
            }
        }
        let failure = if retryable {
            Failure::retryable(reason)
        } else {
            Failure::permanent(reason)
        };
        let failure = failure
            .detail("name", name)
            .detail("rolledBack", rolled_back);
        match previous.filter(|_| rolled_back) {
            Some(previous) => failure.detail("version", previous),
            None => failure,
        }
    }
}

/// Whether a failed program run could pass on a retry (a refusal by the
/// host cannot).
fn retryable(ran: &Ran) -> bool {
    matches!(ran, Ran::Failed { .. })
}

/// At most `max` bytes of `text`, cut on a character boundary.
fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Keeps a host refusal's FAILED/REJECTED verdict with a better reason.
trait Retag {
    fn retag(self, reason: String) -> Failure;
}

impl Retag for Failure {
    fn retag(self, reason: String) -> Failure {
        if self.is_retryable() {
            Failure::retryable(reason)
        } else {
            Failure::permanent(reason)
        }
    }
}
