//! Device-level actions that outlive the plugin.

use crate::bindings::jobhost::plugin::device as wit;
use crate::HostError;

/// Asks the agent to reboot the device once `run` returns `Ok`. Save a
/// checkpoint first ([`crate::host::checkpoint`]): the execution stays
/// IN_PROGRESS across the reboot and `run` is called again with it, so the
/// plugin can tell "before" from "after". Needs the `reboot` capability
/// (`reboot = true` in the manifest and in the device's config).
pub fn request_reboot(reason: &str) -> Result<(), HostError> {
    wit::request_reboot(reason)
}
