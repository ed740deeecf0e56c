//! The host's own operations, `install-plugin` and `remove-plugin`, and
//! jobs-agent.js's `shutdown`. The first two are not plugins because they
//! decide which code runs: the trust root cannot be replaceable code.
//! `shutdown` is not one because what it does happens after the job is
//! over: it reports SUCCEEDED, and only once the service accepted that does
//! the agent run `[device] shutdown_command` (`agent::shutdown`) — a
//! device that is off reports nothing, and a job cancelled meanwhile must
//! not power a device off. Their documents:
//!
//! ```json
//! {"operation": "install-plugin", "url": "https://…/echo.wasm", "sha256": "<64 hex>"}
//! {"operation": "remove-plugin", "name": "echo"}
//! {"operation": "shutdown", "delay": 5}
//! ```
//!
//! `delay` is minutes to wait first (jobs-agent.js's `shutdown +<delay>`),
//! a number or a string of digits, at most a day; the wait counts toward
//! the time limit below.
//!
//! `url` may be a `${aws:iot:s3-presigned-url:…}` placeholder: the jobs
//! service resolves it before delivery. Both report the installed inventory
//! in statusDetails (`plugin:<name>` = `<version> sha256:<digest> key:<id>`).
//!
//! They run under `[limits] timeout_secs`, as a plugin does: a download
//! host that trickles a byte now and then (each byte resets the download's
//! stall timer) would otherwise hold the device's only job slot for ever.
//! Past it the install ends FAILED "timed out after N s"; a cancelled job
//! stops it the same way (a compile in progress finishes first).

use super::{Plugins, Refusal};
use crate::executor::{CancelToken, Conclusion, Report};
use crate::runtime::Runtime;
use jobhost_protocol::{StatusDetails, TerminalStatus};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// `operation` of the built-in install.
pub const INSTALL: &str = "install-plugin";
/// `operation` of the built-in removal.
pub const REMOVE: &str = "remove-plugin";
/// `operation` of the built-in shutdown.
pub const SHUTDOWN: &str = "shutdown";

/// The longest `delay` of a `shutdown`, in minutes: a day.
const MAX_DELAY_MINUTES: u64 = 24 * 60;

/// A validated built-in job.
#[derive(Debug, Clone)]
pub enum Builtin {
    /// Download, verify and install a plugin.
    Install(InstallRequest),
    /// Remove an installed plugin.
    Remove {
        /// Its manifest name.
        name: String,
    },
    /// Wait, then report SUCCEEDED and shut the device down.
    Shutdown {
        /// How long to wait first.
        delay: Duration,
    },
}

/// What `install-plugin` downloads.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// Where the signed plugin file is (http or https).
    pub url: reqwest::Url,
    /// Its sha256, lowercase hex: the download must match it exactly.
    pub sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallDocument {
    #[allow(dead_code)]
    operation: String,
    url: String,
    sha256: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShutdownDocument {
    #[allow(dead_code)]
    operation: String,
    delay: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveDocument {
    #[allow(dead_code)]
    operation: String,
    name: String,
}

impl Builtin {
    /// `None` when `operation` is not built in; otherwise the request, or
    /// why the document is not acceptable (the job's REJECTED reason).
    pub fn parse(operation: &str, document: &serde_json::Value) -> Option<Result<Self, String>> {
        match operation {
            INSTALL => Some(parse_install(document)),
            REMOVE => Some(
                serde_json::from_value::<RemoveDocument>(document.clone())
                    .map_err(|e| format!("invalid {REMOVE} document: {e}; expected {{\"operation\": \"{REMOVE}\", \"name\": \"<plugin>\"}}"))
                    .map(|d| Builtin::Remove { name: d.name }),
            ),
            SHUTDOWN => Some(parse_shutdown(document)),
            _ => None,
        }
    }

    /// Runs it to a conclusion within `timeout` (on a blocking thread: it
    /// downloads and compiles). A refusal that retrying cannot fix is
    /// REJECTED, one that it might (network, disk, the timeout) is FAILED.
    pub fn run(
        &self,
        plugins: &Plugins,
        runtime: &Runtime,
        cancel: &CancelToken,
        timeout: Duration,
    ) -> Conclusion {
        let deadline = Instant::now() + timeout;
        let timed_out = || Instant::now() >= deadline;
        let stop = || cancel.is_cancelled() || timed_out();
        let mut details = StatusDetails::new();
        if let Builtin::Shutdown { delay } = self {
            return shutdown(*delay, &stop, cancel, timeout);
        }
        let result = match self {
            Builtin::Install(request) => plugins.install(runtime, request, &stop).map(|r| {
                let m = &r.installed.manifest;
                details.insert("plugin", &m.name);
                details.insert("version", &m.version.to_string());
                details.insert("sha256", &r.installed.digest);
                details.insert("keyId", &r.installed.key_id.to_string());
                details.insert("operations", &m.operations.join(","));
                if let Some(previous) = &r.replaced {
                    details.insert("previousVersion", &previous.to_string());
                }
                let result = if r.unchanged { "already installed" } else { "installed" };
                details.insert("result", result);
                tracing::info!(target: "agent", plugin = %m.name, version = %m.version, key_id = %r.installed.key_id, "{result}");
            }),
            Builtin::Remove { name } => plugins.remove(name).map(|removed| {
                details.insert("plugin", name);
                details.insert("version", &removed.manifest.version.to_string());
                details.insert("result", "removed");
                tracing::info!(target: "agent", plugin = %name, "removed");
            }),
            Builtin::Shutdown { .. } => Ok(()),
        };
        plugins.add_inventory(&mut details);
        match result {
            Ok(()) => Conclusion::Report(Report {
                status: TerminalStatus::Succeeded,
                status_details: details,
            }),
            Err(Refusal::Cancelled) if cancel.is_cancelled() => Conclusion::Cancelled,
            Err(Refusal::Cancelled) => {
                let reason = format!("timed out after {} s", timeout.as_secs());
                tracing::warn!(target: "agent", "{}: {reason}", self.operation());
                Conclusion::Report(Report::failure(TerminalStatus::Failed, &reason, details))
            }
            Err(refusal) => {
                let status = if refusal.is_retryable() {
                    TerminalStatus::Failed
                } else {
                    TerminalStatus::Rejected
                };
                tracing::warn!(target: "agent", "{}: {refusal}", self.operation());
                Conclusion::Report(Report::failure(status, &refusal.to_string(), details))
            }
        }
    }

    /// The document's operation.
    pub fn operation(&self) -> &'static str {
        match self {
            Builtin::Install(_) => INSTALL,
            Builtin::Remove { .. } => REMOVE,
            Builtin::Shutdown { .. } => SHUTDOWN,
        }
    }
}

/// Waits `delay` (a second at a time, so that a cancel or the time limit
/// ends the wait promptly), then concludes with the shutdown.
fn shutdown(
    delay: Duration,
    stop: &dyn Fn() -> bool,
    cancel: &CancelToken,
    timeout: Duration,
) -> Conclusion {
    let start = Instant::now();
    while start.elapsed() < delay {
        if stop() {
            if cancel.is_cancelled() {
                return Conclusion::Cancelled;
            }
            let reason = format!(
                "timed out after {} s waiting the shutdown's delay of {} minutes",
                timeout.as_secs(),
                delay.as_secs() / 60
            );
            return Conclusion::Report(Report::failure(
                TerminalStatus::Failed,
                &reason,
                StatusDetails::new(),
            ));
        }
        std::thread::sleep((delay - start.elapsed()).min(Duration::from_secs(1)));
    }
    // jobs-agent.js's statusDetails for it; the agent shuts the device
    // down once this SUCCEEDED is accepted (`agent::shutdown`).
    let mut status_details = StatusDetails::new();
    status_details.insert("operation", SHUTDOWN);
    status_details.insert("step", "initiated");
    Conclusion::Report(Report {
        status: TerminalStatus::Succeeded,
        status_details,
    })
}

fn parse_shutdown(document: &serde_json::Value) -> Result<Builtin, String> {
    let d: ShutdownDocument = serde_json::from_value(document.clone()).map_err(|e| {
        format!(
            "invalid {SHUTDOWN} document: {e}; expected {{\"operation\": \"{SHUTDOWN}\", \
             \"delay\": <minutes, optional>}}"
        )
    })?;
    let minutes = match &d.delay {
        None => Some(0),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s))
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse().ok()
        }
        Some(_) => None,
    };
    match minutes.filter(|m| *m <= MAX_DELAY_MINUTES) {
        Some(m) => Ok(Builtin::Shutdown {
            delay: Duration::from_secs(m * 60),
        }),
        None => Err(format!(
            "`delay` must be a whole number of minutes from 0 to {MAX_DELAY_MINUTES}"
        )),
    }
}

fn parse_install(document: &serde_json::Value) -> Result<Builtin, String> {
    let d: InstallDocument = serde_json::from_value(document.clone()).map_err(|e| {
        format!(
            "invalid {INSTALL} document: {e}; expected {{\"operation\": \"{INSTALL}\", \
             \"url\": \"https://…\", \"sha256\": \"<64 hex>\"}}"
        )
    })?;
    let url = reqwest::Url::parse(&d.url).map_err(|e| format!("invalid url: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "url scheme `{}` is not http or https",
            url.scheme()
        ));
    }
    if d.sha256.len() != 64 || !d.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("sha256 {:?} is not 64 hex digits", d.sha256));
    }
    Ok(Builtin::Install(InstallRequest {
        url,
        sha256: d.sha256.to_ascii_lowercase(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_validated_with_precise_reasons() {
        let sha = "ab".repeat(32);
        let ok = Builtin::parse(
            INSTALL,
            &json!({"operation": INSTALL, "url": "https://h/p.wasm", "sha256": sha}),
        );
        assert!(matches!(ok, Some(Ok(Builtin::Install(_)))));
        assert!(Builtin::parse("echo", &json!({"operation": "echo"})).is_none());
        for (doc, expect) in [
            (
                json!({"operation": INSTALL, "sha256": sha}),
                "missing field `url`",
            ),
            (
                json!({"operation": INSTALL, "url": "https://h/p", "sha256": "12"}),
                "not 64 hex",
            ),
            (
                json!({"operation": INSTALL, "url": "file:///etc/passwd", "sha256": sha}),
                "scheme `file`",
            ),
            (
                json!({"operation": INSTALL, "url": "https://h/p", "sha256": sha, "force": true}),
                "unknown field `force`",
            ),
            (json!({"operation": REMOVE}), "missing field `name`"),
            (
                json!({"operation": SHUTDOWN, "delay": "soon"}),
                "`delay` must be a whole number",
            ),
            (
                json!({"operation": SHUTDOWN, "delay": 1441}),
                "from 0 to 1440",
            ),
            (
                json!({"operation": SHUTDOWN, "now": true}),
                "unknown field `now`",
            ),
        ] {
            let op = doc["operation"].as_str().unwrap().to_owned();
            let err = Builtin::parse(&op, &doc).unwrap().unwrap_err();
            assert!(err.contains(expect), "{err} lacks {expect}");
        }
    }

    #[test]
    fn a_shutdown_waits_its_delay_in_minutes() {
        let delay = |doc: serde_json::Value| match Builtin::parse(SHUTDOWN, &doc) {
            Some(Ok(Builtin::Shutdown { delay })) => delay,
            other => panic!("{doc}: {other:?}"),
        };
        assert_eq!(delay(json!({"operation": SHUTDOWN})), Duration::ZERO);
        assert_eq!(
            delay(json!({"operation": SHUTDOWN, "delay": 2})),
            Duration::from_secs(120)
        );
        assert_eq!(
            delay(json!({"operation": SHUTDOWN, "delay": "15"})),
            Duration::from_secs(900)
        );
        // No delay: it concludes at once, with jobs-agent.js's details.
        let stop = || false;
        match shutdown(
            Duration::ZERO,
            &stop,
            &CancelToken::new(),
            Duration::from_secs(1),
        ) {
            Conclusion::Report(r) => {
                assert_eq!(r.status, TerminalStatus::Succeeded);
                assert_eq!(r.status_details.get("operation"), Some("shutdown"));
                assert_eq!(r.status_details.get("step"), Some("initiated"));
            }
            other => panic!("{other:?}"),
        }
        // A cancel or the time limit ends the wait.
        let cancel = CancelToken::new();
        cancel.cancel();
        let stop = || true;
        let hour = Duration::from_secs(3600);
        assert_eq!(shutdown(hour, &stop, &cancel, hour), Conclusion::Cancelled);
        match shutdown(hour, &stop, &CancelToken::new(), Duration::from_secs(7)) {
            Conclusion::Report(r) => assert!(
                r.reason()
                    .is_some_and(|r| r.starts_with("timed out after 7 s")),
                "{r:?}"
            ),
            other => panic!("{other:?}"),
        }
    }
}
