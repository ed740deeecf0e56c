//! The `reboot` capability, `jobhost:plugin/device`: asking for a reboot.
//! The plugin only asks; the agent reboots after the run returns
//! successfully, with the execution kept IN_PROGRESS and the boot id
//! recorded, and runs the plugin again (with its checkpoint) once the
//! device is back (`crate::agent`).
//!
//! Granted by `reboot = true` in `[plugins.<name>]` (which needs `[device]
//! reboot_command`) and requested by `reboot = true` in the manifest.

use super::{
    Admission, BadGrant, Cap, CapView, Capability, CapabilityHost, GrantEnv, JobView, Reach,
    Sandbox,
};
use crate::runtime::bindings::device::{self as wit, Host};
use crate::runtime::bindings::types::HostError;
use crate::runtime::ExecutionLimits;
use jobhost_protocol::StatusDetails;
use serde::Deserialize;
use wasmtime::component::Linker;

/// The `device` capability (`reboot`).
pub struct Device;

/// `[plugins.<name>]` keys of the `device` capability.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    /// Grant the `reboot` capability (default false; needs `[device]
    /// reboot_command`).
    pub reboot: bool,
}

impl Capability for Device {
    type Request = bool;
    type Config = DeviceConfig;
    type Grant = bool;
    type Granted = bool;

    /// A grant on a device that cannot reboot is a mistake in the config.
    fn grant_from_config(config: &DeviceConfig, env: &GrantEnv<'_>) -> Result<bool, BadGrant> {
        if config.reboot && !env.can_reboot {
            return Err(BadGrant {
                key: "reboot",
                why: " = true needs [device] reboot_command (how this device reboots)".into(),
            });
        }
        Ok(config.reboot)
    }

    fn reaches(_: &bool) -> Vec<Reach<'_>> {
        Vec::new()
    }

    /// Whether the plugin may ask for a reboot: requested and granted.
    fn intersect(requested: &bool, granted: &bool, admission: &mut Admission<'_>) -> bool {
        admission.flag(*requested, *granted, |plugin| {
            format!("reboot: not granted (reboot = true in [plugins.{plugin}])")
        })
    }
}

impl CapabilityHost for Device {
    type Ctx = DeviceCtx;

    fn ctx(sandbox: &Sandbox, _: &ExecutionLimits) -> DeviceCtx {
        DeviceCtx {
            granted: sandbox.reboot,
            reboot_requested: None,
        }
    }

    fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, Cap<DeviceCtx>>(linker, super::view!(device))
    }
}

/// A run's reboot request.
pub(crate) struct DeviceCtx {
    /// The `reboot` capability.
    pub granted: bool,
    /// Set by `device.request-reboot`: the reason.
    pub reboot_requested: Option<String>,
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
