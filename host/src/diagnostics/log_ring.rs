//! The agent's most recent log lines, kept in memory for the `diagnostics`
//! import: a device in the field has no one to read its journal, so a
//! troubleshooting job brings the last lines back with it.
//!
//! A [`tracing_subscriber::Layer`] formats each event that passes the
//! subscriber's filter into one line and pushes it into a bounded ring;
//! the oldest line falls out when the ring is full, so memory stays below
//! [`RECENT_LOG_LINES`] × [`MAX_LOG_LINE_BYTES`] however long the agent
//! runs. The `jobhost` binary installs the layer beside its stderr output
//! ([`log_layer`]); an embedding program or a test installs it the same way.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Lines kept: enough to see what led up to a problem (a few jobs' worth of
/// lifecycle lines), little enough to travel in one diagnostics bundle.
pub const RECENT_LOG_LINES: usize = 200;

/// Longest line kept, in bytes; longer ones are cut on a character
/// boundary to end with `…` within this. Plugins may log lines of 4 KiB; the start of
/// a line says what it is about.
pub const MAX_LOG_LINE_BYTES: usize = 2048;

/// A bounded buffer of log lines, oldest first.
#[derive(Debug)]
pub struct LogRing {
    lines: Mutex<VecDeque<Entry>>,
    capacity: usize,
}

/// One line, with the plugin and job it is about (its `plugin` and
/// `job_id` fields), if any: a plugin's snapshot gets only its own lines.
#[derive(Debug, Clone)]
struct Entry {
    line: String,
    plugin: Option<String>,
    job_id: Option<String>,
}

/// Whose lines a snapshot may carry: those about no plugin and no job (the
/// agent's own: MQTT, start-up) and those about this plugin and this job.
/// Another plugin's lines, or those of another job, may hold what that
/// plugin's operator does not mean this one to see (paths, hosts, errors
/// with data in them).
#[derive(Debug, Clone, Copy)]
pub struct LogScope<'a> {
    /// The plugin asking.
    pub plugin: &'a str,
    /// The job it runs for.
    pub job_id: &'a str,
}

impl LogScope<'_> {
    fn admits(&self, entry: &Entry) -> bool {
        entry.plugin.as_deref().is_none_or(|p| p == self.plugin)
            && entry.job_id.as_deref().is_none_or(|j| j == self.job_id)
    }
}

impl LogRing {
    /// An empty ring that keeps at most `capacity` lines.
    pub fn new(capacity: usize) -> Self {
        Self {
            lines: Mutex::new(VecDeque::with_capacity(capacity.min(RECENT_LOG_LINES))),
            capacity,
        }
    }

    /// Adds `line` (cleaned: no control characters, at most
    /// [`MAX_LOG_LINE_BYTES`]), dropping the oldest line when full.
    pub fn push(&self, line: &str) {
        self.push_entry(line, None, None);
    }

    /// [`Self::push`] for a line about `plugin` and `job_id`.
    fn push_entry(&self, line: &str, plugin: Option<String>, job_id: Option<String>) {
        if self.capacity == 0 {
            return;
        }
        let entry = Entry {
            line: clean(line),
            plugin,
            job_id,
        };
        // A panic while the lock was held left at most one line half-done:
        // the lines themselves are still whole strings.
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        while lines.len() >= self.capacity {
            lines.pop_front();
        }
        lines.push_back(entry);
    }

    /// The lines kept, oldest first.
    pub fn lines(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().map(|e| e.line.clone()).collect()
    }

    /// The lines kept that `scope` may see, oldest first.
    pub fn lines_for(&self, scope: LogScope<'_>) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines
            .iter()
            .filter(|e| scope.admits(e))
            .map(|e| e.line.clone())
            .collect()
    }
}

/// The process's ring, which [`log_layer`] feeds and [`recent_log`] reads.
fn global() -> &'static Arc<LogRing> {
    static RING: OnceLock<Arc<LogRing>> = OnceLock::new();
    RING.get_or_init(|| Arc::new(LogRing::new(RECENT_LOG_LINES)))
}

/// The process's most recent log lines that `scope` may see, oldest
/// first; empty when no [`log_layer`] was installed.
pub fn recent_log(scope: LogScope<'_>) -> Vec<String> {
    global().lines_for(scope)
}

/// The layer that feeds the process's ring. Install it in the same
/// subscriber as the log output, after the filter, so the ring holds the
/// lines an operator would have seen:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::filter::LevelFilter::INFO)
///     .with(tracing_subscriber::fmt::layer())
///     .with(jobhost::diagnostics::log_layer())
///     .init();
/// ```
pub fn log_layer() -> LogRingLayer {
    LogRingLayer {
        ring: Arc::clone(global()),
    }
}

/// Formats each event as one line into a [`LogRing`]; see [`log_layer`].
#[derive(Debug, Clone)]
pub struct LogRingLayer {
    ring: Arc<LogRing>,
}

impl LogRingLayer {
    /// A layer feeding `ring` instead of the process's ring (tests).
    pub fn feeding(ring: Arc<LogRing>) -> Self {
        Self { ring }
    }
}

impl<S: Subscriber> Layer<S> for LogRingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut line = format!(
            "{} {:>5} {}: {}",
            utc_timestamp(SystemTime::now()),
            meta.level(),
            fields.log_target.as_deref().unwrap_or(meta.target()),
            fields.message
        );
        if !fields.rest.is_empty() {
            line.push_str(&fields.rest);
        }
        self.ring.push_entry(&line, fields.plugin, fields.job_id);
    }
}

/// The event's message, then its other fields as ` key=value`. Events
/// bridged from the `log` crate (dependencies such as the MQTT broker)
/// carry their origin in `log.*` fields: the target is used, the source
/// file and line are noise in a bundle and dropped.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    log_target: Option<String>,
    plugin: Option<String>,
    job_id: Option<String>,
}

impl Fields {
    /// Keeps the `plugin` and `job_id` fields' values for the scope.
    fn note(&mut self, name: &str, value: &str) {
        match name {
            "plugin" => self.plugin = Some(value.to_owned()),
            "job_id" => self.job_id = Some(value.to_owned()),
            _ => {}
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "log.target" => self.log_target = Some(value.to_owned()),
            name if name.starts_with("log.") => {}
            name => {
                self.note(name, value);
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            name if name.starts_with("log.") => {}
            name => {
                let value = format!("{value:?}");
                self.note(name, &value);
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }
}

/// One printable line: controls become spaces (a line cannot forge the
/// next one), and a line over [`MAX_LOG_LINE_BYTES`] is cut to fit that,
/// `…` included.
fn clean(line: &str) -> String {
    let mut end = if line.len() > MAX_LOG_LINE_BYTES {
        MAX_LOG_LINE_BYTES - '…'.len_utf8()
    } else {
        line.len()
    };
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = line[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if end < line.len() {
        out.push('…');
    }
    out
}

/// `2025-01-31T12:34:56.789Z`.
fn utc_timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    crate::timestamp::rfc3339(
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Some(since.subsec_millis()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tracing_subscriber::prelude::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_oldest_first() {
        let ring = LogRing::new(3);
        for i in 0..5 {
            ring.push(&format!("line {i}"));
        }
        assert_eq!(ring.lines(), ["line 2", "line 3", "line 4"]);
        let empty = LogRing::new(0);
        empty.push("x");
        assert!(empty.lines().is_empty());
    }

    #[test]
    fn lines_are_cleaned_and_bounded() {
        let ring = LogRing::new(2);
        ring.push("a\nINFO forged\r\x1b[2J");
        ring.push(&"é".repeat(MAX_LOG_LINE_BYTES));
        let lines = ring.lines();
        assert_eq!(lines[0], "a INFO forged  [2J");
        assert!(lines[1].len() <= MAX_LOG_LINE_BYTES, "{}", lines[1].len());
        assert!(lines[1].ends_with('…'));
    }

    #[test]
    fn the_layer_records_level_target_message_and_fields() {
        let ring = Arc::new(LogRing::new(10));
        let subscriber =
            tracing_subscriber::registry().with(LogRingLayer::feeding(Arc::clone(&ring)));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "agent", job_id = %"job-7", execution = 2, "running {}", "it");
            tracing::warn!(target: "mqtt", "connection lost");
            // As tracing-log bridges a `log` record from a dependency.
            tracing::info!(
                log.target = "rmqtt_net",
                log.file = "src/x.rs",
                log.line = 7,
                "listening"
            );
        });
        let lines = ring.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[2].ends_with(" INFO rmqtt_net: listening"),
            "{}",
            lines[2]
        );
        assert!(
            lines[0].ends_with(" INFO agent: running it job_id=job-7 execution=2"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].ends_with(" WARN mqtt: connection lost"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn a_scope_sees_the_agent_lines_and_its_own_but_no_other_plugin_or_job() {
        let ring = Arc::new(LogRing::new(20));
        let subscriber =
            tracing_subscriber::registry().with(LogRingLayer::feeding(Arc::clone(&ring)));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "mqtt", "connected");
            tracing::info!(target: "plugin", plugin = %"other", job_id = %"job-1", "secret of other");
            tracing::info!(target: "agent", job_id = %"job-1", "reporting job-1");
            tracing::info!(target: "plugin", plugin = %"mine", job_id = %"job-1", "mine in job-1");
            tracing::info!(target: "agent", job_id = %"job-2", plugin = "mine", "running");
            tracing::info!(target: "plugin", plugin = %"mine", job_id = %"job-2", "mine in job-2");
        });
        let seen = ring.lines_for(LogScope {
            plugin: "mine",
            job_id: "job-2",
        });
        let messages: Vec<&str> = seen
            .iter()
            .map(|l| l.split_once(": ").map_or("", |(_, m)| m))
            .collect();
        assert_eq!(
            messages,
            [
                "connected",
                "running job_id=job-2 plugin=mine",
                "mine in job-2 plugin=mine job_id=job-2"
            ]
        );
        assert_eq!(ring.lines().len(), 6, "the ring itself keeps every line");
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(utc_timestamp(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(utc_timestamp(leap), "2000-02-29T00:00:00.000Z");
    }
}
