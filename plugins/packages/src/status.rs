//! `package-status`: jobs-agent.js's `systemStatus`. `installedPackages`
//! is reported in that agent's exact format (`[a, b]`, install order).
//! Its other fields describe the node process it runs in (`arch`,
//! `nodeVersion`, `cwd`, `platform`, `title`, `uptime`); a sandboxed
//! plugin knows none of them, so in their place it reports what the
//! agent's diagnostics snapshot says when the device grants
//! `diagnostics`: `agentVersion`, `uptime` (the agent's, in seconds, as
//! jobs-agent.js's is its process's) and `systemUptime`. Without the grant
//! those are left out rather than guessed.

use crate::document;
use crate::paths::STATE_DIR;
use crate::record::{names, Records};
use crate::report::{codes, JobError, Op};
use jobhost_sdk::{diagnostics, host, log, Failure, Job, Outcome};
use std::path::Path;

/// Runs one attempt at a package-status job.
pub fn run(job: &Job) -> Result<Outcome, Failure> {
    report(job).map_err(|e| e.into_failure(Op::Status))
}

fn report(job: &Job) -> Result<Outcome, JobError> {
    document::status(job)?;
    let records = Records::at(Path::new(STATE_DIR));
    let packages = records.load().map_err(|e| {
        JobError::failed(
            codes::UNEXPECTED,
            format!("cannot read {}: {e}", records.path().display()),
        )
    })?;
    let outcome = Outcome::new()
        .detail("operation", Op::Status.label())
        .detail("installedPackages", names(&packages));
    Ok(match diagnostics::snapshot() {
        Ok(snapshot) => {
            let outcome = outcome
                .detail("agentVersion", snapshot.agent_version)
                .detail("uptime", snapshot.agent_uptime_secs);
            match snapshot.system_uptime_secs {
                Some(secs) => outcome.detail("systemUptime", secs),
                None => outcome,
            }
        }
        Err(e) => {
            log::info(&format!(
                "no agent snapshot ({}): reporting the packages only",
                host::describe(&e)
            ));
            outcome
        }
    })
}
