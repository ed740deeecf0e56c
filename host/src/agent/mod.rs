//! The device agent: AWS IoT Jobs over MQTT in, plugin executions out.
//!
//! # Layout
//!
//! Lowest first; each module uses only those above it:
//!
//! - `journal`: what survives a crash (running execution, unsent status).
//! - `outbox`: requests with clientTokens, their resends, `$next/get`
//!   until answered; publishes through [`crate::mqtt::MqttHandle`].
//! - `reboot`: a plugin's reboot request, across the reboot: a state
//!   machine whose phases, told what happened, return actions.
//! - `rotate`: a plugin's certificate rotation (swap, reconnect, roll
//!   back), the same way; the files themselves are `crate::certstore`'s.
//! - `state`: what the actor knows (the execution, its state, the events
//!   of a run).
//! - `observer`: checkpoints and progress from the running plugin.
//! - `idle`: when an idle agent gives back the memory its jobs mapped.
//! - `actor`: the one loop over MQTT events, run events and a tick, and
//!   the reactions to MQTT messages (dedupe, cancellation detection);
//!   `actor::lifecycle`: claim with IN_PROGRESS, run, report (one at a
//!   time); `actor::apply`: applying the reboot's and rotation's actions;
//!   `actor::progress`: progress updates and document refreshes while a
//!   plugin runs.
//! - `tests`: the lifecycle without a broker, through [`crate::mqtt::channel`].
//!
//! The MQTT connection itself is [`crate::mqtt`].

mod actor;
mod idle;
pub mod journal;
mod observer;
mod outbox;
mod reboot;
mod rotate;
mod shutdown;
mod state;
#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::mqtt;
use crate::plugins::Plugins;
use crate::runtime::{EngineConfig, Runtime};
use jobhost_protocol::topics;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The state directory or plugin directory is unusable.
    #[error("{what} {path}: {source}")]
    Io {
        /// Which directory.
        what: &'static str,
        /// Its path.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The plugin directory or anti-rollback floors are unusable.
    #[error("plugins in {path}: {source}")]
    Plugins {
        /// The plugin directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The WebAssembly runtime could not start.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
}

/// Runs the agent until `shutdown` becomes true.
pub async fn run(mut config: Config, shutdown: watch::Receiver<bool>) -> Result<(), AgentError> {
    let started = std::time::Instant::now();
    let io = |what, path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| AgentError::Io { what, path, source }
    };
    std::fs::create_dir_all(&config.state_dir).map_err(io("state dir", &config.state_dir))?;
    let journal = journal::Journal::open(&config.state_dir)
        .map_err(io("journal in", &config.state_dir))?
        .with_checkpoint_interval(config.progress_interval);
    // Before connecting: a rotation cut short leaves the previous pair.
    rotate::recover(&mut config, &journal);
    let runtime = Runtime::new(&EngineConfig {
        cache_dir: Some(config.state_dir.join("compiled")),
        compile_in: config.compile_in.clone(),
        max_stack_bytes: config.max_stack_bytes,
        max_memory_bytes: config
            .limits
            .memory_bytes
            .max(EngineConfig::default().max_memory_bytes),
        ..EngineConfig::default()
    })?;
    // Loading compiles (or reads the cache): a one-off at start, before
    // anything else runs on this runtime.
    let plugins = Plugins::open(&config, &runtime).map_err(|source| AgentError::Plugins {
        path: config.plugin_dir.clone(),
        source,
    })?;
    plugins.prune_cache(&runtime);
    // Each plugin file was read whole to be verified: give that back, and
    // the executable's pages only start-up needed.
    crate::heap::release_freed_memory();
    if config.give_back_memory {
        let released = crate::image::release_startup_pages();
        tracing::debug!(target: "agent", "start-up over: {} KiB of the executable unmapped", released / 1024);
    }
    tracing::info!(
        target: "agent",
        version = crate::version::agent_version(),
        thing = %config.thing_name,
        operations = ?plugins.operations(),
        "agent starting"
    );

    let (mqtt, mqtt_events) = mqtt::spawn(
        mqtt::mqtt_options(&config.broker),
        topics::device_subscriptions(&config.thing_name),
        shutdown.clone(),
    );
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let plugins = Arc::new(plugins);
    let diagnostics = {
        let plugins = Arc::clone(&plugins);
        crate::diagnostics::AgentDiagnostics::new(
            &config.thing_name,
            &format!("{}:{}", config.broker.host, config.broker.port),
            config.state_dir.clone(),
            started,
            Box::new(move || {
                plugins
                    .inventory()
                    .iter()
                    .map(|p| p.as_ref().into())
                    .collect()
            }),
        )
    };
    let actor = actor::Actor::new(
        Arc::new(config),
        runtime,
        plugins,
        Arc::new(Mutex::new(journal)),
        mqtt,
        events_tx,
        diagnostics,
    );
    actor.run(mqtt_events, events_rx, shutdown).await;
    Ok(())
}
