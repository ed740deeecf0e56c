//! Which plugin handles which operation.
//!
//! Until signed manifests declare operations, a plugin file
//! `<operation>.wasm` in the plugin directory handles `<operation>`.

use crate::runtime::{Plugin, Runtime};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Loaded plugins by operation.
#[derive(Default)]
pub struct Registry {
    by_operation: BTreeMap<String, Arc<Plugin>>,
}

impl Registry {
    /// Loads every `*.wasm` in `dir`. A plugin that fails to load is logged
    /// and skipped: jobs for it are rejected with a reason, the agent keeps
    /// serving the others.
    pub fn load(runtime: &Runtime, dir: &Path) -> std::io::Result<Self> {
        let mut by_operation = BTreeMap::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        paths.sort();
        for path in paths {
            match Plugin::load_file(runtime, &path) {
                Ok(plugin) => {
                    tracing::info!(target: "agent", plugin = plugin.name(), digest = &plugin.digest()[..12], cache = ?plugin.cache_status(), "plugin loaded");
                    by_operation.insert(plugin.name().to_owned(), Arc::new(plugin));
                }
                Err(e) => tracing::error!(target: "agent", "skipping plugin: {e}"),
            }
        }
        Ok(Self { by_operation })
    }

    /// The plugin for `operation`.
    pub fn get(&self, operation: &str) -> Option<Arc<Plugin>> {
        self.by_operation.get(operation).cloned()
    }

    /// The operations available, for error messages.
    pub fn operations(&self) -> Vec<&str> {
        self.by_operation.keys().map(String::as_str).collect()
    }
}
