//! `jobhost:plugin/device`: asking for a reboot. The plugin only asks; the
//! agent reboots after the run returns successfully, with the execution
//! kept IN_PROGRESS and the boot id recorded, and runs the plugin again
//! (with its checkpoint) once the device is back (`crate::agent`).

use crate::runtime::bindings::device::Host;
use crate::runtime::bindings::types::HostError;
use crate::runtime::store::HostState;
use jobhost_protocol::StatusDetails;

impl Host for HostState {
    async fn request_reboot(&mut self, reason: String) -> Result<(), HostError> {
        if !self.job.sandbox.reboot {
            return Err(super::not_granted(self, "reboot"));
        }
        if self.job.should_stop() {
            return Err(HostError::Cancelled);
        }
        // The reason travels in statusDetails: sanitise it the same way.
        let mut probe = StatusDetails::new();
        probe.insert("reason", &reason);
        let reason = probe
            .get("reason")
            .unwrap_or("requested by the plugin")
            .to_owned();
        let tag = &self.job.tag;
        tracing::info!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id, "reboot requested: {reason}");
        self.job.reboot_requested = Some(reason);
        Ok(())
    }
}
