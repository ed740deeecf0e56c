//! What the agent knows about itself and the device, for troubleshooting
//! (needs the `diagnostics` capability: `diagnostics = true` in the
//! manifest and in the device's `[plugins.<name>]`).

use crate::bindings::jobhost::plugin::diagnostics as wit;
use crate::HostError;
use serde::Serialize;

/// One installed plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    /// Its manifest's name.
    pub name: String,
    /// Its manifest's version; empty when run unsigned.
    pub version: String,
    /// sha256 of the plugin file, lowercase hex.
    pub digest: String,
    /// The signing key's id; empty when run unsigned.
    pub key_id: String,
    /// The operations it handles.
    pub operations: Vec<String>,
}

/// The agent and the device at the moment of the call. Serialises to JSON
/// with camelCase keys, ready to put in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The agent's version.
    pub agent_version: String,
    /// The device's thing name (empty under `jobhost run`).
    pub thing_name: String,
    /// Seconds since the agent started.
    pub agent_uptime_secs: u64,
    /// Seconds since the device booted, where known.
    pub system_uptime_secs: Option<u64>,
    /// Physical memory in bytes, where known.
    pub memory_total_bytes: Option<u64>,
    /// Memory available for new work in bytes, where known.
    pub memory_available_bytes: Option<u64>,
    /// Size of the agent's state filesystem in bytes, where known.
    pub disk_total_bytes: Option<u64>,
    /// Bytes free on it, where known.
    pub disk_free_bytes: Option<u64>,
    /// The installed plugins, by name.
    pub plugins: Vec<PluginInfo>,
    /// The MQTT broker as `host:port` (empty under `jobhost run`).
    pub broker_endpoint: String,
    /// Whether the agent's MQTT connection is up.
    pub broker_connected: bool,
    /// Reconnections since the agent started.
    pub broker_reconnects: u64,
    /// The agent's most recent log lines, oldest first (at most 200).
    pub recent_log: Vec<String>,
}

/// Takes a snapshot of the agent. `Err(NotPermitted)` without the
/// capability.
pub fn snapshot() -> Result<Snapshot, HostError> {
    let s = wit::take_snapshot()?;
    Ok(Snapshot {
        agent_version: s.agent_version,
        thing_name: s.thing_name,
        agent_uptime_secs: s.agent_uptime_secs,
        system_uptime_secs: s.system_uptime_secs,
        memory_total_bytes: s.memory_total_bytes,
        memory_available_bytes: s.memory_available_bytes,
        disk_total_bytes: s.disk_total_bytes,
        disk_free_bytes: s.disk_free_bytes,
        plugins: s
            .plugins
            .into_iter()
            .map(|p| PluginInfo {
                name: p.name,
                version: p.version,
                digest: p.digest,
                key_id: p.key_id,
                operations: p.operations,
            })
            .collect(),
        broker_endpoint: s.broker_endpoint,
        broker_connected: s.broker_connected,
        broker_reconnects: s.broker_reconnects,
        recent_log: s.recent_log,
    })
}
