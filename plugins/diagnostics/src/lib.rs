//! `diagnostics`: remote troubleshooting.
//!
//! Document (every field optional):
//! `{"operation": "diagnostics", "uploadUrl": "${jobhost:upload-url:bundle.tar.gz}", "logLines": 200, "include": ["/logs"]}`
//!
//! Takes the agent's snapshot (`diagnostics` capability) and reports its
//! vital signs as statusDetails. With `uploadUrl` it also writes a tar.gz
//! bundle — `snapshot.json`, `agent.log`, `plugins.json` and the files of
//! the `include` directories — into its scratch directory `/diagnostics`,
//! PUTs it there (`upload` capability) and removes it.
//!
//! Outcomes: SUCCEEDED with the summary (and `bundleBytes`, `bundleSha256`,
//! `uploaded`); REJECTED when a capability is not granted (the same job
//! cannot succeed until the operator changes the device's config) or the
//! document is invalid; FAILED when the upload fails otherwise (network, an
//! expired URL: a retry gets a fresh URL).

mod bundle;
mod summary;

use jobhost_sdk::{diagnostics, host, log, upload, Failure, HostError, Job, Operation, Outcome};
use serde::Deserialize;

/// Where the bundle is written: the scratch directory the manifest asks for.
const SCRATCH_DIR: &str = "/diagnostics";

/// The agent keeps this many recent lines; asking for more gets these.
const MAX_LOG_LINES: usize = 200;

/// Most `include` directories.
const MAX_INCLUDES: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    #[allow(dead_code)]
    operation: Option<String>,
    /// Where to PUT the bundle (a presigned URL); none: summary only.
    upload_url: Option<String>,
    /// How many of the agent's recent log lines go into `agent.log`.
    log_lines: Option<usize>,
    /// Granted directories (guest paths) whose files join the bundle.
    #[serde(default)]
    include: Vec<String>,
}

struct Diagnostics;

impl Operation for Diagnostics {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Document = job.document()?;
        check_includes(&doc.include)?;
        let snapshot = diagnostics::snapshot().map_err(|e| refused("diagnostics snapshot", e))?;
        let details = summary::details(&snapshot);
        let Some(url) = doc.upload_url.as_deref().filter(|u| !u.is_empty()) else {
            log::info("diagnostics summary reported (no uploadUrl: no bundle)");
            return Ok(with(Outcome::new(), &details).detail("uploaded", false));
        };
        if url.starts_with("${") {
            return Err(Failure::permanent(
                "uploadUrl is an unresolved placeholder: this jobs service does not presign it",
            ));
        }
        let log_lines = doc.log_lines.unwrap_or(MAX_LOG_LINES).min(MAX_LOG_LINES);
        let path = format!("{SCRATCH_DIR}/{}.tar.gz", safe_name(&job.job_id));
        let written = bundle::write(&path, &snapshot, log_lines, &doc.include);
        let result = written.and_then(|built| {
            if host::cancelled() {
                return Err(Failure::retryable("cancelled"));
            }
            log::info(&format!(
                "uploading the bundle ({} bytes, {} included files)",
                built.bytes, built.included
            ));
            upload::put(url, &path, Some("application/gzip"))
                .map(|sent| (built, sent))
                .map_err(|e| refused("bundle upload", e))
        });
        // The scratch file has served its purpose either way.
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn(&format!("cannot remove {path}: {e}"));
            }
        }
        match result {
            Ok((built, sent)) => {
                let mut outcome = with(Outcome::new(), &details)
                    .detail("uploaded", true)
                    .detail("bundleBytes", sent.bytes)
                    .detail("bundleSha256", sent.sha256);
                if !built.skipped.is_empty() {
                    outcome = outcome.detail("includeSkipped", built.skipped.join("; "));
                }
                Ok(outcome)
            }
            Err(failure) => Err(with_failure(failure, &details).detail("uploaded", false)),
        }
    }
}

/// A refused host call as a failure naming the step. Not permitted and
/// invalid arguments are permanent (REJECTED): the same job on the same
/// device config cannot succeed. The rest may pass on retry (FAILED).
fn refused(step: &str, e: HostError) -> Failure {
    let reason = format!("{step}: {}", host::describe(&e));
    match e {
        HostError::NotPermitted(_) | HostError::InvalidArgument(_) => Failure::permanent(reason),
        _ => Failure::retryable(reason),
    }
}

fn check_includes(include: &[String]) -> Result<(), Failure> {
    if include.len() > MAX_INCLUDES {
        return Err(Failure::permanent(format!(
            "include lists {} directories; at most {MAX_INCLUDES}",
            include.len()
        )));
    }
    for dir in include {
        if !dir.starts_with('/') || dir.split('/').any(|c| c == "..") {
            return Err(Failure::permanent(format!(
                "include {dir:?} must be an absolute guest path without `..`"
            )));
        }
    }
    Ok(())
}

/// The job id as a file name (ids are `[a-zA-Z0-9_-]`; anything else is
/// replaced, so the scratch path can never leave the directory).
fn safe_name(job_id: &str) -> String {
    job_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn with(outcome: Outcome, details: &[(&'static str, String)]) -> Outcome {
    details
        .iter()
        .fold(outcome, |o, (k, v)| o.detail(*k, v.as_str()))
}

fn with_failure(failure: Failure, details: &[(&'static str, String)]) -> Failure {
    details
        .iter()
        .fold(failure, |f, (k, v)| f.detail(*k, v.as_str()))
}

jobhost_sdk::export!(Diagnostics);
