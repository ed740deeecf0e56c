//! jobhost: a device agent that runs AWS IoT Jobs operations in sandboxed
//! WebAssembly components.
//!
//! Plugins are verified and compiled once, when the agent starts or
//! installs them; a job only instantiates one:
//!
//! ```text
//! install time:  trust (verify) ─▶ plugins (floors, signer, policy, registry)
//!                ─▶ runtime (compile or load the cached copy; InstancePre)
//! job time:      mqtt ─▶ agent (claim, journal) ─▶ document ─▶ plugins (route)
//!                ─▶ executor (a fresh limited store; run raced against the
//!                   deadline and cancellation) ─▶ runtime::capabilities
//!                   (host calls) ─▶ Report ─▶ agent (journal, report)
//! ```
//!
//! # Layout
//!
//! Highest layer first; each module uses only those listed after it
//! (`scripts/check-modules` keeps it so):
//!
//! - [`cli`]: the `jobhost` command line (`main.rs` only calls into it).
//! - [`agent`]: the device agent: one actor over MQTT events and run
//!   events (claim, run, report, cancel), reboot and certificate rotation
//!   as state machines it applies, the journal; unit-tested without a
//!   broker.
//! - [`mqtt`]: the MQTT connection (reconnect, resubscribe, backoff), behind
//!   channels: requests in, [`mqtt::MqttEvent`]s out.
//! - [`plugins`]: the installed plugins: verify at load and install,
//!   anti-rollback, capabilities, operation routing, the built-in
//!   `install-plugin` / `remove-plugin` operations.
//! - [`executor`]: one attempt at one execution, from document to report.
//! - [`config`]: the agent's TOML configuration.
//! - [`runtime`]: wasmtime engine, compiled cache, plugin loading, the
//!   sandbox, per-execution limits, and the capabilities (one module per
//!   imported WIT interface: grant, config keys, policy, per-job context
//!   and host impl, in `runtime::capabilities`).
//! - `certstore`: the client certificate and key files, as the
//!   `certificates` capability stages them and the agent's rotation swaps
//!   them.
//! - [`diagnostics`]: what the agent knows about itself (version, uptime,
//!   memory, disk, plugins, broker link, recent log lines) for the
//!   `diagnostics` import.
//! - [`document`]: the job document — native `{"operation": …}` or the
//!   AWS IoT Device Client schema (managed templates) → operation and the
//!   document the plugin gets.
//! - [`trust`]: signed plugin files (manifest, signature, keys), verified
//!   before any WebAssembly parser sees them; and signed artifacts, the
//!   files jobs download (`trust::artifact`).
//! - [`requests`]: the capability registry (the one list of capabilities)
//!   and what a signed manifest may ask of each; `trust` checks a
//!   manifest with it.
//! - [`crypto`]: rustls on ring, the agent's TLS crypto provider.
//! - `durable`, `timestamp`: atomic file replacement; RFC 3339 times.
//! - [`version`]: this build's version and how it runs plugins (Cranelift
//!   or the Pulley interpreter, fixed at build time).
//!
//! The WIT contract plugins implement is in the repository's `wit/`.

pub mod agent;
mod certstore;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod diagnostics;
pub mod document;
mod durable;
pub mod executor;
pub mod heap;
pub mod image;
pub mod mqtt;
pub mod plugins;
pub mod requests;
pub mod runtime;
mod timestamp;
pub mod trust;
pub mod version;
