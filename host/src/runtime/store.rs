//! Per-execution store: the data host imports see, memory limits, and the
//! deadline and cancellation checks that run on every epoch tick.

use super::engine::Runtime;
use super::sandbox::Sandbox;
use crate::executor::{CancelToken, Observer};
use std::fmt;
use std::time::{Duration, Instant};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

/// Resource limits for one execution.
#[derive(Debug, Clone)]
pub struct ExecutionLimits {
    /// Linear memory the plugin may grow to (all its memories together are
    /// also capped by the engine's pool slot size).
    pub memory_bytes: usize,
    /// Wall-clock time for one `run`; past it the plugin is interrupted and
    /// the execution ends FAILED ("timed out after N s").
    pub timeout: Duration,
    /// Bytes of log messages accepted from the plugin per execution; further
    /// lines are dropped (once noted in the agent log).
    pub max_log_bytes: usize,
}

impl Default for ExecutionLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            timeout: Duration::from_secs(600),
            max_log_bytes: 1 << 20,
        }
    }
}

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

/// Identity of the execution, for log lines and the plugin's `job` record.
#[derive(Debug, Clone)]
pub(crate) struct JobTag {
    pub plugin: String,
    pub job_id: String,
    pub execution_number: u64,
}

/// Per-execution state the jobhost imports work with.
pub(crate) struct JobCtx {
    pub tag: JobTag,
    /// The grants, for host imports that act on the plugin's behalf.
    pub sandbox: Sandbox,
    pub observer: Box<dyn Observer>,
    pub cancel: CancelToken,
    pub deadline: Instant,
    pub log_budget: usize,
    pub log_dropped: bool,
    /// The last error-level line the plugin logged. Plugins built with the
    /// SDK log their panic message there just before trapping, which makes
    /// "unreachable executed" reports say *why*.
    pub last_error: Option<String>,
}

impl JobCtx {
    /// Whether the plugin should stop: cancelled or past its deadline.
    pub fn should_stop(&self) -> bool {
        self.cancel.is_cancelled() || Instant::now() >= self.deadline
    }
}

/// The `T` of every `Store<T>`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    pub job: JobCtx,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Creates the store for one execution, with its limits armed.
pub(crate) fn new_store(
    runtime: &Runtime,
    sandbox: &Sandbox,
    limits: &ExecutionLimits,
    tag: JobTag,
    observer: Box<dyn Observer>,
    cancel: CancelToken,
) -> Result<Store<HostState>, String> {
    let wasi = sandbox.wasi_ctx()?;
    let timeout = limits.timeout;
    let deadline = Instant::now() + timeout;
    let state = HostState {
        wasi,
        table: ResourceTable::new(),
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes.min(runtime.max_memory_bytes))
            // A failed memory.grow traps with a message naming the limit,
            // rather than returning -1 and letting the guest abort with a
            // bare "unreachable".
            .trap_on_grow_failure(true)
            .build(),
        job: JobCtx {
            tag,
            sandbox: sandbox.clone(),
            observer,
            cancel,
            deadline,
            log_budget: limits.max_log_bytes,
            log_dropped: false,
            last_error: None,
        },
    };
    let mut store = Store::new(&runtime.engine, state);
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
