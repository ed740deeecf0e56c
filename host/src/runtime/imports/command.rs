//! `jobhost:plugin/command`: deny-by-default until capability grants exist.

use crate::runtime::bindings::command::{Host, Output, Request};
use crate::runtime::bindings::types::HostError;
use crate::runtime::store::HostState;

impl Host for HostState {
    fn run(&mut self, _request: Request) -> Result<Output, HostError> {
        Err(super::not_granted(self, "run-command"))
    }
}
