//! Engine settings, in one place, each with the reason for it: what the
//! agent's engine is built from, and what a `jobhost compile-entry` child
//! rebuilds the same engine from.

use std::path::PathBuf;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

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

/// Runtime settings. `Default` is what the agent uses on a device, but for
/// `compile_in`, which `jobhost agent` sets to a child of itself.
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
    /// Where a plugin the cache does not hold is compiled; see
    /// [`CompileIn`].
    pub compile_in: CompileIn,
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
            compile_in: CompileIn::ThisProcess,
        }
    }
}

/// Where the agent compiles a plugin its cache does not hold yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CompileIn {
    /// In the calling process (what a library user gets).
    #[default]
    ThisProcess,
    /// In a `compile-entry` child of this `jobhost` executable, so that the
    /// compiler's memory leaves with it. Needs a cache directory (the child
    /// hands its result over as a cache entry); without one, the plugin is
    /// compiled in this process.
    ChildProcess(PathBuf),
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
    super::backend::select(&mut config);
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
/// space up front, which fails under tight `ulimit -v` (wasmtime#8607);
/// on-demand allocation then still works. A 32-bit process cannot hold the
/// reservation at all (8 slots of memories up to 256 MiB each, beside the
/// agent, in 3 GiB), so there `Auto` goes straight to on-demand.
pub(super) fn build_engine(
    config: &EngineConfig,
    epochs: bool,
) -> Result<(Engine, AllocatorKind), String> {
    let try_pooling = match config.allocator {
        AllocatorChoice::Auto => cfg!(target_pointer_width = "64"),
        AllocatorChoice::Pooling => true,
        AllocatorChoice::OnDemand => false,
    };
    if try_pooling {
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
            Err(e) => return Err(format!("{e:#}")),
        }
    }
    let engine = Engine::new(&base_config(config, epochs)).map_err(|e| format!("{e:#}"))?;
    Ok((engine, AllocatorKind::OnDemand))
}
