//! jobhost: a device agent that runs AWS IoT Jobs operations in sandboxed
//! WebAssembly components.
//!
//! The flow of one job, and the module that owns each step:
//!
//! ```text
//! job document ─▶ runtime (load + compile, cached) ─▶ executor (instantiate
//! in a limited store, run) ─▶ Report { SUCCEEDED | FAILED | REJECTED }
//! ```
//!
//! # Layout
//!
//! - [`runtime`]: wasmtime engine, compiled cache, plugin loading, the
//!   sandbox, per-execution limits, and the capabilities (one module per
//!   imported WIT interface: grant, config keys, policy, per-job context
//!   and host impl, in `runtime::capabilities`).
//! - [`trust`]: signed plugin files (manifest, signature, keys), verified
//!   before any WebAssembly parser sees them.
//! - [`plugins`]: the installed plugins: verify at load and install,
//!   anti-rollback, capabilities, operation routing, the built-in
//!   `install-plugin` / `remove-plugin` operations.
//! - [`document`]: the job document — native `{"operation": …}` or the
//!   AWS IoT Device Client schema (managed templates) → operation and the
//!   document the plugin gets.
//! - [`executor`]: one attempt at one execution, from document to report.
//! - [`agent`]: the device agent: one actor over MQTT events and run
//!   events (claim, run, report, cancel), reboot and certificate rotation
//!   as state machines it applies, the journal; unit-tested without a
//!   broker.
//! - [`diagnostics`]: what the agent knows about itself (version, uptime,
//!   memory, disk, plugins, broker link, recent log lines) for the
//!   `diagnostics` import.
//! - [`mqtt`]: the MQTT connection (reconnect, resubscribe, backoff), behind
//!   channels: requests in, [`mqtt::MqttEvent`]s out.
//! - [`config`]: the agent's TOML configuration.
//! - [`cli`]: the `jobhost` command line (`main.rs` only calls into it).
//!
//! The WIT contract plugins implement is in the repository's `wit/`.

pub mod agent;
mod certstore;
pub mod cli;
pub mod config;
pub mod diagnostics;
pub mod document;
mod durable;
pub mod executor;
pub mod mqtt;
pub mod plugins;
pub mod runtime;
mod timestamp;
pub mod trust;
