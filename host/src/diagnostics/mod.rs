//! What the agent knows about itself, for remote troubleshooting: the
//! `diagnostics` host import hands a plugin granted that capability a
//! [`Snapshot`] — version, uptimes, memory, disk, installed plugins, the
//! broker link and the agent's most recent log lines — which the plugin
//! reports and bundles (the first-party `diagnostics` plugin).
//!
//! # Layout
//!
//! - `log_ring`: the last [`RECENT_LOG_LINES`] lines of the agent's own log,
//!   kept in memory by a `tracing` layer ([`log_layer`]); a snapshot carries
//!   only the agent's own lines and those of the plugin and job asking
//!   ([`LogScope`]).
//! - `system`: uptime, memory and disk figures from `/proc` and `statvfs`.
//! - `source`: [`AgentDiagnostics`], one agent's identity, broker status
//!   and plugin inventory, which makes the [`Snapshot`]s (the type itself
//!   is `jobhost_protocol::diagnostics`, shared with the SDK).

mod log_ring;
mod source;
mod system;

pub use log_ring::{
    log_layer, recent_log, LogRing, LogRingLayer, LogScope, MAX_LOG_LINE_BYTES, RECENT_LOG_LINES,
};
pub use source::{AgentDiagnostics, BrokerStatus, Inventory, PluginInfo, Snapshot};
