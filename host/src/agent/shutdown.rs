//! The end of the built-in `shutdown` (jobs-agent.js's): the device's
//! `[device] shutdown_command`, run once the service accepted the job's
//! SUCCEEDED — never before, since a device that is off reports nothing,
//! and never when the service refused it (a job cancelled meanwhile must
//! not power a device off).
//!
//! The status is cleared from the journal before the command runs, so a
//! device that comes back up does not send it again and shut down again.
//! If the agent dies between the two, the device stays up with the job
//! SUCCEEDED: the one failure that cannot power a device off by mistake.

use crate::config::Device;

/// Runs the shutdown command in the background, logging how it went.
pub(super) fn run(device: &Device) {
    let Some(argv) = device.shutdown_command.clone() else {
        // The plan refuses `shutdown` without the command; nothing to run.
        tracing::error!(target: "agent", "no [device] shutdown_command: not shutting down");
        return;
    };
    tracing::warn!(target: "agent", command = ?argv, "shutting the device down");
    tokio::spawn(async move {
        if let Err(why) = super::reboot::run_device_command(&argv).await {
            tracing::error!(target: "agent", "the shutdown command failed: {why}");
        }
    });
}
