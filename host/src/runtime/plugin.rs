//! Reading a plugin file and preparing it for fast instantiation.

use super::bindings::OperationPluginPre;
use super::cache::{CacheStatus, Entry};
use super::compile::{load_or_compile, CompileFailure};
use super::engine::Runtime;
use super::limits::MAX_PLUGIN_BYTES;
use super::store::HostState;
use crate::trust::VerifiedPlugin;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use wasmtime::component::Component;

const WASM_MAGIC: [u8; 4] = *b"\0asm";
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
const CORE_MODULE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// Why a plugin could not be loaded. Each message names the file and says
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Over [`MAX_PLUGIN_BYTES`].
    #[error("plugin {name} is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Plugin name.
        name: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Not WebAssembly at all.
    #[error("plugin {name} is not a WebAssembly file (no \\0asm header)")]
    NotWasm {
        /// Plugin name.
        name: String,
    },
    /// A core module, not a component.
    #[error("plugin {name} is a core WebAssembly module, not a component; build it for wasm32-wasip2 or wrap it with `wasm-tools component new`")]
    CoreModule {
        /// Plugin name.
        name: String,
    },
    /// wasmtime rejected the bytes.
    #[error("plugin {name} is not a valid component: {reason}")]
    Invalid {
        /// Plugin name.
        name: String,
        /// The compiler's message.
        reason: String,
    },
    /// The compile did not finish: the device's state (memory, disk), not
    /// the plugin's fault; loading it again may succeed.
    #[error("cannot compile plugin {name}: {reason}")]
    Compile {
        /// Plugin name.
        name: String,
        /// What stopped the compiler.
        reason: String,
    },
    /// A released plugin's compiled entry was gone and its file no longer
    /// holds the bytes that were verified: what runs must be what was
    /// checked, so it is not loaded.
    #[error("plugin {name}: {path} changed since it was verified and loaded; restart the agent (or install the plugin with install-plugin) to load the new file")]
    Changed {
        /// Plugin name.
        name: String,
        /// The plugin file.
        path: PathBuf,
    },
    /// The component needs imports jobhost does not provide, or does not
    /// export the operation interface.
    #[error(
        "plugin {name} does not implement the jobhost:plugin/operation-plugin@0.1 world: {reason}"
    )]
    WrongWorld {
        /// Plugin name.
        name: String,
        /// What is missing or mismatched.
        reason: String,
    },
}

/// A plugin ready to run: compiled, linked against the host imports, with
/// its exports type-checked once, so each execution only instantiates.
///
/// Its compiled code can be released ([`CompiledPlugin::release`]) and is
/// then mapped again by the next run that needs it: an agent checks every
/// installed plugin at start, then keeps mapped only those its jobs use
/// (BENCHMARKS.md, "Footprint": the eleven first-party plugins' code and
/// metadata were 10 MiB of an idle agent's 22).
pub struct CompiledPlugin {
    name: String,
    digest: String,
    size: usize,
    cache_status: CacheStatus,
    residence: Mutex<Residence>,
}

/// Where a plugin's instantiable form is.
enum Residence {
    /// Mapped and linked: ready to instantiate.
    Mapped(Arc<OperationPluginPre<HostState>>),
    /// Released: mapped again from its compiled-cache entry on the next
    /// run, or, if that entry is gone, compiled again from `origin` once
    /// the file's sha256 is found to be still the digest that was verified.
    Released {
        /// The plugin file the bytes were read from.
        origin: PathBuf,
    },
}

impl CompiledPlugin {
    /// Loads the plugin at `path`, named after the file stem, WITHOUT
    /// checking any signature: for `jobhost run` without `--pub` (a
    /// developer's own build), tests and benches. The agent loads only
    /// [`CompiledPlugin::from_verified`]; the name says so at every other call.
    pub fn load_unverified_file(runtime: &Runtime, path: &Path) -> Result<Self, LoadError> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let read_err = |source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        if size > MAX_PLUGIN_BYTES {
            return Err(LoadError::TooLarge {
                name,
                size,
                max: MAX_PLUGIN_BYTES,
            });
        }
        let bytes = read_capped(file, size as usize).map_err(read_err)?;
        Self::from_unverified_bytes(runtime, &name, &bytes)
    }

    /// Loads a plugin from memory WITHOUT checking any signature, like
    /// [`CompiledPlugin::load_unverified_file`].
    pub fn from_unverified_bytes(
        runtime: &Runtime,
        name: &str,
        bytes: &[u8],
    ) -> Result<Self, LoadError> {
        let name = name.to_owned();
        if bytes.len() as u64 > MAX_PLUGIN_BYTES {
            return Err(LoadError::TooLarge {
                name,
                size: bytes.len() as u64,
                max: MAX_PLUGIN_BYTES,
            });
        }
        // Cheap, precise refusals before any parser sees the bytes.
        if bytes.len() < 8 || bytes[..4] != WASM_MAGIC {
            return Err(LoadError::NotWasm { name });
        }
        if bytes[4..8] == CORE_MODULE_VERSION {
            return Err(LoadError::CoreModule { name });
        }
        if bytes[4..8] != COMPONENT_VERSION {
            return Err(LoadError::Invalid {
                name,
                reason: format!(
                    "unsupported component encoding version {:02x?}",
                    &bytes[4..8]
                ),
            });
        }
        let digest = hex::encode(Sha256::digest(bytes));
        let (component, cache_status) = compile(runtime, &name, bytes, &digest)?;
        let pre = link(runtime, &name, &component)?;
        Ok(Self {
            name,
            digest,
            size: bytes.len(),
            cache_status,
            residence: Mutex::new(Residence::Mapped(Arc::new(pre))),
        })
    }

    /// Loads a plugin that [`TrustStore::verify`] accepted (signature,
    /// trust, revocation, manifest), named by its manifest. The signed file
    /// is compiled unchanged: wasmtime ignores its custom sections.
    ///
    /// [`TrustStore::verify`]: crate::trust::TrustStore::verify
    pub fn from_verified(runtime: &Runtime, plugin: &VerifiedPlugin) -> Result<Self, LoadError> {
        Self::from_unverified_bytes(runtime, &plugin.manifest().name, plugin.bytes())
    }

    /// The plugin's name (its manifest's name for a verified plugin, else
    /// its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// sha256 of the component, as lowercase hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether the compiled code came from the cache.
    pub fn cache_status(&self) -> CacheStatus {
        self.cache_status
    }

    /// Unmaps the compiled code and frees the linked form until a run
    /// needs them again (the run maps them back: half a millisecond for a
    /// small plugin, BENCHMARKS.md `load/echo/remap`). `origin` is the file this
    /// plugin was loaded from: read again, and used only if its sha256 is
    /// still this plugin's digest, should the compiled entry be gone by
    /// then. Without a compiled cache there is nothing to map back from,
    /// and the plugin stays mapped: returns whether it was released.
    pub fn release(&self, origin: &Path) -> bool {
        if self.cache_status == CacheStatus::Disabled {
            return false;
        }
        *self.residence() = Residence::Released {
            origin: origin.to_path_buf(),
        };
        true
    }

    /// Whether the compiled code is mapped now.
    pub fn is_mapped(&self) -> bool {
        matches!(*self.residence(), Residence::Mapped(_))
    }

    /// The linked form to instantiate, mapped again first if it was
    /// released: from the compiled cache (its entry checked as at load),
    /// else compiled again from the plugin file if that still holds the
    /// bytes that were verified.
    pub(crate) fn instance_pre(
        &self,
        runtime: &Runtime,
    ) -> Result<Arc<OperationPluginPre<HostState>>, LoadError> {
        let mut residence = self.residence();
        let origin = match &*residence {
            Residence::Mapped(pre) => return Ok(Arc::clone(pre)),
            Residence::Released { origin } => origin.clone(),
        };
        let mapped = runtime.cache().and_then(|cache| {
            match cache.load(&runtime.engine, &self.digest) {
                Entry::Verified(component) => Some(component),
                Entry::Absent => None,
                Entry::Unusable(why) => {
                    tracing::warn!(target: "runtime", plugin = %self.name,
                        "cache entry {}: {why}; compiling the plugin file again", cache.entry_path(&self.digest).display());
                    None
                }
            }
        });
        let component = match mapped {
            Some(component) => component,
            None => {
                let bytes = self.read_origin(&origin)?;
                compile(runtime, &self.name, &bytes, &self.digest)?.0
            }
        };
        let pre = Arc::new(link(runtime, &self.name, &component)?);
        *residence = Residence::Mapped(Arc::clone(&pre));
        Ok(pre)
    }

    /// The bytes of `origin`, if they are still the ones verified.
    fn read_origin(&self, origin: &Path) -> Result<Vec<u8>, LoadError> {
        let read_err = |source| LoadError::Read {
            path: origin.to_path_buf(),
            source,
        };
        let file = File::open(origin).map_err(read_err)?;
        let bytes = read_capped(file, self.size).map_err(read_err)?;
        if hex::encode(Sha256::digest(&bytes)) != self.digest {
            return Err(LoadError::Changed {
                name: self.name.clone(),
                path: origin.to_path_buf(),
            });
        }
        Ok(bytes)
    }

    fn residence(&self) -> std::sync::MutexGuard<'_, Residence> {
        self.residence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads `file` whole, expecting about `expected` bytes, and never more
/// than one byte over [`MAX_PLUGIN_BYTES`]: `take` guards against a file
/// that grows between stat and read, and that byte is enough to refuse it.
fn read_capped(file: File, expected: usize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(expected);
    file.take(MAX_PLUGIN_BYTES + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The compiled component for `bytes` (whose sha256 is `digest`): from the
/// cache if the runtime has one, else compiled in memory.
fn compile(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    digest: &str,
) -> Result<(Component, CacheStatus), LoadError> {
    let compiled = match runtime.cache() {
        Some(cache) => load_or_compile(cache, &runtime.engine, &runtime.compiler, bytes, digest),
        None => Component::new(&runtime.engine, bytes)
            .map(|c| (c, CacheStatus::Disabled))
            .map_err(|e| CompileFailure::Invalid(format!("{e:#}"))),
    };
    compiled.map_err(|failure| match failure {
        CompileFailure::Invalid(reason) => LoadError::Invalid {
            name: name.to_owned(),
            reason: one_line(&reason),
        },
        CompileFailure::Aborted(reason) => LoadError::Compile {
            name: name.to_owned(),
            reason: one_line(&reason),
        },
    })
}

/// `component` linked against the runtime's imports, its exports
/// type-checked against the operation-plugin world.
fn link(
    runtime: &Runtime,
    name: &str,
    component: &Component,
) -> Result<OperationPluginPre<HostState>, LoadError> {
    let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
        name: name.to_owned(),
        reason: one_line(&format!("{e:#}")),
    };
    let instance_pre = runtime
        .linker
        .instantiate_pre(component)
        .map_err(wrong_world)?;
    OperationPluginPre::new(instance_pre).map_err(wrong_world)
}

impl std::fmt::Debug for CompiledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPlugin")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("cache_status", &self.cache_status)
            .finish_non_exhaustive()
    }
}

/// Errors from wasmtime can span lines (backtraces, nested contexts); job
/// reasons and CLI errors are one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
