//! The `reboot` capability, `jobhost:plugin/device`: asking for a reboot.
//! The plugin only asks; the agent reboots after the run returns
//! successfully, with the execution kept IN_PROGRESS and the boot id
//! recorded, and runs the plugin again (with its checkpoint) once the
//! device is back (`crate::agent`).
//!
//! Granted by `reboot = true` in `[plugins.<name>]` (which needs `[device]
//! reboot_command`) and requested by `reboot = true` in the manifest.

use super::{Cap, CapView, JobView};
use crate::runtime::bindings::device::{self as wit, Host};
use crate::runtime::bindings::types::HostError;
use jobhost_protocol::StatusDetails;
use wasmtime::component::Linker;

/// Whether the plugin may ask for a reboot: requested and granted. A
/// request without a grant is added to `denied`.
pub(crate) fn intersect(
    requested: bool,
    granted: bool,
    plugin: &str,
    denied: &mut Vec<String>,
) -> bool {
    super::requested_and_granted(requested, granted.then_some(&()), denied, || {
        format!("reboot: not granted (reboot = true in [plugins.{plugin}])")
    })
    .is_some()
}

/// A run's reboot request.
pub(crate) struct DeviceCtx {
    /// The `reboot` capability.
    pub granted: bool,
    /// Set by `device.request-reboot`: the reason.
    pub reboot_requested: Option<String>,
}

pub(super) fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Cap<DeviceCtx>>(linker, super::view!(device))
}

impl Host for CapView<'_, DeviceCtx> {
    async fn request_reboot(&mut self, reason: String) -> Result<(), HostError> {
        if !self.ctx.granted {
            return Err(self.job.not_granted("reboot"));
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
        self.ctx.reboot_requested = Some(reason);
        Ok(())
    }
}
