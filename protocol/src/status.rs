//! Job execution status values, spelled as AWS spells them on the wire.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every status a job execution can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobExecutionStatus {
    /// Waiting for the device to start it.
    Queued,
    /// The device has started it.
    InProgress,
    /// The device reported success.
    Succeeded,
    /// The device reported a failure that a retry could fix.
    Failed,
    /// The device refused it: it can never succeed as written.
    Rejected,
    /// No terminal status arrived within the job's timeout.
    TimedOut,
    /// The operator removed the thing from the job.
    Removed,
    /// The operator cancelled the job or this execution.
    Canceled,
}

impl JobExecutionStatus {
    /// Whether no further update is accepted for the execution.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::InProgress)
    }

    /// The wire spelling, e.g. `IN_PROGRESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Rejected => "REJECTED",
            Self::TimedOut => "TIMED_OUT",
            Self::Removed => "REMOVED",
            Self::Canceled => "CANCELED",
        }
    }
}

impl fmt::Display for JobExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The terminal statuses a *device* may report. TIMED_OUT, REMOVED and
/// CANCELED are set by the service only, so the agent's types cannot express
/// reporting them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TerminalStatus {
    /// The operation did what the document asked.
    Succeeded,
    /// It did not, but running it again could.
    Failed,
    /// It did not and never can, as written.
    Rejected,
}

impl From<TerminalStatus> for JobExecutionStatus {
    fn from(s: TerminalStatus) -> Self {
        match s {
            TerminalStatus::Succeeded => Self::Succeeded,
            TerminalStatus::Failed => Self::Failed,
            TerminalStatus::Rejected => Self::Rejected,
        }
    }
}

impl fmt::Display for TerminalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        JobExecutionStatus::from(*self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_matches_aws() {
        let json = serde_json::to_string(&JobExecutionStatus::InProgress).unwrap_or_default();
        assert_eq!(json, "\"IN_PROGRESS\"");
        let back: JobExecutionStatus = serde_json::from_str("\"TIMED_OUT\"").expect("parses");
        assert_eq!(back, JobExecutionStatus::TimedOut);
        assert_eq!(TerminalStatus::Rejected.to_string(), "REJECTED");
    }

    #[test]
    fn only_queued_and_in_progress_are_open() {
        use JobExecutionStatus::*;
        for s in [Succeeded, Failed, Rejected, TimedOut, Removed, Canceled] {
            assert!(s.is_terminal(), "{s}");
        }
        assert!(!Queued.is_terminal());
        assert!(!InProgress.is_terminal());
    }
}
