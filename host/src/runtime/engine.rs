//! The runtime of a process: the engine built from its settings
//! (`settings`), the linker with every import, the compiled cache, where
//! cache misses are compiled, and the epoch ticker.

use super::cache::{CacheError, CompiledCache};
use super::capabilities;
use super::compile::Compiler;
use super::settings::{build_engine, AllocatorKind, EngineConfig};
use super::store::HostState;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::Engine;

/// How often the epoch advances. Deadlines and cancellation are checked on
/// each tick, so this bounds how late a timeout or cancel takes effect; 10 ms
/// costs nothing measurable (see BENCHMARKS.md).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the configuration (or could not reserve the pool).
    #[error("failed to create the WebAssembly engine: {0}")]
    Engine(String),
    /// The host functions could not be registered (a bug, not an input).
    #[error("failed to register host functions: {0}")]
    Linker(String),
    /// The compiled-component cache directory is unusable.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// The engine, the linker with every host import, and the compiled cache:
/// built once per process and shared by every plugin and execution.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) cache: Option<CompiledCache>,
    pub(crate) compiler: Compiler,
    pub(crate) max_memory_bytes: usize,
    allocator: AllocatorKind,
}

impl Runtime {
    /// Builds the engine (probing the pooling allocator when asked to),
    /// starts the epoch ticker and registers WASI and the jobhost imports.
    pub fn new(config: &EngineConfig) -> Result<Arc<Self>, RuntimeError> {
        Self::build(config, true)
    }

    /// `epochs: false` only for the benchmark that measures what epoch
    /// interruption costs: without it no deadline or cancellation can stop
    /// a plugin, so nothing else may build such a runtime.
    pub(crate) fn build(config: &EngineConfig, epochs: bool) -> Result<Arc<Self>, RuntimeError> {
        let (engine, allocator) = build_engine(config, epochs).map_err(RuntimeError::Engine)?;
        let mut linker = Linker::new(&engine);
        // The async WASI: a run is a future (`crate::executor`), and a
        // plugin waiting in any WASI call (a sleep, a read, an open) is
        // dropped at its deadline or on cancel, which a synchronous call
        // blocked in the kernel could not be.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Linker(format!("{e:#}")))?;
        // The jobhost imports, each interface with its own view of the
        // store (`capabilities::add_to_linker`).
        capabilities::add_to_linker(&mut linker)
            .map_err(|e| RuntimeError::Linker(format!("{e:#}")))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(CompiledCache::open(dir, &engine)?),
            None => None,
        };
        let runtime = Arc::new(Self {
            engine,
            linker,
            cache,
            compiler: Compiler::new(config, allocator, epochs),
            max_memory_bytes: config.max_memory_bytes,
            allocator,
        });
        // Without the ticker no deadline would ever fire: refuse to start.
        if epochs {
            start_epoch_ticker(Arc::downgrade(&runtime)).map_err(|e| {
                RuntimeError::Engine(format!("cannot start the epoch ticker thread: {e}"))
            })?;
        }
        Ok(runtime)
    }

    /// The allocator in use (pooling unless the probe failed or was refused).
    pub fn allocator(&self) -> AllocatorKind {
        self.allocator
    }

    /// Native code or the Pulley interpreter, as the engine was built
    /// (always this build's [`BACKEND`](crate::version::BACKEND)).
    pub fn backend(&self) -> crate::version::Backend {
        if self.engine.is_pulley() {
            crate::version::Backend::Pulley
        } else {
            crate::version::Backend::Cranelift
        }
    }

    /// The compiled-component cache, when one is configured.
    pub fn cache(&self) -> Option<&CompiledCache> {
        self.cache.as_ref()
    }
}

/// Advances the epoch every [`EPOCH_TICK`] until the runtime is dropped.
/// Holding only a `Weak` lets the thread notice the drop and exit.
fn start_epoch_ticker(runtime: Weak<Runtime>) -> std::io::Result<()> {
    thread::Builder::new()
        .name("jobhost-epoch".into())
        .spawn(move || loop {
            thread::sleep(EPOCH_TICK);
            match runtime.upgrade() {
                Some(rt) => rt.engine.increment_epoch(),
                None => return,
            }
        })
        .map(drop)
}
