//! `jobhost:plugin/device`: deny-by-default until capability grants exist.

use crate::runtime::bindings::device::Host;
use crate::runtime::bindings::types::HostError;
use crate::runtime::store::HostState;

impl Host for HostState {
    fn request_reboot(&mut self, _reason: String) -> Result<(), HostError> {
        Err(super::not_granted(self, "reboot"))
    }
}
