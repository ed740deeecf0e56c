//! `jobhost:plugin/host`: log, progress, checkpoint, cancelled. Every
//! plugin has it; what it keeps per run is the log limiter ([`HostCtx`]).

use super::{Cap, CapView, JobView};
use crate::runtime::bindings::host::{self as wit, Host, Level};
use crate::runtime::bindings::types::HostError;
use crate::runtime::limits::{ExecutionLimits, MAX_DETAIL_ENTRIES};
use jobhost_protocol::status_details::Sanitised;
use jobhost_protocol::StatusDetails;
use std::time::Instant;
use wasmtime::component::Linker;

/// Longest log line kept; longer ones are cut (a log line is for people).
const MAX_LOG_LINE_BYTES: usize = 4096;

/// Checkpoints travel in a statusDetails value, whose limit is 1024
/// characters; bytes are the stricter measure and what the WIT promises.
pub const MAX_CHECKPOINT_BYTES: usize = 1024;

/// A run's log limiter, and the last error line.
pub(crate) struct HostCtx {
    /// Log bytes still accepted (`ExecutionLimits::max_log_bytes`).
    budget: usize,
    /// Whether the budget ran out (noted once in the agent log).
    budget_dropped: bool,
    /// Log-rate token bucket: tokens left and when it was last refilled.
    tokens: f64,
    refilled: Instant,
    /// Lines per second.
    rate: f64,
    /// Lines dropped by the rate limit.
    pub rate_dropped: u64,
    /// The last error-level line the plugin logged. Plugins built with the
    /// SDK log their panic message there just before trapping, which makes
    /// "unreachable executed" reports say *why*.
    pub last_error: Option<String>,
}

impl HostCtx {
    pub fn new(limits: &ExecutionLimits) -> Self {
        let rate = f64::from(limits.max_log_lines_per_sec.max(1));
        Self {
            budget: limits.max_log_bytes,
            budget_dropped: false,
            tokens: 2.0 * rate,
            refilled: Instant::now(),
            rate,
            rate_dropped: 0,
            last_error: None,
        }
    }

    /// Takes one line from the log-rate bucket (refilled at `rate` lines
    /// per second, holding at most two seconds' worth).
    fn take_log_token(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(2.0 * self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.rate_dropped += 1;
            false
        }
    }
}

pub(super) fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Cap<HostCtx>>(linker, super::view!(host))
}

impl Host for CapView<'_, HostCtx> {
    async fn log(&mut self, level: Level, message: String) {
        let (log, tag) = (&mut *self.ctx, &self.job.tag);
        if log.budget < message.len() {
            if !log.budget_dropped {
                log.budget_dropped = true;
                tracing::warn!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
                    "log budget for this execution exhausted; dropping further plugin log lines");
            }
            return;
        }
        if !log.take_log_token() {
            if log.rate_dropped == 1 {
                tracing::warn!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
                    "plugin logs faster than {} lines/s; dropping lines over the rate", log.rate);
            }
            return;
        }
        log.budget -= message.len();
        let line = clean_line(&message);
        if level == Level::Error {
            log.last_error = Some(line.clone());
        }
        let (plugin, job_id, exec) = (&tag.plugin, &tag.job_id, tag.execution_number);
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", plugin = %plugin, job_id = %job_id, execution = exec, "{line}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", plugin = %plugin, job_id = %job_id, execution = exec, "{line}")
            }
            Level::Info => {
                tracing::info!(target: "plugin", plugin = %plugin, job_id = %job_id, execution = exec, "{line}")
            }
            Level::Warn => {
                tracing::warn!(target: "plugin", plugin = %plugin, job_id = %job_id, execution = exec, "{line}")
            }
            Level::Error => {
                tracing::error!(target: "plugin", plugin = %plugin, job_id = %job_id, execution = exec, "{line}")
            }
        }
    }

    async fn progress(&mut self, details: Vec<(String, String)>) -> Result<(), HostError> {
        if self.job.should_stop() {
            return Err(HostError::Cancelled);
        }
        // Counted before anything is sanitised or copied: a huge list must
        // cost the host no more than its refusal.
        if details.len() > MAX_DETAIL_ENTRIES {
            return Err(HostError::LimitExceeded(format!(
                "{} progress entries; at most {MAX_DETAIL_ENTRIES} are allowed",
                details.len()
            )));
        }
        let (mut details, _) = StatusDetails::from_pairs(details);
        // Keys only the agent writes (a reboot announcement, a checkpoint,
        // a download's progress) are not the plugin's to report: dropped
        // silently, since a log line per call would be a flood of its own.
        details.strip_agent_keys();
        details.fit(self.job.max_details_bytes, &[]);
        self.job.observer.progress(&details);
        self.job.last_progress = details;
        Ok(())
    }

    async fn checkpoint(&mut self, state: String) -> Result<(), HostError> {
        if self.job.should_stop() {
            return Err(HostError::Cancelled);
        }
        if state.len() > MAX_CHECKPOINT_BYTES {
            return Err(HostError::LimitExceeded(format!(
                "checkpoint is {} bytes; the limit is {MAX_CHECKPOINT_BYTES}",
                state.len()
            )));
        }
        // It will be a statusDetails value verbatim: refuse rather than
        // silently alter what the plugin will be handed back.
        if StatusDetails::new().insert("checkpoint", &state) != Sanitised::Unchanged {
            return Err(HostError::InvalidArgument(
                "checkpoint must be non-empty and contain no control or format characters".into(),
            ));
        }
        self.job
            .observer
            .checkpoint(&state)
            .map_err(|e| HostError::Failed(format!("checkpoint not saved: {e}")))
    }

    async fn cancelled(&mut self) -> bool {
        self.job.should_stop()
    }
}

/// One printable line: controls become spaces, long lines are cut on a
/// character boundary. Keeps a hostile plugin from forging log lines.
fn clean_line(message: &str) -> String {
    let mut end = message.len().min(MAX_LOG_LINE_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut line: String = message[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if end < message.len() {
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::clean_line;
    use crate::runtime::bindings::host::Host;
    use crate::runtime::bindings::types::HostError;
    use crate::runtime::test_support::{store, view};
    use crate::runtime::MAX_DETAIL_ENTRIES;
    use crate::runtime::{ExecutionLimits, Sandbox};
    use futures_util::FutureExt;

    #[test]
    fn a_progress_list_over_the_entry_cap_is_refused_before_any_work() {
        let (_runtime, mut store) = store(&Sandbox::empty(), &ExecutionLimits::default());
        let entries = |n: usize| (0..n).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let mut state = view(store.data_mut(), |c| &mut c.host);
        match state
            .progress(entries(MAX_DETAIL_ENTRIES + 1))
            .now_or_never()
        {
            Some(Err(HostError::LimitExceeded(m))) => assert!(m.contains("at most 1024"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(state.job.last_progress.is_empty(), "nothing was taken");
        let taken = state.progress(entries(10)).now_or_never();
        assert!(matches!(taken, Some(Ok(()))), "{taken:?}");
        assert_eq!(state.job.last_progress.len(), 10);
    }

    #[test]
    fn log_lines_cannot_forge_new_lines() {
        assert_eq!(clean_line("a\nINFO fake\r\x1b[2J"), "a INFO fake  [2J");
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let line = clean_line(&"é".repeat(5000));
        assert!(line.len() <= super::MAX_LOG_LINE_BYTES + '…'.len_utf8());
        assert!(line.ends_with('…'));
    }
}
