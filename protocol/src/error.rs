//! The `/rejected` payload and its codes (`ErrorResponse` in
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-api.html>).

use crate::execution::{JobExecutionState, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why the service rejected a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The topic is in the jobs namespace but maps to no API.
    InvalidTopic,
    /// The payload is not UTF-8 JSON.
    InvalidJson,
    /// The request is invalid (bad statusDetails, missing status, ...).
    InvalidRequest,
    /// The current state forbids the change; `executionState` tells it.
    InvalidStateTransition,
    /// No such job execution.
    ResourceNotFound,
    /// `expectedVersion` did not match; `executionState` tells the current.
    VersionMismatch,
    /// A service-side error: retry with backoff.
    InternalError,
    /// Throttled: retry with backoff.
    RequestThrottled,
    /// Describe of an execution already terminal.
    TerminalStateReached,
    /// A code this version does not know. Treated as transient, like the
    /// Greengrass nucleus does, so that nothing is dropped on a guess.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Whether resending the same request later can succeed: only
    /// InternalError and RequestThrottled describe a condition that passes
    /// (the AWS IoT Device Client retries these two as well), plus codes we
    /// do not know.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::InternalError | Self::RequestThrottled | Self::Unknown
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The body of every `/rejected` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// What went wrong.
    pub code: ErrorCode,
    /// Human-readable detail.
    #[serde(default)]
    pub message: String,
    /// The request's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub timestamp: Timestamp,
    /// Only for InvalidStateTransition and VersionMismatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_state: Option<JobExecutionState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_parse_and_are_transient() {
        let e: ErrorResponse =
            serde_json::from_str(r#"{"code":"SomethingNew","message":"m","timestamp":1}"#).unwrap();
        assert_eq!(e.code, ErrorCode::Unknown);
        assert!(e.code.is_transient());
    }

    /// A resend can only help with InternalError and RequestThrottled
    /// (and a code we do not know, see above); every other code is final,
    /// and resending it would only repeat the rejection.
    #[test]
    fn only_internal_errors_throttling_and_unknown_codes_are_transient() {
        use ErrorCode as C;
        for code in [
            C::InvalidTopic,
            C::InvalidJson,
            C::InvalidRequest,
            C::InvalidStateTransition,
            C::ResourceNotFound,
            C::VersionMismatch,
            C::InternalError,
            C::RequestThrottled,
            C::TerminalStateReached,
            C::Unknown,
        ] {
            // Exhaustive: a new code must be classified here too.
            let transient = match code {
                C::InternalError | C::RequestThrottled | C::Unknown => true,
                C::InvalidTopic
                | C::InvalidJson
                | C::InvalidRequest
                | C::InvalidStateTransition
                | C::ResourceNotFound
                | C::VersionMismatch
                | C::TerminalStateReached => false,
            };
            assert_eq!(code.is_transient(), transient, "{code}");
        }
    }

    #[test]
    fn version_mismatch_carries_the_state() {
        let e: ErrorResponse = serde_json::from_str(
            r#"{"code":"VersionMismatch","message":"…","clientToken":"c","timestamp":1489096425,
                "executionState":{"status":"IN_PROGRESS","statusDetails":{"a":"b"},"versionNumber":4}}"#,
        )
        .unwrap();
        assert_eq!(e.execution_state.unwrap().version_number, 4);
        assert_eq!(
            serde_json::to_string(&ErrorCode::InvalidStateTransition).unwrap(),
            r#""InvalidStateTransition""#
        );
    }
}
