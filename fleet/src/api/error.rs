//! API errors as AWS returns them: a JSON body `{"message": "..."}`, the
//! exception name in `x-amzn-ErrorType` (which the AWS SDKs read to pick
//! the error type), and the matching HTTP status.

use super::sigv4::SignatureError;
use crate::store::StoreError;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The response header carrying the AWS exception name, `x-amzn-ErrorType`
/// (header names are case-insensitive; HTTP/1 here sends them lower-case).
pub const ERROR_TYPE_HEADER: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 InvalidRequestException.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401 UnauthorizedException: a missing or wrong bearer token; the
    /// message says which.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 AccessDeniedException: a download without a valid signature.
    #[error("{0}")]
    Forbidden(String),
    /// 403 with the exception AWS names for the failure: a SigV4 request
    /// that is not signed as it must be.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// 400 with an exception the operation's model allows: an AWS IoT
    /// operation that jobhost-fleet does not implement.
    #[error("jobhost-fleet does not implement the AWS IoT operation {operation} ({method} {uri})")]
    NotImplemented {
        /// The operation's name in the AWS model (`CreateBillingGroup`).
        operation: &'static str,
        /// Its HTTP method.
        method: &'static str,
        /// Its request URI, with the model's labels.
        uri: &'static str,
        /// The 400 exception to answer with.
        exception: &'static str,
    },
    /// 404 ResourceNotFoundException.
    #[error("{0}")]
    NotFound(String),
    /// 405 MethodNotAllowedException.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409 ResourceAlreadyExistsException.
    #[error("{0}")]
    AlreadyExists(String),
    /// 409 ConflictException: the current state forbids the change (a
    /// presigned URL used already).
    #[error("{0}")]
    Conflict(String),
    /// 409 InvalidStateTransitionException: a job's or execution's status
    /// forbids the change (DeleteJob, CancelJobExecution,
    /// DeleteJobExecution).
    #[error("{0}")]
    InvalidStateTransition(String),
    /// 409 VersionConflictException: a stale `expectedVersion`
    /// (CancelJobExecution; a thing's or thing group's update or delete).
    #[error("{0}")]
    VersionConflict(String),
    /// 410 LimitExceededException: a count limit of AWS's (dynamic groups,
    /// a job's targets). AWS's status for it is 410.
    #[error("{0}")]
    LimitExceeded(String),
    /// 400 InvalidQueryException: a dynamic group's query string.
    #[error("{0}")]
    InvalidQuery(String),
    /// 413 LimitExceededException: an upload over the size cap.
    #[error("{0}")]
    TooLarge(String),
    /// 500 InternalFailureException.
    #[error("{0}")]
    Internal(String),
    /// 503 ServiceUnavailableException: a bounded resource (upload slots)
    /// is in use; `Retry-After` says when to try again.
    #[error("{0}")]
    Busy(String),
}

/// The `Retry-After` a [`ApiError::Busy`] answer carries, in seconds:
/// about how long a small upload takes to finish and free its slot.
const BUSY_RETRY_AFTER_SECS: &str = "5";

impl ApiError {
    /// The HTTP status and AWS exception name.
    pub fn kind(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "InvalidRequestException"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "UnauthorizedException"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "AccessDeniedException"),
            Self::Signature(e) => (StatusCode::FORBIDDEN, e.exception()),
            Self::NotImplemented { exception, .. } => (StatusCode::BAD_REQUEST, exception),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            Self::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowedException")
            }
            Self::AlreadyExists(_) => (StatusCode::CONFLICT, "ResourceAlreadyExistsException"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "ConflictException"),
            Self::InvalidStateTransition(_) => {
                (StatusCode::CONFLICT, "InvalidStateTransitionException")
            }
            Self::VersionConflict(_) => (StatusCode::CONFLICT, "VersionConflictException"),
            Self::LimitExceeded(_) => (StatusCode::GONE, "LimitExceededException"),
            Self::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "InvalidQueryException"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "LimitExceededException"),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailureException",
            ),
            Self::Busy(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
            ),
        }
    }
}

/// The store's errors carry their own wording ("not found: job x"); the
/// HTTP status already says which kind it is, so only the detail is kept.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Self::NotFound(format!("not found: {m}")),
            StoreError::AlreadyExists(m) => Self::AlreadyExists(format!("already exists: {m}")),
            StoreError::InvalidRequest(m) => Self::InvalidRequest(m),
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::InvalidStateTransition(m) => Self::InvalidStateTransition(m),
            StoreError::VersionConflict(m) => Self::VersionConflict(m),
            StoreError::LimitExceeded(m) => Self::LimitExceeded(m),
            StoreError::InvalidQuery(m) => Self::InvalidQuery(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, name) = self.kind();
        if matches!(self, Self::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
        let body = serde_json::json!({ "message": self.to_string() });
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(ERROR_TYPE_HEADER, HeaderValue::from_static(name));
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Busy(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(BUSY_RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}
