//! The `diagnostics` snapshot: what the agent knows about itself and the
//! device, as the agent hands it to a plugin (the WIT `snapshot` record)
//! and as the plugin writes it into a bundle (JSON, camelCase keys).
//!
//! One type for both sides: the agent (`jobhost`) converts it to the WIT
//! record, the SDK (`jobhost-sdk`) converts it back, each in one place.

use serde::{Deserialize, Serialize};

/// One installed plugin (the WIT `plugin-info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// The agent and the device at one moment (the WIT `snapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Physical memory (`MemTotal`) in bytes, where known.
    pub memory_total_bytes: Option<u64>,
    /// Memory available for new work (`MemAvailable`) in bytes, where known.
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
    /// The agent's most recent log lines this plugin and job may see,
    /// oldest first (at most 200).
    pub recent_log: Vec<String>,
}
