//! What one execution may use: memory, time, log volume, statusDetails
//! size and handles ([`ExecutionLimits`]), set per plugin by the config.

use std::time::Duration;

/// Most statusDetails entries a plugin may hand the host at once: more
/// could never fit the size limit (`ExecutionLimits::max_details_bytes`),
/// and sanitising a list of millions would cost the host seconds outside
/// any deadline. Progress over it is refused; an outcome keeps its first.
pub const MAX_DETAIL_ENTRIES: usize = 1024;

/// Resource limits for one execution.
#[derive(Debug, Clone)]
pub struct ExecutionLimits {
    /// Memory the run may use: all its linear memories and tables
    /// together (`RunLimiter`), whatever number of core instances the
    /// component has.
    pub memory_bytes: usize,
    /// Wall-clock time for one `run`; past it the plugin is interrupted and
    /// the execution ends FAILED ("timed out after N s").
    pub timeout: Duration,
    /// Bytes of log messages accepted from the plugin per execution; further
    /// lines are dropped (once noted in the agent log).
    pub max_log_bytes: usize,
    /// Log lines per second a plugin may sustain (bursts of twice that are
    /// absorbed); lines above the rate are dropped and counted, so a log
    /// flood cannot drown the device's journal or its disk.
    pub max_log_lines_per_sec: u32,
    /// Largest statusDetails map (as JSON) a progress update or the final
    /// report may carry; larger ones lose entries (see
    /// `StatusDetails::fit`), so an update always fits the 128 KiB MQTT
    /// packet and the terminal status is never lost.
    pub max_details_bytes: usize,
    /// Open handles (files, directories, streams) at once; past it opens
    /// fail inside the plugin instead of exhausting the agent's descriptors.
    pub max_handles: usize,
    /// Core instances, tables and memories a component may create, and
    /// elements per table: caps on what StoreLimits bounds besides memory.
    pub max_instances: usize,
    /// See `max_instances`.
    pub max_tables: usize,
    /// See `max_instances`.
    pub max_memories: usize,
    /// See `max_instances`.
    pub max_table_elements: usize,
}

impl Default for ExecutionLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            timeout: Duration::from_secs(600),
            max_log_bytes: 1 << 20,
            max_log_lines_per_sec: 100,
            max_details_bytes: 16 << 10,
            max_handles: 256,
            // A Rust component has a handful of core instances; Python and
            // JavaScript components a few dozen. Far below wasmtime's
            // default of 10,000 each.
            max_instances: 100,
            max_tables: 100,
            max_memories: 10,
            max_table_elements: 200_000,
        }
    }
}

/// Largest plugin file accepted. componentize-py output is ~18 MiB and
/// componentize-js ~12 MiB (the `device-config` and `health-check` plugins,
/// `sdk/README.md`); 64 MiB
/// leaves room without letting a bad file exhaust a small device's memory.
pub const MAX_PLUGIN_BYTES: u64 = 64 << 20;
