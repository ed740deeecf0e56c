//! The host's own operations, `install-plugin` and `remove-plugin`. They
//! are not plugins because they decide which code runs: the trust root
//! cannot be replaceable code. Their documents:
//!
//! ```json
//! {"operation": "install-plugin", "url": "https://…/echo.wasm", "sha256": "<64 hex>"}
//! {"operation": "remove-plugin", "name": "echo"}
//! ```
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
        }
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
        ] {
            let op = doc["operation"].as_str().unwrap().to_owned();
            let err = Builtin::parse(&op, &doc).unwrap().unwrap_err();
            assert!(err.contains(expect), "{err} lacks {expect}");
        }
    }
}
