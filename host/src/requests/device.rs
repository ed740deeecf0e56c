//! `reboot = true`: the plugin asks for reboots through the host's `device`
//! import.

use super::RequestSpec;

/// The `reboot` key.
pub struct Spec;

impl RequestSpec for Spec {
    type Request = bool;
    const ALWAYS_WRITTEN: bool = true;
}
