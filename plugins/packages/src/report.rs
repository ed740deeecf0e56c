//! What a job reports, in the shape jobs-agent.js (the AWS IoT Device SDK
//! for JavaScript's example agent) reports it, so that dashboards built on
//! that agent keep working: every status carries `operation` (the
//! jobs-agent operation name), progress carries `step` (and `fileName`),
//! success carries `state`, and a failure carries `errorCode` and
//! `errorMessage` (cut to 64 characters, as that agent cuts it) beside the
//! agent's own `reason` with the whole text.

use jobhost_sdk::{host, Failure, Outcome};

/// The longest `errorMessage`: jobs-agent.js cuts every error string it
/// puts in statusDetails to 64 characters (`maxStatusDetailLength`),
/// ending a cut one with `...`.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 64;

/// The error codes, as jobs-agent.js names them.
pub mod codes {
    /// The document has no `packageName`.
    pub const UNNAMED_PACKAGE: &str = "ERR_UNNAMED_PACKAGE";
    /// `packageName` is not a valid name, or names no installed package.
    pub const INVALID_PACKAGE_NAME: &str = "ERR_INVALID_PACKAGE_NAME";
    /// `files` is missing or invalid, or a backup could not be made.
    pub const FILE_COPY_FAILED: &str = "ERR_FILE_COPY_FAILED";
    /// A file could not be downloaded.
    pub const DOWNLOAD_FAILED: &str = "ERR_DOWNLOAD_FAILED";
    /// A downloaded file does not match its checksum.
    pub const CHECKSUM_FAILED: &str = "ERR_CHECKSUM_FAILED";
    /// The checksum names an algorithm (or a form) this plugin cannot check.
    pub const UNSUPPORTED_CHECKSUM_ALGORITHM: &str = "ERR_UNSUPPORTED_CHECKSUM_ALGORITHM";
    /// The new version did not stay running through its startup check.
    pub const UNEXPECTED_PACKAGE_EXIT: &str = "ERR_UNEXPECTED_PACKAGE_EXIT";
    /// `start` (or the start half of `restart`) failed.
    pub const UNABLE_TO_START_PACKAGE: &str = "ERR_UNABLE_TO_START_PACKAGE";
    /// `stop` (or the stop half of `restart` or of an install) failed.
    pub const UNABLE_TO_STOP_PACKAGE: &str = "ERR_UNABLE_TO_STOP_PACKAGE";
    /// The host refused to run systemd-run or systemctl (not granted).
    pub const SYSTEM_CALL_FAILED: &str = "ERR_SYSTEM_CALL_FAILED";
    /// Anything else: a document that does not follow the native
    /// contract, an unreadable record, an unknown operation.
    pub const UNEXPECTED: &str = "ERR_UNEXPECTED";

    /// Every code, for reading one back from a checkpoint.
    pub const ALL: &[&str] = &[
        UNNAMED_PACKAGE,
        INVALID_PACKAGE_NAME,
        FILE_COPY_FAILED,
        DOWNLOAD_FAILED,
        CHECKSUM_FAILED,
        UNSUPPORTED_CHECKSUM_ALGORITHM,
        UNEXPECTED_PACKAGE_EXIT,
        UNABLE_TO_START_PACKAGE,
        UNABLE_TO_STOP_PACKAGE,
        SYSTEM_CALL_FAILED,
        UNEXPECTED,
    ];

    /// The code called `name`; [`UNEXPECTED`] for any other name.
    pub fn named(name: &str) -> &'static str {
        ALL.iter()
            .copied()
            .find(|c| *c == name)
            .unwrap_or(UNEXPECTED)
    }
}

/// The operations, with the names jobs-agent.js gives them (what
/// `operation` says in every status this plugin reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `install-package` (jobs-agent `install`).
    Install,
    /// `start-package` (`start`).
    Start,
    /// `stop-package` (`stop`).
    Stop,
    /// `restart-package` (`restart`).
    Restart,
    /// `package-status` (`systemStatus`).
    Status,
}

impl Op {
    /// The operation of a native document.
    pub fn from_operation(operation: &str) -> Option<Op> {
        Some(match operation {
            "install-package" => Op::Install,
            "start-package" => Op::Start,
            "stop-package" => Op::Stop,
            "restart-package" => Op::Restart,
            "package-status" => Op::Status,
            _ => return None,
        })
    }

    /// The jobs-agent.js name, reported as `operation`.
    pub fn label(self) -> &'static str {
        match self {
            Op::Install => "install",
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Restart => "restart",
            Op::Status => "systemStatus",
        }
    }

    /// Reports an IN_PROGRESS `step`, with the file it concerns if any.
    /// Best-effort: a dropped update must not fail the job.
    pub fn progress(self, step: &str, file_name: Option<&str>) {
        let mut details = vec![("operation", self.label()), ("step", step)];
        if let Some(file_name) = file_name {
            details.push(("fileName", file_name));
        }
        let _ = host::progress(&details);
    }

    /// A success with `state` (`package installed and started`, …).
    pub fn done(self, state: &str) -> Outcome {
        Outcome::new()
            .detail("operation", self.label())
            .detail("state", state)
    }
}

/// A failure to report: its code, its jobs-agent style message, the whole
/// reason, and whether a retry could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// `errorCode`.
    pub code: &'static str,
    /// `errorMessage`, before it is cut to [`MAX_ERROR_MESSAGE_CHARS`].
    pub message: String,
    /// The whole reason (`reason`); the message when not set otherwise.
    pub reason: String,
    /// FAILED (`true`) or REJECTED (`false`: the document can never
    /// succeed).
    pub retryable: bool,
    /// More statusDetails (`fileName`, `rollbackError`, …).
    pub details: Vec<(String, String)>,
}

impl JobError {
    /// A failure no retry can fix (REJECTED).
    pub fn rejected(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, message.into(), false)
    }

    /// A failure a retry could fix (FAILED).
    pub fn failed(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, message.into(), true)
    }

    fn new(code: &'static str, message: String, retryable: bool) -> Self {
        Self {
            code,
            reason: message.clone(),
            message,
            retryable,
            details: Vec::new(),
        }
    }

    /// Sets the whole reason, when it says more than the message.
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Adds one statusDetails entry.
    pub fn detail(mut self, key: &str, value: impl ToString) -> Self {
        self.details.push((key.to_owned(), value.to_string()));
        self
    }

    /// The failure `run` returns for operation `op`.
    pub fn into_failure(self, op: Op) -> Failure {
        self.into_failure_of(op.label())
    }

    /// The failure of an operation reported as `operation` (one that is
    /// not this plugin's is reported under its own name).
    pub fn into_failure_of(self, operation: &str) -> Failure {
        let failure = if self.retryable {
            Failure::retryable(self.reason)
        } else {
            Failure::permanent(self.reason)
        };
        let failure = failure
            .detail("operation", operation)
            .detail("errorCode", self.code)
            .detail("errorMessage", short(&self.message));
        self.details
            .into_iter()
            .fold(failure, |failure, (key, value)| failure.detail(key, value))
    }
}

/// `text` as jobs-agent.js's `errorToString` puts it in statusDetails: at
/// most [`MAX_ERROR_MESSAGE_CHARS`] characters, a cut one ending in `...`.
pub fn short(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR_MESSAGE_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(MAX_ERROR_MESSAGE_CHARS - 3).collect();
    cut.push_str("...");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_to_64_characters_as_jobs_agent_cuts_them() {
        assert_eq!(short("Checksum mismatch"), "Checksum mismatch");
        let exact = "x".repeat(64);
        assert_eq!(short(&exact), exact);
        let long = "é".repeat(70);
        let cut = short(&long);
        assert_eq!(cut.chars().count(), 64);
        assert!(cut.ends_with("é..."));
    }

    #[test]
    fn a_failure_carries_code_short_message_and_whole_reason() {
        let long = format!("systemd-run exited with code 1: {}", "y".repeat(100));
        let failure = JobError::failed(codes::UNABLE_TO_START_PACKAGE, long.clone())
            .detail("fileName", "app.js")
            .into_failure(Op::Restart);
        assert!(failure.is_retryable());
        assert_eq!(failure.reason(), long);
        let rejected = JobError::rejected(
            codes::INVALID_PACKAGE_NAME,
            "no package installed called: x",
        )
        .because("no package installed called: x (install it first)")
        .into_failure(Op::Start);
        assert!(!rejected.is_retryable());
        assert_eq!(
            rejected.reason(),
            "no package installed called: x (install it first)"
        );
    }

    #[test]
    fn operations_carry_the_jobs_agent_names() {
        for (native, label) in [
            ("install-package", "install"),
            ("start-package", "start"),
            ("stop-package", "stop"),
            ("restart-package", "restart"),
            ("package-status", "systemStatus"),
        ] {
            assert_eq!(Op::from_operation(native).map(Op::label), Some(label));
        }
        assert_eq!(Op::from_operation("install"), None);
    }
}
