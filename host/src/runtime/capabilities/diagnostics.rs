//! The `diagnostics` capability, `jobhost:plugin/diagnostics`:
//! `take-snapshot`, the agent as a plugin granted the capability sees it.
//! The data comes from [`crate::diagnostics`]; this file only checks the
//! grant and converts to the WIT records.
//!
//! Granted by `diagnostics = true` in `[plugins.<name>]` and requested by
//! `diagnostics = true` in the manifest.

use super::{
    Admission, BadGrant, Cap, CapView, Capability, CapabilityHost, GrantEnv, JobView, Reach,
    Sandbox,
};
use crate::diagnostics::{AgentDiagnostics, PluginInfo, Snapshot};
use crate::runtime::bindings::diagnostics as wit;
use crate::runtime::bindings::types::HostError;
use crate::runtime::ExecutionLimits;
use serde::Deserialize;
use wasmtime::component::Linker;

/// The `diagnostics` capability.
pub struct Diagnostics;

/// `[plugins.<name>]` keys of the `diagnostics` capability.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiagnosticsConfig {
    /// Grant the `diagnostics` capability: snapshots of the agent (version,
    /// uptime, memory, disk, plugins, broker link, recent log lines).
    /// Default false.
    pub diagnostics: bool,
}

impl Capability for Diagnostics {
    type Request = bool;
    type Config = DiagnosticsConfig;
    type Grant = bool;
    type Granted = bool;

    fn grant_from_config(config: &DiagnosticsConfig, _: &GrantEnv<'_>) -> Result<bool, BadGrant> {
        Ok(config.diagnostics)
    }

    fn reaches(_: &bool) -> Vec<Reach<'_>> {
        Vec::new()
    }

    /// Whether the plugin may take snapshots: requested and granted.
    fn intersect(requested: &bool, granted: &bool, admission: &mut Admission<'_>) -> bool {
        admission.flag(*requested, *granted, |plugin| {
            format!("diagnostics: not granted (diagnostics = true in [plugins.{plugin}])")
        })
    }
}

impl CapabilityHost for Diagnostics {
    type Ctx = DiagnosticsCtx;

    /// The source is the executor's to set, from the `Execution`.
    fn ctx(sandbox: &Sandbox, _: &ExecutionLimits) -> DiagnosticsCtx {
        DiagnosticsCtx {
            granted: sandbox.diagnostics,
            source: None,
        }
    }

    fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, Cap<DiagnosticsCtx>>(linker, super::view!(diagnostics))
    }
}

/// Where a run's snapshots come from.
pub(crate) struct DiagnosticsCtx {
    /// The `diagnostics` capability.
    pub granted: bool,
    /// The agent's (or `jobhost run`'s) diagnostics; set by the executor
    /// from the `Execution`.
    pub source: Option<AgentDiagnostics>,
}

impl wit::Host for CapView<'_, DiagnosticsCtx> {
    async fn take_snapshot(&mut self) -> Result<wit::Snapshot, HostError> {
        if !self.ctx.granted {
            return Err(self.job.not_granted("diagnostics"));
        }
        if self.job.should_stop() {
            return Err(HostError::Cancelled);
        }
        let Some(source) = &self.ctx.source else {
            // Only an embedder that runs executions by hand gets here.
            return Err(HostError::Failed(
                "this host offers no diagnostics for the execution".into(),
            ));
        };
        let tag = &self.job.tag;
        let snapshot = source.snapshot(crate::diagnostics::LogScope {
            plugin: &tag.plugin,
            job_id: &tag.job_id,
        });
        tracing::info!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
            "diagnostics snapshot taken ({} plugins, {} log lines)", snapshot.plugins.len(), snapshot.recent_log.len());
        Ok(to_wit(snapshot))
    }
}

/// The one conversion to the WIT record (the SDK has the one back).
fn to_wit(s: Snapshot) -> wit::Snapshot {
    wit::Snapshot {
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
            .map(|p: PluginInfo| wit::PluginInfo {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::test_support::{store, view};
    use crate::runtime::{ExecutionLimits, Sandbox};
    use wit::Host as _;

    fn snapshot(
        granted: bool,
        source: Option<AgentDiagnostics>,
    ) -> Result<wit::Snapshot, HostError> {
        let sandbox = Sandbox {
            diagnostics: granted,
            ..Sandbox::empty()
        };
        let (_runtime, mut store) = store(&sandbox, &ExecutionLimits::default());
        let mut view = view(store.data_mut(), |c| &mut c.diagnostics);
        view.ctx.source = source;
        // Nothing in it waits: one poll finishes it.
        futures_util::FutureExt::now_or_never(view.take_snapshot())
            .expect("the snapshot does not wait")
    }

    fn local() -> AgentDiagnostics {
        AgentDiagnostics::local(
            PluginInfo {
                name: "diag".into(),
                version: "1.2.3".into(),
                digest: "ab".repeat(32),
                key_id: "0123456789abcdef01234567".into(),
                operations: vec!["diagnostics".into()],
            },
            std::path::PathBuf::from("."),
        )
    }

    #[test]
    fn without_the_grant_the_call_is_not_permitted() {
        match snapshot(false, Some(local())) {
            Err(HostError::NotPermitted(m)) => {
                assert!(m.contains("`diagnostics` capability"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn with_the_grant_the_snapshot_describes_the_agent() {
        let s = snapshot(true, Some(local())).unwrap();
        assert_eq!(s.agent_version, crate::version::agent_version());
        assert!(!s.broker_connected);
        assert_eq!(s.plugins.len(), 1);
        assert_eq!(
            (s.plugins[0].name.as_str(), s.plugins[0].version.as_str()),
            ("diag", "1.2.3")
        );
        assert!(matches!(snapshot(true, None), Err(HostError::Failed(_))));
    }
}
