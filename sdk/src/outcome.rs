//! What [`crate::Operation::run`] returns.

use crate::bindings::jobhost::plugin::types as wit;
use crate::HostError;
use std::fmt;

/// A successful run: the execution becomes SUCCEEDED with these details.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    details: Vec<(String, String)>,
}

impl Outcome {
    /// Success with no statusDetails.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one statusDetails entry. The host sanitises keys and values to
    /// the AWS limits (see the WIT contract), so any text is safe here.
    pub fn detail(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.details.push((key.into(), value.to_string()));
        self
    }

    /// The statusDetails entries, in insertion order.
    pub fn details(&self) -> &[(String, String)] {
        &self.details
    }
}

impl From<Outcome> for wit::Outcome {
    fn from(o: Outcome) -> Self {
        wit::Outcome {
            status_details: o.details,
        }
    }
}

/// An unsuccessful run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    reason: String,
    details: Vec<(String, String)>,
    retryable: bool,
}

impl Failure {
    /// A failure that running the job again could fix (network down, device
    /// busy): reported as FAILED.
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            details: Vec::new(),
            retryable: true,
        }
    }

    /// A failure no retry can fix (invalid document, unsupported device):
    /// reported as REJECTED.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            details: Vec::new(),
            retryable: false,
        }
    }

    /// Adds one statusDetails entry to report with the failure.
    pub fn detail(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.details.push((key.into(), value.to_string()));
        self
    }

    /// The one-line reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether the execution will be FAILED (`true`) or REJECTED (`false`).
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.retryable {
            "retryable"
        } else {
            "permanent"
        };
        write!(f, "{kind} failure: {}", self.reason)
    }
}

/// A refused host call is retryable unless it is a refusal that will not
/// change on retry (missing capability, bad argument); `?` on a host call
/// therefore maps to the right status without ceremony.
impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        let reason = crate::host::describe(&e);
        match e {
            HostError::NotPermitted(_) | HostError::InvalidArgument(_) => Self::permanent(reason),
            HostError::LimitExceeded(_) | HostError::Cancelled | HostError::Failed(_) => {
                Self::retryable(reason)
            }
        }
    }
}

impl From<Failure> for wit::Failure {
    fn from(f: Failure) -> Self {
        wit::Failure {
            reason: f.reason,
            status_details: f.details,
            retryable: f.retryable,
        }
    }
}
