//! `jobhost:plugin/download`: deny-by-default until capability grants exist.

use crate::runtime::bindings::download::{Host, Request, Response};
use crate::runtime::bindings::types::HostError;
use crate::runtime::store::HostState;

impl Host for HostState {
    fn fetch(&mut self, _request: Request) -> Result<Response, HostError> {
        Err(super::not_granted(self, "download"))
    }
}
