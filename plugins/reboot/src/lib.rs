//! `reboot`: reboots the device, and succeeds only once it is back.
//!
//! First run: asks the agent for a reboot and saves the checkpoint
//! `rebooting` (the request only takes effect when `run` returns `Ok`). The agent keeps the execution IN_PROGRESS, records the boot id,
//! reboots, and after the restart runs this plugin again with the
//! checkpoint — but only if the boot id changed (otherwise it reports
//! FAILED itself). Second run: reports SUCCEEDED.
//!
//! Document: `{"operation": "reboot", "reason": "kernel update"}` (`reason`
//! optional; it appears in the agent's log and statusDetails).

use jobhost_sdk::{device, host, log, Failure, Job, Operation, Outcome};
use serde::Deserialize;

/// The checkpoint that marks "the reboot was requested".
const REBOOTING: &str = "rebooting";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[allow(dead_code)]
    operation: String,
    reason: Option<String>,
}

struct Reboot;

impl Operation for Reboot {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Document = job.document()?;
        if job.checkpoint_text() == Some(REBOOTING) {
            log::info("the device is back after the reboot");
            return Ok(Outcome::new().detail("result", "rebooted"));
        }
        let reason = doc.reason.unwrap_or_else(|| format!("job {}", job.job_id));
        // Ask first: the request only takes effect if this run returns Ok,
        // so a refused request leaves no "rebooting" checkpoint behind.
        device::request_reboot(&reason).map_err(|e| {
            Failure::permanent(format!("reboot refused: {}", host::describe(&e)))
        })?;
        host::checkpoint(REBOOTING).map_err(|e| {
            Failure::retryable(format!("cannot save the checkpoint: {}", host::describe(&e)))
        })?;
        log::info(&format!("reboot requested: {reason}"));
        Ok(Outcome::new().detail("result", "reboot requested"))
    }
}

jobhost_sdk::export!(Reboot);
