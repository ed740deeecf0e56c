//! `factory-reset`: empties the device's data directory, then reboots.
//!
//! First run: removes everything inside `/data` (the directory the
//! operator granted; the directory itself stays, and nothing outside it is
//! reachable), asks for a reboot unless the document says `"reboot":
//! false`, and saves the checkpoint `rebooting`. After the reboot (the
//! agent checks the boot id changed) the second run reports SUCCEEDED.
//!
//! Document: `{"operation": "factory-reset"}`, optionally `"reboot": false`.

use jobhost_sdk::{device, host, log, Failure, Job, Operation, Outcome};
use serde::Deserialize;

const DATA: &str = "/data";
const REBOOTING: &str = "rebooting";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[allow(dead_code)]
    operation: String,
    #[serde(default = "yes")]
    reboot: bool,
}

fn yes() -> bool {
    true
}

struct FactoryReset;

impl Operation for FactoryReset {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Document = job.document()?;
        if job.checkpoint_text() == Some(REBOOTING) {
            log::info("the device is back after the factory reset");
            return Ok(Outcome::new().detail("result", "reset and rebooted"));
        }
        let removed = wipe(DATA)?;
        log::info(&format!("removed {removed} entries from {DATA}"));
        let outcome = Outcome::new().detail("removed", removed);
        if !doc.reboot {
            return Ok(outcome.detail("result", "reset"));
        }
        device::request_reboot("factory reset")
            .map_err(|e| Failure::permanent(format!("reboot refused: {}", host::describe(&e))))?;
        host::checkpoint(REBOOTING).map_err(|e| {
            Failure::retryable(format!(
                "cannot save the checkpoint: {}",
                host::describe(&e)
            ))
        })?;
        Ok(outcome.detail("result", "reset; rebooting"))
    }
}

/// Removes every entry of `dir`, returning how many. A symlink is removed
/// as a link, never followed.
fn wipe(dir: &str) -> Result<usize, Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::permanent(format!("cannot open {dir} (is it granted?): {e}")))?;
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Failure::retryable(format!("cannot list {dir}: {e}")))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| Failure::retryable(format!("{}: {e}", path.display())))?;
        let result = if kind.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.map_err(|e| Failure::retryable(format!("cannot remove {}: {e}", path.display())))?;
        removed += 1;
    }
    Ok(removed)
}

jobhost_sdk::export!(FactoryReset);
