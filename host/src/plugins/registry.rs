//! Which installed plugin handles which operation.

use crate::runtime::{CompiledPlugin, ExecutionLimits, Sandbox};
use crate::trust::{KeyId, Manifest};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One installed plugin: compiled, with the signed manifest it was
/// verified with and the sandbox its grants resolve to.
#[derive(Debug)]
pub struct Installed {
    /// Compiled and linked, ready to instantiate.
    pub plugin: Arc<CompiledPlugin>,
    /// The signed manifest.
    pub manifest: Manifest,
    /// sha256 of the signed file, lowercase hex.
    pub digest: String,
    /// sha256 of what its signature covers (code and manifest), lowercase
    /// hex: unlike `digest`, the same for every signing of that content.
    pub content_digest: String,
    /// The trusted key that signed it.
    pub key_id: KeyId,
    /// Manifest requests ∩ operator policy: all it may touch.
    pub sandbox: Sandbox,
    /// Its limits: `[limits]` with `[plugins.<name>.limits]` over them.
    pub limits: ExecutionLimits,
}

impl Installed {
    /// `1.2.0 sha256:<digest> key:<key id>`: one statusDetails value.
    pub fn summary(&self) -> String {
        format!(
            "{} sha256:{} key:{}",
            self.manifest.version, self.digest, self.key_id
        )
    }
}

/// The installed plugins by name, and the operation → plugin routing their
/// manifests declare. An operation belongs to at most one plugin.
#[derive(Debug, Default)]
pub struct Registry {
    by_name: BTreeMap<String, Arc<Installed>>,
    by_operation: BTreeMap<String, String>,
}

impl Registry {
    /// The plugin for a document's `operation`.
    pub fn route(&self, operation: &str) -> Option<Arc<Installed>> {
        self.by_operation
            .get(operation)
            .and_then(|name| self.by_name.get(name))
            .cloned()
    }

    /// The installed plugin named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Installed>> {
        self.by_name.get(name).cloned()
    }

    /// The operations available, sorted, for error messages.
    pub fn operations(&self) -> Vec<&str> {
        self.by_operation.keys().map(String::as_str).collect()
    }

    /// Every installed plugin, by name.
    pub fn inventory(&self) -> impl Iterator<Item = &Arc<Installed>> {
        self.by_name.values()
    }

    /// The first operation of `manifest` that another plugin (not one of
    /// the same name, which it would replace) already handles.
    pub fn conflict<'a>(&'a self, manifest: &'a Manifest) -> Option<(&'a str, &'a str)> {
        manifest.operations.iter().find_map(|op| {
            self.by_operation
                .get(op)
                .filter(|owner| **owner != manifest.name)
                .map(|owner| (op.as_str(), owner.as_str()))
        })
    }

    /// Adds `installed`, replacing the plugin of the same name (and its
    /// operations). The caller checked [`Registry::conflict`].
    pub fn insert(&mut self, installed: Installed) {
        let name = installed.manifest.name.clone();
        self.remove(&name);
        for op in &installed.manifest.operations {
            self.by_operation.insert(op.clone(), name.clone());
        }
        self.by_name.insert(name, Arc::new(installed));
    }

    /// Removes the plugin named `name` and its operations.
    pub fn remove(&mut self, name: &str) -> Option<Arc<Installed>> {
        let removed = self.by_name.remove(name)?;
        self.by_operation.retain(|_, owner| owner != name);
        Some(removed)
    }
}

/// How the diagnostics snapshot lists an installed plugin.
impl From<&Installed> for crate::diagnostics::PluginInfo {
    fn from(p: &Installed) -> Self {
        Self {
            name: p.manifest.name.clone(),
            version: p.manifest.version.to_string(),
            digest: p.digest.clone(),
            key_id: p.key_id.to_string(),
            operations: p.manifest.operations.clone(),
        }
    }
}
