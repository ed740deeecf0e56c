//! The test binary's one tracing subscriber. A process has one global
//! subscriber, and two groups of tests read what the in-process agents log:
//! `diagnostics` (the agent's log ring, which its plugin bundles) and
//! `hostile` (the plugins' lines, by job). Both layers are installed
//! together, each behind its own filter, by whichever test asks first.

use std::sync::{Mutex, Once};
use tracing_subscriber::prelude::*;

/// Every line logged under the `plugin` target (the plugins' own lines and
/// the host's notes about them) with its job id, from every agent in this
/// test binary: the agents run in-process, so the process's subscriber
/// sees what `jobhost agent` would write to its log.
static PLUGIN_LOG: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Installs the subscriber (once per process): the agent's log ring
/// (`jobhost::diagnostics::log_layer`) at `info` for the agents' and
/// plugins' lines, and the layer that fills [`PLUGIN_LOG`].
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // The plugins' lines, and the agent's errors (the watchdog's
        // "abandoned" among them).
        let only_plugin_lines = tracing_subscriber::filter::Targets::new()
            .with_target("plugin", tracing::Level::TRACE)
            .with_target("agent", tracing::Level::ERROR);
        tracing_subscriber::registry()
            // Only the agents' and plugins' lines: on a device the ring
            // holds one agent's log, but this process also runs the
            // service, the broker and the agents of every test running at
            // the same time; their chatter would push a test's own lines
            // out of the 200 the ring keeps.
            .with(
                jobhost::diagnostics::log_layer()
                    .with_filter(tracing_subscriber::EnvFilter::new("agent=info,plugin=info")),
            )
            .with(PluginLog.with_filter(only_plugin_lines))
            .try_init()
            .expect("no other subscriber");
    });
}

/// The messages logged for `job`, in order.
pub fn plugin_log(job: &str) -> Vec<String> {
    PLUGIN_LOG
        .lock()
        .unwrap()
        .iter()
        .filter(|(j, _)| j == job)
        .map(|(_, m)| m.clone())
        .collect()
}

struct PluginLog;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PluginLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Fields {
            job_id: String,
            message: String,
        }
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "job_id" => self.job_id = format!("{value:?}"),
                    "message" => self.message = format!("{value:?}"),
                    _ => {}
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        PLUGIN_LOG
            .lock()
            .unwrap()
            .push((fields.job_id, fields.message));
    }
}
