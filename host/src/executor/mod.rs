//! One attempt at one job execution: validate the document, instantiate the
//! plugin in a fresh limited store, call `run`, and turn whatever happened —
//! outcome, failure, trap, timeout, cancellation — into the status to report.

// Inputs of a run, defined with the store that holds them; here too
// because every caller of `execute` needs them.
pub use crate::runtime::{CancelToken, NullObserver, Observer};

use crate::runtime::bindings::types as wit;
use crate::runtime::store::{new_store, HostState};
use crate::runtime::{CompiledPlugin, ExecutionLimits, Interrupted, JobTag, Runtime, Sandbox};
use jobhost_protocol::limits::MAX_JOB_DOCUMENT_BYTES;
use jobhost_protocol::{StatusDetails, TerminalStatus};
use serde::Serialize;

/// The statusDetails key that carries the reason of a FAILED or REJECTED
/// execution (the AWS IoT Device Client uses the same key).
pub const REASON_KEY: &str = "reason";

pub use crate::runtime::MAX_DETAIL_ENTRIES;

/// How long past its deadline, or after its job was cancelled, a run may
/// still take to stop before it is abandoned (the agent's watchdog, and
/// `jobhost run`'s). [`execute`] ends a run at once, whatever it is doing;
/// one still going this long after is stuck where no future can be dropped
/// (host code that blocks without awaiting), a bug this last line keeps
/// from holding the device away from its next job.
pub const WATCHDOG_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The reason reported for a run abandoned past its deadline `deadline`.
pub fn abandoned_reason(deadline: std::time::Duration) -> String {
    format!(
        "timed out after {} s and did not stop within {} s more (blocked in a host call): abandoned",
        deadline.as_secs(),
        WATCHDOG_GRACE.as_secs()
    )
}

/// One attempt at a job execution, as the agent received it.
#[derive(Debug, Clone)]
pub struct Execution {
    /// AWS IoT job id.
    pub job_id: String,
    /// AWS IoT execution number.
    pub execution_number: u64,
    /// The operation that routed the job to the plugin.
    pub operation: String,
    /// The job document, JSON text.
    pub document: String,
    /// The checkpoint an interrupted earlier attempt saved.
    pub checkpoint: Option<String>,
    /// What the `diagnostics` import reports (needs the capability too);
    /// `None`: the import fails, there is nothing to report.
    pub diagnostics: Option<crate::diagnostics::AgentDiagnostics>,
}

/// The terminal status to report, with its statusDetails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// SUCCEEDED, FAILED or REJECTED.
    pub status: TerminalStatus,
    /// Sanitised statusDetails; failures carry [`REASON_KEY`].
    #[serde(rename = "statusDetails")]
    pub status_details: StatusDetails,
}

impl Report {
    /// A failure report: `reason` goes under [`REASON_KEY`], replacing any
    /// reason the details already had.
    pub fn failure(status: TerminalStatus, reason: &str, mut details: StatusDetails) -> Self {
        details.insert(REASON_KEY, reason);
        Self {
            status,
            status_details: details,
        }
    }

    /// The reason of a failure, if any.
    pub fn reason(&self) -> Option<&str> {
        self.status_details.get(REASON_KEY)
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conclusion {
    /// Report this terminal status.
    Report(Report),
    /// The plugin succeeded and asked for a reboot: the execution stays
    /// IN_PROGRESS, the device reboots, and the plugin runs again with its
    /// checkpoint afterwards.
    Reboot {
        /// Why, as the plugin said.
        reason: String,
        /// The outcome's details (sanitised).
        status_details: StatusDetails,
    },
    /// The plugin succeeded and asked to switch to the certificate it
    /// staged (`certificates.install`): the agent swaps the files,
    /// reconnects, and reports SUCCEEDED only if the broker accepts it.
    RotateCertificate {
        /// The outcome's details (sanitised).
        status_details: StatusDetails,
    },
    /// The job was cancelled while running: report nothing more (the
    /// service already holds the terminal state).
    Cancelled,
}

/// Runs one attempt of `execution` with `plugin`. Never panics on anything a
/// plugin or a document can do; every path ends in a [`Conclusion`].
///
/// The run is a future raced against its deadline and `cancel`: a plugin
/// computing is interrupted by the epoch callback within a tick, and one
/// waiting in a host call (a WASI sleep, a blocking read, an HTTP body) is
/// dropped the moment either fires. Must be polled inside a tokio runtime
/// (WASI and the jobhost imports use its timers and blocking pool); the
/// agent and `jobhost run` drive it on a thread of its own, off the async
/// workers, since wasm between two epoch ticks does not yield.
pub async fn execute(
    runtime: &Runtime,
    plugin: &CompiledPlugin,
    execution: &Execution,
    sandbox: &Sandbox,
    limits: &ExecutionLimits,
    observer: Box<dyn Observer>,
    cancel: CancelToken,
) -> Conclusion {
    if let Err(reason) = validate_document(&execution.document) {
        return Conclusion::Report(Report::failure(
            TerminalStatus::Rejected,
            &reason,
            StatusDetails::new(),
        ));
    }
    // A released plugin is mapped again here, on the run's own thread.
    // Failing that is the device's state (its cache, its plugin file), not
    // the job's: FAILED, and a retry after fixing the device can succeed.
    let pre = match plugin.instance_pre(runtime) {
        Ok(pre) => pre,
        Err(e) => {
            return Conclusion::Report(Report::failure(
                TerminalStatus::Failed,
                &e.to_string(),
                StatusDetails::new(),
            ))
        }
    };
    let tag = JobTag {
        plugin: plugin.name().to_owned(),
        job_id: execution.job_id.clone(),
        execution_number: execution.execution_number,
    };
    let stop = cancel.clone();
    let store = new_store(
        &runtime.engine,
        runtime.max_memory_bytes,
        sandbox,
        limits,
        tag,
        observer,
        cancel,
    );
    let mut store = match store {
        Ok(store) => store,
        // A grant that cannot be opened is the device's problem, not the
        // job's: a retry after fixing the device can succeed.
        Err(e) => {
            return Conclusion::Report(Report::failure(
                TerminalStatus::Failed,
                &e.to_string(),
                StatusDetails::new(),
            ))
        }
    };
    let caps = &mut store.data_mut().caps;
    caps.download.set_document(&execution.document);
    caps.diagnostics.source = execution.diagnostics.clone();
    let job = wit::Job {
        job_id: execution.job_id.clone(),
        execution_number: execution.execution_number,
        operation: execution.operation.clone(),
        document: execution.document.clone(),
        checkpoint: execution.checkpoint.clone(),
    };
    let deadline = tokio::time::Instant::from_std(store.data().job.deadline);
    let result = {
        let run = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .jobhost_plugin_operation()
                .call_run(&mut store, &job)
                .await
        };
        tokio::select! {
            // The run first: one that finished at the same moment keeps its
            // own result.
            biased;
            result = run => result,
            // Dropping `run` ends whatever host call it was waiting in;
            // `conclude` then reads the token and the clock, as for a trap.
            () = stop.cancelled() => Err(Interrupted::Cancelled.into()),
            () = tokio::time::sleep_until(deadline) => {
                Err(Interrupted::TimedOut(limits.timeout).into())
            }
        }
    };
    let conclusion = conclude(result, store.data(), limits);
    let (tag, dropped) = (&store.data().job.tag, store.data().caps.host.rate_dropped);
    if dropped > 0 {
        tracing::warn!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
            "{dropped} log lines dropped by the rate limit");
    }
    match conclusion {
        Conclusion::Report(mut report) => {
            report
                .status_details
                .fit(limits.max_details_bytes, KEEP_DETAILS);
            Conclusion::Report(report)
        }
        Conclusion::Reboot {
            reason,
            mut status_details,
        } => {
            status_details.fit(limits.max_details_bytes, KEEP_DETAILS);
            Conclusion::Reboot {
                reason,
                status_details,
            }
        }
        Conclusion::RotateCertificate { mut status_details } => {
            status_details.fit(limits.max_details_bytes, KEEP_DETAILS);
            Conclusion::RotateCertificate { status_details }
        }
        cancelled => cancelled,
    }
}

/// Details that survive a statusDetails over its size limit: what the
/// operator and a resumed run need most.
const KEEP_DETAILS: &[&str] = &[REASON_KEY, "lastError", "checkpoint"];

/// What the plugin's return (or trap) means, in the light of why the host
/// may have stopped it: a plugin that returns after its deadline (a host
/// call was cut short) timed out; one that was cancelled reports nothing
/// whatever it returned.
fn conclude(
    result: wasmtime::Result<Result<wit::Outcome, wit::Failure>>,
    state: &HostState,
    limits: &ExecutionLimits,
) -> Conclusion {
    let (job, caps) = (&state.job, &state.caps);
    if job.cancel.is_cancelled() {
        return Conclusion::Cancelled;
    }
    let timed_out = std::time::Instant::now() >= job.deadline;
    match result {
        Ok(Ok(outcome)) => {
            let mut details = plugin_details(outcome.status_details, &job.tag);
            caps.download.report(&mut details);
            match &caps.device.reboot_requested {
                Some(reason) => Conclusion::Reboot {
                    reason: reason.clone(),
                    status_details: details,
                },
                None if caps.certificates.install => Conclusion::RotateCertificate {
                    status_details: details,
                },
                None => Conclusion::Report(Report {
                    status: TerminalStatus::Succeeded,
                    status_details: details,
                }),
            }
        }
        // Past its deadline the host cut its calls short: whatever it
        // returned, the run exceeded its limit.
        Ok(returned) if timed_out => {
            let reason = Interrupted::TimedOut(limits.timeout).to_string();
            let mut report = Report::failure(TerminalStatus::Failed, &reason, StatusDetails::new());
            if let Err(failure) = returned {
                report.status_details.insert("pluginError", &failure.reason);
            }
            Conclusion::Report(report)
        }
        Ok(Err(failure)) => {
            let status = if failure.retryable {
                TerminalStatus::Failed
            } else {
                TerminalStatus::Rejected
            };
            let mut details = plugin_details(failure.status_details, &job.tag);
            caps.download.report(&mut details);
            Conclusion::Report(Report::failure(status, &failure.reason, details))
        }
        Err(error) => conclude_trap(&error, caps.host.last_error.clone(), limits),
    }
}

/// A plugin's outcome or failure map (its first [`MAX_DETAIL_ENTRIES`]),
/// sanitised and without the keys only the agent may write
/// (`jobhost_protocol::status_details::AGENT_KEYS`): a plugin cannot forge
/// a reboot announcement, a checkpoint or the reason.
fn plugin_details(pairs: Vec<(String, String)>, tag: &JobTag) -> StatusDetails {
    let (mut details, _) = StatusDetails::from_pairs(pairs.into_iter().take(MAX_DETAIL_ENTRIES));
    let removed = details.strip_agent_keys();
    if !removed.is_empty() {
        tracing::warn!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
            "dropped statusDetails keys reserved for the agent: {}", removed.join(", "));
    }
    details
}

fn validate_document(document: &str) -> Result<(), String> {
    if document.len() > MAX_JOB_DOCUMENT_BYTES {
        return Err(format!(
            "job document is {} bytes, over the {MAX_JOB_DOCUMENT_BYTES}-byte limit",
            document.len()
        ));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(document)
        .map(drop)
        .map_err(|e| format!("job document is not valid JSON: {e}"))
}

/// A trap is retryable (FAILED): it may be transient (memory pressure, a
/// timeout on a slow network) and the job's retry policy decides.
fn conclude_trap(
    error: &wasmtime::Error,
    last_error: Option<String>,
    limits: &ExecutionLimits,
) -> Conclusion {
    use wasmtime::component::ResourceTableError;
    let reason = match error.downcast_ref::<Interrupted>() {
        Some(Interrupted::Cancelled) => return Conclusion::Cancelled,
        Some(timeout @ Interrupted::TimedOut(_)) => timeout.to_string(),
        None => match (
            error.downcast_ref::<wasmtime::Trap>(),
            error.downcast_ref::<ResourceTableError>(),
        ) {
            (Some(trap), _) => format!("plugin trapped: {trap}"),
            (None, Some(ResourceTableError::Full)) => format!(
                "handle limit reached ({} open handles: files, directories, streams); \
                 the plugin must close what it opens",
                limits.max_handles
            ),
            // The root cause, without the wasm backtrace wasmtime wraps it
            // in: a reason is one line for an operator.
            _ => format!(
                "plugin failed: {}",
                crate::runtime::one_line(&error.root_cause().to_string())
            ),
        },
    };
    let mut details = StatusDetails::new();
    if let Some(line) = last_error {
        details.insert("lastError", &line);
    }
    Conclusion::Report(Report::failure(TerminalStatus::Failed, &reason, details))
}
