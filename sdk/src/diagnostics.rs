//! What the agent knows about itself and the device, for troubleshooting
//! (needs the `diagnostics` capability: `diagnostics = true` in the
//! manifest and in the device's `[plugins.<name>]`).

use crate::bindings::jobhost::plugin::diagnostics as wit;
use crate::HostError;

/// The agent and the device at the moment of the call, and each installed
/// plugin in it. Serialise to JSON with camelCase keys, ready to put in a
/// bundle. The same types the agent fills in (`jobhost_protocol`).
pub use jobhost_protocol::diagnostics::{PluginInfo, Snapshot};

/// Takes a snapshot of the agent. `Err(NotPermitted)` without the
/// capability.
pub fn snapshot() -> Result<Snapshot, HostError> {
    Ok(from_wit(wit::take_snapshot()?))
}

/// The one conversion from the WIT record (the agent has the one to it).
fn from_wit(s: wit::Snapshot) -> Snapshot {
    Snapshot {
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
    }
}
