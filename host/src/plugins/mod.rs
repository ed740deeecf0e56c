//! The installed plugins: the device's trust root at work.
//!
//! Every plugin in the plugin directory is a signed single file
//! ([`crate::trust`]). It is verified — signature by a trusted, unrevoked
//! key, manifest, anti-rollback floor — before any WebAssembly parser sees
//! it: when the agent starts (every file, again) and when the built-in
//! `install-plugin` operation brings a new one. Only then is it compiled
//! (the compiled cache is keyed by the verified file's sha256) and linked,
//! so that a plugin that cannot run is refused at once; then its code is
//! released until the first job that needs it maps it again
//! ([`CompiledPlugin::release`]). A job's `operation` is routed to the
//! plugin whose signed manifest declares it.
//!
//! # Layout
//!
//! - `registry`: operation → installed plugin.
//! - `floors`: anti-rollback minimum versions, persisted.
//! - `owners`: the key that signed each plugin name, persisted.
//! - `policy`: capabilities = manifest requests ∩ operator grants.
//! - `builtin`: the `install-plugin` / `remove-plugin` job documents.
//! - `error`: [`Refusal`], why a plugin was not installed or loaded.

mod builtin;
mod error;
mod floors;
mod owners;
mod policy;
mod registry;

pub use builtin::{Builtin, InstallRequest};
pub use error::Refusal;
pub use floors::Floors;
pub use owners::Owners;
pub use policy::{resolve as resolve_capabilities, Resolution};
pub use registry::{Installed, Registry};

use crate::config::{Config, Grants, Trust};
use crate::durable::sync_parent;
use crate::runtime::{CompiledPlugin, ExecutionLimits, Runtime};
use crate::trust::{KeyId, VerifiedPlugin};
use jobhost_protocol::StatusDetails;
use semver::Version;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// Where `install-plugin` downloads to, inside the plugin directory (not
/// `*.wasm`, so never loaded; the rename to `<name>.wasm` is atomic because
/// it stays in the same directory).
const INCOMING: &str = ".install.incoming";

/// What an install did.
#[derive(Debug)]
pub struct InstallReport {
    /// The plugin now installed.
    pub installed: Arc<Installed>,
    /// The version it replaced, if any.
    pub replaced: Option<Version>,
    /// The very same file was already installed: nothing changed.
    pub unchanged: bool,
}

/// The plugin directory, its policy and its registry.
pub struct Plugins {
    dir: PathBuf,
    trust: Trust,
    grants: BTreeMap<String, Grants>,
    grant_signers: BTreeMap<String, BTreeSet<KeyId>>,
    signer_grants: BTreeMap<KeyId, Grants>,
    limits: ExecutionLimits,
    plugin_limits: BTreeMap<String, ExecutionLimits>,
    floors: Mutex<Floors>,
    owners: Mutex<Owners>,
    registry: RwLock<Registry>,
    /// Files refused when the directory was opened, and why.
    refused: Vec<(PathBuf, String)>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Plugins {
    /// Opens the plugin directory (created if missing) and loads every
    /// `*.wasm` in it that passes verification and admission. A plugin
    /// that does not is logged and skipped: jobs for its operations are
    /// rejected with a reason, the agent serves the others.
    pub fn open(config: &Config, runtime: &Runtime) -> io::Result<Self> {
        std::fs::create_dir_all(&config.plugin_dir)?;
        for leftover in [INCOMING.to_owned(), format!(".{INCOMING}.part")] {
            match std::fs::remove_file(config.plugin_dir.join(leftover)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let mut plugins = Self {
            refused: Vec::new(),
            dir: config.plugin_dir.clone(),
            trust: config.trust.clone(),
            grants: config.grants.clone(),
            grant_signers: config.grant_signers.clone(),
            signer_grants: config.signer_grants.clone(),
            limits: config.limits.clone(),
            plugin_limits: config.plugin_limits.clone(),
            floors: Mutex::new(Floors::open(&config.state_dir)?),
            owners: Mutex::new(Owners::open(&config.state_dir)?),
            registry: RwLock::new(Registry::default()),
        };
        if plugins.trust.store.keys().is_empty() {
            tracing::warn!(target: "agent", "no trusted keys in [trust] keys: no plugin can load or install");
        }
        let mut paths: Vec<_> = std::fs::read_dir(&plugins.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        paths.sort();
        for path in paths {
            match plugins.load(runtime, &path) {
                Ok(p) => {
                    tracing::info!(target: "agent", plugin = %p.manifest.name, version = %p.manifest.version,
                        key_id = %p.key_id, digest = &p.digest[..12], cache = ?p.plugin.cache_status(), "plugin loaded");
                    // Checked, compiled and linked: its code waits in the
                    // cache until a job needs it (idle memory, not speed).
                    p.plugin.release(&path);
                }
                Err(e) => {
                    tracing::error!(target: "agent", "refusing plugin {}: {e}", path.display());
                    plugins.refused.push((path, e.to_string()));
                }
            }
        }
        Ok(plugins)
    }

    /// Verifies, admits and compiles one file already in the directory.
    fn load(&self, runtime: &Runtime, path: &Path) -> Result<Arc<Installed>, Refusal> {
        let verified = self
            .trust
            .store
            .verify_file(path, self.trust.max_plugin_bytes)?;
        let name = &verified.manifest().name;
        if path.file_stem().and_then(|s| s.to_str()) != Some(name.as_str()) {
            return Err(Refusal::FileName {
                file: path.to_path_buf(),
                name: name.clone(),
            });
        }
        let mut floors = self.floors.lock().unwrap_or_else(PoisonError::into_inner);
        let resolution = self.admit(&verified, &self.registry(), &floors)?;
        for denied in &resolution.denied {
            tracing::warn!(target: "agent", plugin = %name, "capability withheld: {denied}");
        }
        let installed = self.compile(runtime, &verified, resolution)?;
        self.record_floor(&mut floors, &verified)?;
        // The file in the directory is the operator's (or a checked
        // install's): what it was signed with becomes the name's signer.
        self.record_owner(&verified)?;
        let installed = self.commit(installed);
        Ok(installed)
    }

    /// Downloads, verifies, admits, compiles and installs a plugin, for
    /// the built-in `install-plugin` operation. Nothing in the plugin
    /// directory changes unless every check passed; the switch is one
    /// rename.
    pub fn install(
        &self,
        runtime: &Runtime,
        request: &InstallRequest,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<InstallReport, Refusal> {
        let Some(grant) = &self.trust.install_from else {
            return Err(Refusal::NotPermitted(
                "install-plugin is not enabled on this device: list the hosts it may download \
                 from in [trust] install_hosts"
                    .into(),
            ));
        };
        grant
            .check(&request.url)
            .map_err(|why| Refusal::NotPermitted(format!("install-plugin: {why}")))?;
        let incoming = self.dir.join(INCOMING);
        let result = self.install_from(runtime, request, &incoming, stop);
        if let Err(e) = std::fs::remove_file(&incoming) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(target: "agent", "cannot remove {}: {e}", incoming.display());
            }
        }
        // The download and the verified copy were whole-file buffers.
        crate::heap::release_freed_memory();
        result
    }

    fn install_from(
        &self,
        runtime: &Runtime,
        request: &InstallRequest,
        incoming: &Path,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<InstallReport, Refusal> {
        use crate::runtime::bindings::types::HostError;
        let response = crate::runtime::capabilities::download::fetch_for_host(
            &request.url,
            &self.dir,
            INCOMING,
            self.trust.max_plugin_bytes,
            stop,
        )
        .map_err(|e| match e {
            HostError::Cancelled => Refusal::Cancelled,
            HostError::LimitExceeded(_) => Refusal::TooLarge {
                max: self.trust.max_plugin_bytes,
            },
            HostError::Failed(why)
            | HostError::InvalidArgument(why)
            | HostError::NotPermitted(why) => Refusal::Download(why),
        })?;
        if response.sha256 != request.sha256 {
            return Err(Refusal::DigestMismatch {
                expected: request.sha256.clone(),
                actual: response.sha256,
            });
        }
        let verified = self
            .trust
            .store
            .verify_file(incoming, self.trust.max_plugin_bytes)?;
        let name = verified.manifest().name.clone();
        let mut floors = self.floors.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.registry().get(&name);
        // The very same file changes nothing. The same content signed again
        // is installed: the recorded signer follows the newest signature.
        if let Some(current) = current.as_ref().filter(|c| c.digest == verified.digest()) {
            return Ok(InstallReport {
                installed: current.clone(),
                replaced: None,
                unchanged: true,
            });
        }
        self.check_owner(&verified)?;
        let resolution = self.admit(&verified, &self.registry(), &floors)?;
        if !resolution.denied.is_empty() {
            return Err(Refusal::Denied {
                name,
                denied: resolution.denied,
            });
        }
        let installed = self.compile(runtime, &verified, resolution)?;
        if stop() {
            return Err(Refusal::Cancelled);
        }
        let target = self.file_of(&name);
        let io_err = |what: String| move |source| Refusal::Io { what, source };
        std::fs::rename(incoming, &target).map_err(io_err(format!(
            "cannot move the plugin to {}",
            target.display()
        )))?;
        sync_parent(&target).map_err(io_err(format!("cannot sync {}", self.dir.display())))?;
        self.record_floor(&mut floors, &verified)?;
        self.record_owner(&verified)?;
        let installed = self.commit(installed);
        installed.plugin.release(&target);
        self.prune_cache(runtime);
        Ok(InstallReport {
            installed,
            replaced: current.map(|c| c.manifest.version.clone()),
            unchanged: false,
        })
    }

    /// Removes the plugin named `name`, for the built-in `remove-plugin`
    /// operation. Its anti-rollback floor stays.
    pub fn remove(&self, name: &str) -> Result<Arc<Installed>, Refusal> {
        if self.registry().get(name).is_none() {
            return Err(Refusal::BadRequest(format!(
                "no plugin named {name} is installed (installed: {})",
                self.names().join(", ")
            )));
        }
        let path = self.file_of(name);
        let io_err = |what: String| move |source| Refusal::Io { what, source };
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_err(format!("cannot remove {}", path.display()))(e))
            }
            _ => {}
        }
        sync_parent(&path).map_err(io_err(format!("cannot sync {}", self.dir.display())))?;
        let removed = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        removed.ok_or_else(|| Refusal::BadRequest(format!("no plugin named {name} is installed")))
    }

    /// Removes the compiled cache's entries of plugins not installed now
    /// (removed, replaced, refused): at start and after each install, so
    /// install and remove cycles do not grow the cache without bound. A
    /// failure costs disk space only, so it is logged.
    pub fn prune_cache(&self, runtime: &Runtime) {
        let Some(cache) = runtime.cache() else {
            return;
        };
        let installed = self.inventory();
        let digests: Vec<&str> = installed.iter().map(|p| p.digest.as_str()).collect();
        match cache.retain(&digests) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(target: "agent", "removed {n} compiled entries of plugins no longer installed")
            }
            Err(e) => {
                tracing::warn!(target: "agent", "cannot prune the compiled cache {}: {e}", cache.dir().display())
            }
        }
    }

    /// Releases every installed plugin's compiled code until its next job
    /// ([`CompiledPlugin::release`]); returns how many were mapped.
    pub fn release_all(&self) -> usize {
        self.registry()
            .inventory()
            .filter(|p| p.plugin.is_mapped())
            .filter(|p| p.plugin.release(&self.file_of(&p.manifest.name)))
            .count()
    }

    /// The file plugin `name` is installed as (the name a verified file
    /// must have, `error.rs`).
    fn file_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }

    /// The files in the plugin directory that were refused at start, with
    /// the reason (an operator looking at a device wants to know).
    pub fn refused(&self) -> &[(PathBuf, String)] {
        &self.refused
    }

    /// The plugin that handles `operation`.
    pub fn route(&self, operation: &str) -> Option<Arc<Installed>> {
        self.registry().route(operation)
    }

    /// The operations available, for error messages.
    pub fn operations(&self) -> Vec<String> {
        self.registry()
            .operations()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Every installed plugin, by name (the diagnostics inventory).
    pub fn inventory(&self) -> Vec<Arc<Installed>> {
        self.registry().inventory().cloned().collect()
    }

    /// The installed plugins' names.
    pub fn names(&self) -> Vec<String> {
        self.registry()
            .inventory()
            .map(|p| p.manifest.name.clone())
            .collect()
    }

    /// Adds the inventory to a report: `plugin:<name>` =
    /// `<version> sha256:<digest> key:<key id>` for each installed plugin.
    pub fn add_inventory(&self, details: &mut StatusDetails) {
        for p in self.registry().inventory() {
            details.insert(&format!("plugin:{}", p.manifest.name), &p.summary());
        }
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The checks after the signature: anti-rollback, version reuse,
    /// operation conflicts; then the capabilities it would get.
    fn admit(
        &self,
        verified: &VerifiedPlugin,
        registry: &Registry,
        floors: &Floors,
    ) -> Result<Resolution, Refusal> {
        let m = verified.manifest();
        if let Some(floor) = floors.get(&m.name) {
            if m.version < *floor && !self.trust.allow_downgrade.contains(&m.name) {
                return Err(Refusal::Rollback {
                    name: m.name.clone(),
                    version: m.version.clone(),
                    floor: floor.clone(),
                });
            }
        }
        if let Some(current) = registry.get(&m.name) {
            if current.manifest.version == m.version
                && current.content_digest != verified.content_digest()
            {
                return Err(Refusal::VersionReused {
                    name: m.name.clone(),
                    version: m.version.clone(),
                    installed: current.digest.clone(),
                });
            }
        }
        if let Some((operation, owner)) = registry.conflict(m) {
            return Err(Refusal::Conflict {
                operation: operation.to_owned(),
                owner: owner.to_owned(),
            });
        }
        // The plugin's own table, else its signer's: the more specific
        // wins. The own table only for the keys it names (security review
        // M7): a plugin another key signed under the same name is that
        // key's plugin, with that key's grants.
        let key = verified.key_id();
        let own = self.grants.get(&m.name).filter(|_| {
            let bound = self.grant_signers.get(&m.name);
            let applies = bound.is_some_and(|keys| keys.contains(&key));
            if !applies {
                tracing::warn!(target: "agent", plugin = %m.name, key_id = %key,
                    "[plugins.{}] does not apply: it is for key(s) {}, and this copy is signed by {key}",
                    m.name, bound.map(|k| k.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")).unwrap_or_default());
            }
            applies
        });
        let grants = own.or_else(|| self.signer_grants.get(&key));
        let mut resolution = policy::resolve(m, grants);
        // Every plugin's downloads are held to the same artifact trust.
        resolution.sandbox.artifacts = std::sync::Arc::new(self.trust.artifacts());
        Ok(resolution)
    }

    /// Refuses an install of a name signed by another key than the one
    /// recorded for it, unless the operator allows that key for the name.
    fn check_owner(&self, verified: &VerifiedPlugin) -> Result<(), Refusal> {
        let name = &verified.manifest().name;
        let signer = verified.key_id();
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        match owners.get(name) {
            Some(recorded) if *recorded != signer => {
                let allowed = self.trust.allow_signer_change.contains(name)
                    || self
                        .grant_signers
                        .get(name)
                        .is_some_and(|keys| keys.contains(&signer));
                if allowed {
                    Ok(())
                } else {
                    Err(Refusal::SignerChanged {
                        name: name.clone(),
                        recorded: *recorded,
                        signer,
                    })
                }
            }
            _ => Ok(()),
        }
    }

    fn record_owner(&self, verified: &VerifiedPlugin) -> Result<(), Refusal> {
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(&verified.manifest().name, &verified.key_id())
            .map_err(|source| Refusal::Io {
                what: "cannot record the plugin's signer".into(),
                source,
            })
    }

    fn compile(
        &self,
        runtime: &Runtime,
        verified: &VerifiedPlugin,
        resolution: Resolution,
    ) -> Result<Installed, Refusal> {
        let plugin = CompiledPlugin::from_verified(runtime, verified)?;
        Ok(Installed {
            plugin: Arc::new(plugin),
            manifest: verified.manifest().clone(),
            digest: verified.digest().to_owned(),
            content_digest: verified.content_digest().to_owned(),
            key_id: verified.key_id(),
            sandbox: resolution.sandbox,
            limits: self
                .plugin_limits
                .get(&verified.manifest().name)
                .unwrap_or(&self.limits)
                .clone(),
        })
    }

    fn record_floor(&self, floors: &mut Floors, verified: &VerifiedPlugin) -> Result<(), Refusal> {
        let m = verified.manifest();
        let lower = self.trust.allow_downgrade.contains(&m.name);
        floors
            .record(&m.name, &m.version, lower)
            .map_err(|source| Refusal::Io {
                what: "cannot record the anti-rollback floor".into(),
                source,
            })
    }

    fn commit(&self, installed: Installed) -> Arc<Installed> {
        let name = installed.manifest.name.clone();
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        registry.insert(installed);
        registry
            .get(&name)
            .expect("just inserted under its manifest name")
    }
}
