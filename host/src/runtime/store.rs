//! Per-execution store: the data host imports see (WASI's context, the
//! shared [`JobCtx`] and one context per capability), memory limits, and
//! the deadline and cancellation checks that run on every epoch tick.

use super::capabilities::files::Dirs;
use super::capabilities::{Capabilities, JobCtx, JobTag, JobView};
use super::limiter::RunLimiter;
use super::limits::ExecutionLimits;
use super::sandbox::{Sandbox, SandboxError};
use super::{CancelToken, Observer};
use jobhost_protocol::StatusDetails;
use std::fmt;
use std::time::{Duration, Instant};
use wasmtime::{Engine, Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

/// Why a running plugin was stopped by the host (as opposed to trapping on
/// its own). Raised from the epoch callback and recognised by the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The wall-clock limit passed.
    TimedOut(Duration),
    /// The job was cancelled.
    Cancelled,
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut(limit) => write!(f, "timed out after {} s", limit.as_secs_f64()),
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for Interrupted {}

/// The `T` of every `Store<T>`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: RunLimiter,
    /// What every capability shares.
    pub job: JobCtx,
    /// One context per capability.
    pub caps: Capabilities,
}

impl JobView for HostState {
    fn job(&mut self) -> (&mut JobCtx, &mut Capabilities) {
        (&mut self.job, &mut self.caps)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Creates the store for one execution, with its limits armed. The
/// run's memory is `limits.memory_bytes`, capped at `max_memory_bytes`
/// (the engine's own limit, `EngineConfig::max_memory_bytes`).
pub(crate) fn new_store(
    engine: &Engine,
    max_memory_bytes: usize,
    sandbox: &Sandbox,
    limits: &ExecutionLimits,
    tag: JobTag,
    observer: Box<dyn Observer>,
    cancel: CancelToken,
) -> Result<Store<HostState>, SandboxError> {
    let wasi = sandbox.wasi_ctx()?;
    let timeout = limits.timeout;
    let deadline = Instant::now() + timeout;
    let mut table = ResourceTable::new();
    table.set_max_capacity(limits.max_handles);
    // One budget for all the run's memories and tables (`RunLimiter`).
    let memory_bytes = limits.memory_bytes.min(max_memory_bytes);
    let state = HostState {
        wasi,
        table,
        limits: RunLimiter::new(
            StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(limits.max_instances)
                .tables(limits.max_tables)
                .memories(limits.max_memories)
                .table_elements(limits.max_table_elements)
                // A failed memory.grow traps with a message naming the limit,
                // rather than returning -1 and letting the guest abort with a
                // bare "unreachable".
                .trap_on_grow_failure(true)
                .build(),
            memory_bytes,
        ),
        job: JobCtx {
            tag,
            observer,
            cancel,
            deadline,
            dirs: Dirs(sandbox.dirs.clone()),
            max_details_bytes: limits.max_details_bytes,
            last_progress: StatusDetails::new(),
        },
        caps: sandbox.contexts(limits),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    // Check on every tick: cancellation takes effect within one tick, and
    // the deadline is measured in wall-clock time, not in ticks (a loaded
    // machine delays ticks, it must not extend the limit).
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |ctx| {
        let job = &ctx.data().job;
        if job.cancel.is_cancelled() {
            return Err(Interrupted::Cancelled.into());
        }
        if Instant::now() >= job.deadline {
            return Err(Interrupted::TimedOut(timeout).into());
        }
        Ok(UpdateDeadline::Continue(1))
    });
    Ok(store)
}
