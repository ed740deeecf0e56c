//! The host side of each WIT interface the `operation-plugin` world imports,
//! one file per interface (named like wasmtime-wasi's `p2/host/<iface>.rs`).
//!
//! Capabilities (`download`, `command`, `device` (the `reboot` grant),
//! `diagnostics`, `upload`, `certificates`) are deny-by-default: a call
//! succeeds only when the operator granted that capability to the plugin
//! (the `Sandbox`); otherwise it is refused with a `not-permitted` error
//! naming the capability, and the attempt is logged. `files` works only
//! inside a writable directory grant; `host` is always available.

pub(crate) mod certificates;
mod command;
mod device;
mod diagnostics;
mod download;
mod files;
mod upload;

pub(crate) use download::fetch_for_host;
mod host;

use super::bindings::types;
use super::store::HostState;

impl types::Host for HostState {}

/// Refuses a capability call, and says so in the agent log: a plugin asking
/// for something it was not granted is worth an operator's attention.
fn not_granted(state: &HostState, capability: &str) -> types::HostError {
    let tag = &state.job.tag;
    tracing::warn!(
        target: "plugin",
        plugin = %tag.plugin,
        job_id = %tag.job_id,
        "refused: the `{capability}` capability is not granted to this plugin"
    );
    types::HostError::NotPermitted(format!(
        "the `{capability}` capability is not granted to plugin {}",
        tag.plugin
    ))
}
