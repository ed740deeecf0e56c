//! Engine settings, in one place, each with the reason for it.

use super::cache::{CacheError, CompiledCache};
use super::capabilities;
use super::store::HostState;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. Deadlines and cancellation are checked on
/// each tick, so this bounds how late a timeout or cancel takes effect; 10 ms
/// costs nothing measurable (see BENCHMARKS.md).
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Which instance allocator to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllocatorChoice {
    /// Pooling when the machine can reserve its address space, else on-demand.
    #[default]
    Auto,
    /// Pooling or fail.
    Pooling,
    /// Plain mmap per instance.
    OnDemand,
}

/// The allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorKind {
    /// Pre-reserved slots: instantiation is a few µs and memory is reused.
    Pooling,
    /// mmap per instance: slower, but needs no up-front reservation.
    OnDemand,
}

/// Runtime settings. `Default` is what the agent uses on a device.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Instance allocator; see [`AllocatorChoice`].
    pub allocator: AllocatorChoice,
    /// Largest linear memory any plugin may grow to, across all executions.
    /// Per-execution limits ([`super::ExecutionLimits`]) are lower or equal.
    pub max_memory_bytes: usize,
    /// Executions that may be alive at once (pool slots).
    pub max_concurrent_instances: u32,
    /// Where compiled components are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// WebAssembly stack per execution: deeper recursion traps ("call stack
    /// exhausted") instead of overflowing the host thread.
    pub max_stack_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            allocator: AllocatorChoice::Auto,
            // Python and JavaScript components need well over 64 MiB; a
            // device that cannot spare this sets a lower per-plugin limit.
            max_memory_bytes: 256 << 20,
            // The agent runs one job at a time; the rest is headroom for the
            // built-in operations and tests that run plugins side by side.
            max_concurrent_instances: 8,
            cache_dir: None,
            max_stack_bytes: 512 << 10,
        }
    }
}

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
        let (engine, allocator) = build_engine(config, epochs)?;
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

    /// The compiled-component cache, when one is configured.
    pub fn cache(&self) -> Option<&CompiledCache> {
        self.cache.as_ref()
    }
}

fn base_config(engine: &EngineConfig, epochs: bool) -> Config {
    let mut config = Config::new();
    // The plugin contract is a component-model world.
    config.wasm_component_model(true);
    // Epochs, not fuel: a counter bump per tick instead of instrumenting every
    // block, and a callback per tick that checks deadline and cancellation.
    config.epoch_interruption(epochs);
    // A bounded guest stack so that unbounded recursion traps cleanly long
    // before it could touch the host thread's own stack.
    config.max_wasm_stack(engine.max_stack_bytes);
    config
}

fn pooling_config(config: &EngineConfig) -> PoolingAllocationConfig {
    let slots = config.max_concurrent_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // Sized from what the language toolchains produce: a Rust or C component
    // has 1–3 core instances, componentize-py's has dozens (measured on
    // components built with componentize-py 0.25.1), hence the
    // per-component headroom.
    pool.total_component_instances(slots)
        .total_core_instances(slots * 64)
        .total_memories(slots * 8)
        .total_tables(slots * 8)
        .total_stacks(slots)
        .max_memories_per_component(32)
        .max_tables_per_component(32)
        .max_core_instances_per_component(64)
        .table_elements(200_000)
        .max_memory_size(config.max_memory_bytes)
        .max_core_instance_size(16 << 20)
        .max_component_instance_size(16 << 20)
        // Reset a returned slot by memset instead of madvise for the first
        // MiB of memory (and 64 KiB of tables): a small plugin's whole heap.
        // This halves the per-job cost measured in BENCHMARKS.md, at the
        // price of keeping up to that much resident per warm slot.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10)
        // Linux ≥ 6.7: reset only the pages a job actually dirtied.
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// Tries pooling first when allowed. The pool reserves its whole address
/// space up front, which fails on 32-bit devices and under tight
/// `ulimit -v` (wasmtime#8607); on-demand allocation then still works.
fn build_engine(
    config: &EngineConfig,
    epochs: bool,
) -> Result<(Engine, AllocatorKind), RuntimeError> {
    if config.allocator != AllocatorChoice::OnDemand {
        let mut c = base_config(config, epochs);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(config)));
        match Engine::new(&c) {
            Ok(engine) => return Ok((engine, AllocatorKind::Pooling)),
            Err(e) if config.allocator == AllocatorChoice::Auto => {
                tracing::warn!(
                    target: "runtime",
                    "pooling allocator unavailable ({e:#}); using on-demand allocation"
                );
            }
            Err(e) => return Err(RuntimeError::Engine(format!("{e:#}"))),
        }
    }
    let engine = Engine::new(&base_config(config, epochs))
        .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
    Ok((engine, AllocatorKind::OnDemand))
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
