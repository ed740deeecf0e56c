//! [`AgentDiagnostics`]: what one agent knows about itself — identity,
//! uptime, broker link, installed plugins — gathered into a [`Snapshot`]
//! when a plugin granted `diagnostics` asks.

use super::{log_ring, system};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The MQTT link as the agent sees it, updated by the agent's actor on
/// every connect and disconnect.
#[derive(Debug, Default)]
pub struct BrokerStatus {
    connected: AtomicBool,
    connects: AtomicU64,
}

impl BrokerStatus {
    /// The connection is up (CONNACK received).
    pub fn connected(&self) {
        self.connected.store(true, Ordering::Relaxed);
        self.connects.fetch_add(1, Ordering::Relaxed);
    }

    /// The connection dropped; the agent is backing off.
    pub fn disconnected(&self) {
        self.connected.store(false, Ordering::Relaxed);
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Connections after the first one.
    pub fn reconnects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed).saturating_sub(1)
    }
}

// The snapshot's types are shared with the SDK, which builds for the
// plugin's side: one definition, in the protocol crate.
pub use jobhost_protocol::diagnostics::{PluginInfo, Snapshot};

/// Lists the installed plugins at the moment of a snapshot.
pub type Inventory = Box<dyn Fn() -> Vec<PluginInfo> + Send + Sync>;

/// The source of [`Snapshot`]s for one agent (or one `jobhost run`):
/// cheap to clone, shared by every execution it hands to the executor.
#[derive(Clone)]
pub struct AgentDiagnostics {
    inner: Arc<Inner>,
}

struct Inner {
    thing_name: String,
    broker_endpoint: String,
    /// Whose filesystem the disk figures describe.
    state_dir: PathBuf,
    started: Instant,
    broker: Arc<BrokerStatus>,
    inventory: Inventory,
}

impl std::fmt::Debug for AgentDiagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentDiagnostics")
            .field("thing_name", &self.inner.thing_name)
            .field("broker_endpoint", &self.inner.broker_endpoint)
            .field("state_dir", &self.inner.state_dir)
            .finish_non_exhaustive()
    }
}

impl AgentDiagnostics {
    /// `jobhost run`'s: no thing, no broker (never connected), the one
    /// plugin being run, disk figures for `dir`.
    pub fn local(plugin: PluginInfo, dir: PathBuf) -> Self {
        Self::new(
            "",
            "",
            dir,
            Instant::now(),
            Box::new(move || vec![plugin.clone()]),
        )
    }

    /// One agent's: `thing_name` and `broker_endpoint` (`host:port`) as
    /// reported, disk figures for `state_dir`, `inventory` called at each
    /// snapshot; `started` is when the agent started.
    pub fn new(
        thing_name: &str,
        broker_endpoint: &str,
        state_dir: PathBuf,
        started: Instant,
        inventory: Inventory,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                thing_name: thing_name.to_owned(),
                broker_endpoint: broker_endpoint.to_owned(),
                state_dir,
                started,
                broker: Arc::default(),
                inventory,
            }),
        }
    }

    /// The broker link, for the agent to update.
    pub fn broker(&self) -> &BrokerStatus {
        &self.inner.broker
    }

    /// Gathers a snapshot now for the plugin and job of `scope` (whose log
    /// lines it carries, see [`log_ring::LogScope`]). Reads a few small
    /// files under `/proc` and one `statvfs`: cheap enough for a host call.
    pub fn snapshot(&self, scope: log_ring::LogScope<'_>) -> Snapshot {
        let inner = &self.inner;
        let (memory_total_bytes, memory_available_bytes) = system::memory();
        let disk = system::disk(&inner.state_dir);
        let mut plugins = (inner.inventory)();
        plugins.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot {
            agent_version: crate::version::agent_version().to_owned(),
            thing_name: inner.thing_name.clone(),
            agent_uptime_secs: inner.started.elapsed().as_secs(),
            system_uptime_secs: system::system_uptime_secs(),
            memory_total_bytes,
            memory_available_bytes,
            disk_total_bytes: disk.map(|d| d.0),
            disk_free_bytes: disk.map(|d| d.1),
            plugins,
            broker_endpoint: inner.broker_endpoint.clone(),
            broker_connected: inner.broker.is_connected(),
            broker_reconnects: inner.broker.reconnects(),
            recent_log: log_ring::recent_log(scope),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> PluginInfo {
        PluginInfo {
            name: name.into(),
            version: String::new(),
            digest: "00".repeat(32),
            key_id: String::new(),
            operations: vec![name.into()],
        }
    }

    #[test]
    fn reconnects_do_not_count_the_first_connection() {
        let status = BrokerStatus::default();
        assert!(!status.is_connected());
        assert_eq!(status.reconnects(), 0);
        status.connected();
        assert!(status.is_connected());
        assert_eq!(status.reconnects(), 0);
        status.disconnected();
        assert!(!status.is_connected());
        status.connected();
        status.disconnected();
        status.connected();
        assert_eq!(status.reconnects(), 2);
    }

    #[test]
    fn a_local_snapshot_has_no_broker_and_the_one_plugin() {
        let source = AgentDiagnostics::local(info("diagnostics"), PathBuf::from("."));
        let s = source.snapshot(log_ring::LogScope {
            plugin: "diagnostics",
            job_id: "j",
        });
        assert_eq!(s.agent_version, crate::version::agent_version());
        assert_eq!(
            (s.thing_name.as_str(), s.broker_endpoint.as_str()),
            ("", "")
        );
        assert!(!s.broker_connected);
        assert_eq!(s.plugins, vec![info("diagnostics")]);
        assert!(s.disk_total_bytes.is_some() && s.disk_free_bytes <= s.disk_total_bytes);
        assert!(s.agent_uptime_secs < 60);
    }
}
