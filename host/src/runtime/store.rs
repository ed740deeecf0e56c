//! Per-execution store: the data host imports see, memory limits, and the
//! deadline and cancellation checks that run on every epoch tick.

use super::engine::Runtime;
use super::limiter::RunLimiter;
use super::sandbox::Sandbox;
use super::{CancelToken, Observer};
use jobhost_protocol::StatusDetails;
use std::fmt;
use std::time::{Duration, Instant};
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

/// Most statusDetails entries a plugin may hand the host at once: more
/// could never fit the size limit (`ExecutionLimits::max_details_bytes`),
/// and sanitising a list of millions would cost the host seconds outside
/// any deadline. Progress over it is refused; an outcome keeps its first.
pub const MAX_DETAIL_ENTRIES: usize = 1024;

/// Resource limits for one execution.
#[derive(Debug, Clone)]
pub struct ExecutionLimits {
    /// Memory the run may use: all its linear memories and tables
    /// together (`RunLimiter`), whatever number of core instances the
    /// component has.
    pub memory_bytes: usize,
    /// Wall-clock time for one `run`; past it the plugin is interrupted and
    /// the execution ends FAILED ("timed out after N s").
    pub timeout: Duration,
    /// Bytes of log messages accepted from the plugin per execution; further
    /// lines are dropped (once noted in the agent log).
    pub max_log_bytes: usize,
    /// Log lines per second a plugin may sustain (bursts of twice that are
    /// absorbed); lines above the rate are dropped and counted, so a log
    /// flood cannot drown the device's journal or its disk.
    pub max_log_lines_per_sec: u32,
    /// Largest statusDetails map (as JSON) a progress update or the final
    /// report may carry; larger ones lose entries (see
    /// `StatusDetails::fit`), so an update always fits the 128 KiB MQTT
    /// packet and the terminal status is never lost.
    pub max_details_bytes: usize,
    /// Open handles (files, directories, streams) at once; past it opens
    /// fail inside the plugin instead of exhausting the agent's descriptors.
    pub max_handles: usize,
    /// Core instances, tables and memories a component may create, and
    /// elements per table: caps on what StoreLimits bounds besides memory.
    pub max_instances: usize,
    /// See `max_instances`.
    pub max_tables: usize,
    /// See `max_instances`.
    pub max_memories: usize,
    /// See `max_instances`.
    pub max_table_elements: usize,
}

impl Default for ExecutionLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            timeout: Duration::from_secs(600),
            max_log_bytes: 1 << 20,
            max_log_lines_per_sec: 100,
            max_details_bytes: 16 << 10,
            max_handles: 256,
            // A Rust component has a handful of core instances; Python and
            // JavaScript components a few dozen. Far below wasmtime's
            // default of 10,000 each.
            max_instances: 100,
            max_tables: 100,
            max_memories: 10,
            max_table_elements: 200_000,
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
    /// Log-rate token bucket: tokens left and when it was last refilled.
    pub log_tokens: f64,
    pub log_refilled: Instant,
    pub log_rate: f64,
    /// Lines dropped by the rate limit.
    pub log_rate_dropped: u64,
    /// The statusDetails size limit (`ExecutionLimits::max_details_bytes`).
    pub max_details_bytes: usize,
    /// Set by `device.request-reboot`: the reason.
    pub reboot_requested: Option<String>,
    /// Set by `certificates.install`: switch to the staged certificate
    /// once the run returns `ok`.
    pub install_certificate: bool,
    /// The last error-level line the plugin logged. Plugins built with the
    /// SDK log their panic message there just before trapping, which makes
    /// "unreachable executed" reports say *why*.
    pub last_error: Option<String>,
    /// Where `diagnostics.snapshot` gets its answer (the agent's, or
    /// `jobhost run`'s); set by the executor from the `Execution`.
    pub diagnostics: Option<crate::diagnostics::AgentDiagnostics>,
    /// The job document as the plugin got it (or as fetched again for a
    /// fresh presigned URL): where the download import looks a URL up.
    pub document: String,
    /// What the plugin last reported through `host.progress`; the download
    /// import adds its percentage on top rather than replacing it.
    pub last_progress: StatusDetails,
}

/// Whether a run should stop (cancelled or past its deadline), apart from
/// the store: a host future or a blocking-pool thread can own one.
#[derive(Debug, Clone)]
pub(crate) struct StopSignal {
    cancel: CancelToken,
    deadline: Instant,
}

impl StopSignal {
    /// Cancelled, or past the deadline.
    pub fn is_set(&self) -> bool {
        self.is_cancelled() || Instant::now() >= self.deadline
    }

    /// Cancelled (as opposed to out of time).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// When the run's time is up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl JobCtx {
    /// Whether the plugin should stop: cancelled or past its deadline.
    pub fn should_stop(&self) -> bool {
        self.stop_signal().is_set()
    }

    /// The same question, detached from the store.
    pub fn stop_signal(&self) -> StopSignal {
        StopSignal {
            cancel: self.cancel.clone(),
            deadline: self.deadline,
        }
    }

    /// Takes one line from the log-rate bucket (refilled at `log_rate`
    /// lines per second, holding at most two seconds' worth).
    pub fn take_log_token(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.log_refilled).as_secs_f64();
        self.log_refilled = now;
        self.log_tokens = (self.log_tokens + elapsed * self.log_rate).min(2.0 * self.log_rate);
        if self.log_tokens >= 1.0 {
            self.log_tokens -= 1.0;
            true
        } else {
            self.log_rate_dropped += 1;
            false
        }
    }
}

/// The `T` of every `Store<T>`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: RunLimiter,
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
    let mut table = ResourceTable::new();
    table.set_max_capacity(limits.max_handles);
    let rate = f64::from(limits.max_log_lines_per_sec.max(1));
    // One budget for all the run's memories and tables (`RunLimiter`).
    let memory_bytes = limits.memory_bytes.min(runtime.max_memory_bytes);
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
            sandbox: sandbox.clone(),
            observer,
            cancel,
            deadline,
            log_budget: limits.max_log_bytes,
            log_dropped: false,
            log_tokens: 2.0 * rate,
            log_refilled: Instant::now(),
            log_rate: rate,
            log_rate_dropped: 0,
            max_details_bytes: limits.max_details_bytes,
            reboot_requested: None,
            install_certificate: false,
            last_error: None,
            diagnostics: None,
            document: String::new(),
            last_progress: StatusDetails::new(),
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

/// A store for unit tests of the imports: on-demand allocation, `plugin`
/// running `job-1`, observed by nothing; with its runtime, for tests that
/// compile something to run in it.
#[cfg(test)]
pub(crate) fn test_store(
    sandbox: &Sandbox,
    limits: &ExecutionLimits,
) -> (std::sync::Arc<Runtime>, Store<HostState>) {
    use super::{AllocatorChoice, EngineConfig};
    let runtime = Runtime::new(&EngineConfig {
        allocator: AllocatorChoice::OnDemand,
        ..EngineConfig::default()
    })
    .expect("a runtime");
    let tag = JobTag {
        plugin: "plugin".into(),
        job_id: "job-1".into(),
        execution_number: 1,
    };
    let store = new_store(
        &runtime,
        sandbox,
        limits,
        tag,
        Box::new(super::NullObserver::default()),
        CancelToken::new(),
    )
    .expect("a store");
    (runtime, store)
}
