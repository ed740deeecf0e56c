//! The snapshot as statusDetails: the figures an operator scans in a job
//! listing, each a short value (the host truncates values at 1024
//! characters anyway).

use jobhost_sdk::diagnostics::Snapshot;

/// Plugins named in the `plugins` value before it says "…and N more".
const MAX_NAMED_PLUGINS: usize = 20;

/// `(key, value)` pairs; unknown figures are left out rather than reported
/// as zero.
pub fn details(s: &Snapshot) -> Vec<(&'static str, String)> {
    let mib = |bytes: u64| (bytes >> 20).to_string();
    let mut d = vec![
        ("agentVersion", s.agent_version.clone()),
        ("agentUptimeSecs", s.agent_uptime_secs.to_string()),
        ("brokerConnected", s.broker_connected.to_string()),
        ("brokerReconnects", s.broker_reconnects.to_string()),
        ("pluginCount", s.plugins.len().to_string()),
    ];
    let optional = [
        (
            "systemUptimeSecs",
            s.system_uptime_secs.map(|v| v.to_string()),
        ),
        ("memTotalMiB", s.memory_total_bytes.map(mib)),
        ("memAvailableMiB", s.memory_available_bytes.map(mib)),
        ("diskTotalMiB", s.disk_total_bytes.map(mib)),
        ("diskFreeMiB", s.disk_free_bytes.map(mib)),
    ];
    d.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    if !s.thing_name.is_empty() {
        d.push(("thingName", s.thing_name.clone()));
    }
    if !s.broker_endpoint.is_empty() {
        d.push(("brokerEndpoint", s.broker_endpoint.clone()));
    }
    if !s.plugins.is_empty() {
        d.push(("plugins", plugin_list(s)));
    }
    d
}

/// `name@version, …` (a plugin run unsigned has no version: `name`).
fn plugin_list(s: &Snapshot) -> String {
    let mut names: Vec<String> = s
        .plugins
        .iter()
        .take(MAX_NAMED_PLUGINS)
        .map(|p| {
            if p.version.is_empty() {
                p.name.clone()
            } else {
                format!("{}@{}", p.name, p.version)
            }
        })
        .collect();
    if s.plugins.len() > MAX_NAMED_PLUGINS {
        names.push(format!("…and {} more", s.plugins.len() - MAX_NAMED_PLUGINS));
    }
    names.join(", ")
}
