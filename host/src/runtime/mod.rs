//! The WebAssembly side of the agent: one wasmtime [`Engine`] per process,
//! a compiled-component cache, plugins loaded once into an `InstancePre`,
//! and a fresh, limited [`Store`] for every execution.
//!
//! # Layout
//!
//! - `settings`: the engine settings (component model, epochs, pooling
//!   probe), and where cache misses are compiled; `backend`: native code
//!   or the Pulley interpreter, fixed at build time.
//! - `engine`: the [`Runtime`] of a process: the engine, the epoch ticker
//!   thread, the linker with every import.
//! - `bindings`: the one `bindgen!` for the `operation-plugin` world.
//! - `cache`: compiled components on disk, integrity-checked before use,
//!   mapped from their files.
//! - `compile`: compiling a cache miss, in this process or in a
//!   `jobhost compile-entry` child whose memory leaves with it; `child`:
//!   that child's side.
//! - `plugin`: reading a plugin file and preparing it for instantiation.
//! - `sandbox`: what a plugin is granted ([`Sandbox`]) and the WASI context
//!   made of its directories.
//! - `capabilities`: one module per imported WIT interface: its grant,
//!   config keys, policy, per-job context and host impl.
//! - `limits`: what one execution may use ([`ExecutionLimits`]), and how
//!   large a plugin may be.
//! - `store`: per-execution store data, memory limits and deadlines.
//! - `limiter`: one memory budget across all of a run's memories and tables.
//! - `cancel`, `observer`: what a run is given from outside (a way to be
//!   cancelled, somewhere to send progress and checkpoints).
//! - `test_support` (tests only): a runtime, a store and a local HTTP
//!   server for the capabilities' unit tests.
//!
//! [`Engine`]: wasmtime::Engine
//! [`Store`]: wasmtime::Store

mod backend;
pub(crate) mod bindings;
mod cache;
mod cancel;
pub(crate) mod capabilities;
mod child;
mod compile;
mod engine;
mod limiter;
mod limits;
mod observer;
mod plugin;
mod sandbox;
mod settings;
pub(crate) mod store;
#[cfg(test)]
pub(crate) mod test_support;

pub use cache::{CacheError, CacheStatus, CompiledCache};
pub use cancel::CancelToken;
pub use capabilities::certificates::{CertificateTarget, CERTIFICATES_GUEST};
pub use capabilities::command::{
    check_program_path, BadProgramPath, CommandGrant, PathProblem, ProgramRefused, ANY_PROGRAM,
    DEFAULT_COMMAND_OUTPUT_BYTES, DEFAULT_COMMAND_TIMEOUT, MAX_PROGRAM_BYTES,
};
pub use capabilities::download::DownloadGrant;
pub use capabilities::files::{DirGrant, GrantParseError};
pub use capabilities::upload::{UploadGrant, DEFAULT_UPLOAD_MAX_BYTES};
pub use capabilities::BadGrant;
pub(crate) use capabilities::JobTag;
pub use capabilities::{admit, GrantEnv, Grants, RawGrants, Reach, Resolution};
pub use child::{compile_entry, ChildAllocator, ChildEngine, CompileEntryArgs, CompileEntryError};
pub use engine::{Runtime, RuntimeError};
pub use limits::{ExecutionLimits, MAX_DETAIL_ENTRIES, MAX_PLUGIN_BYTES};
pub use observer::{NullObserver, Observer};
pub(crate) use plugin::one_line;
pub use plugin::{CompiledPlugin, LoadError};
pub use sandbox::{Sandbox, SandboxError};
pub use settings::{AllocatorChoice, AllocatorKind, CompileIn, EngineConfig};
pub use store::Interrupted;

/// Pieces of an execution, exposed for the benchmark's cost breakdown only.
#[doc(hidden)]
pub mod bench_support {
    use super::store::{new_store, HostState};
    use super::{
        CompiledPlugin, EngineConfig, ExecutionLimits, JobTag, Runtime, RuntimeError, Sandbox,
    };
    use std::sync::Arc;

    /// A runtime WITHOUT epoch interruption: no deadline or cancellation
    /// can stop its plugins. Only for measuring what the limits cost.
    pub fn runtime_without_interruption(
        config: &EngineConfig,
    ) -> Result<Arc<Runtime>, RuntimeError> {
        Runtime::build(config, false)
    }
    use super::{CancelToken, NullObserver};
    use wasmtime::Store;

    fn store(runtime: &Runtime) -> Store<HostState> {
        let tag = JobTag {
            plugin: "bench".into(),
            job_id: "bench".into(),
            execution_number: 1,
        };
        new_store(
            &runtime.engine,
            runtime.max_memory_bytes,
            &Sandbox::empty(),
            &ExecutionLimits::default(),
            tag,
            Box::new(NullObserver::default()),
            CancelToken::new(),
        )
        .expect("an empty sandbox always builds")
    }

    /// Creates a store (WASI context, limits, epoch callback) and drops it.
    pub fn store_only(runtime: &Runtime) {
        drop(store(runtime));
    }

    /// Maps a released plugin again (as its next run would), and links it.
    pub fn map(runtime: &Runtime, plugin: &CompiledPlugin) {
        plugin.instance_pre(runtime).expect("maps");
    }

    /// Creates a store and instantiates the plugin, without calling it.
    pub async fn instantiate_only(runtime: &Runtime, plugin: &CompiledPlugin) {
        plugin
            .instance_pre(runtime)
            .expect("mapped")
            .instantiate_async(&mut store(runtime))
            .await
            .expect("instantiates");
    }
}
