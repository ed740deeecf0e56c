//! Request extraction that fails with [`ApiError`]s, so that a bad query
//! string or body gets the same JSON error shape as everything else
//! (axum's own rejections are plain text).

use super::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `axum::extract::Query` with a JSON 400 on failure.
pub(super) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| ApiError::InvalidRequest(e.body_text()))
    }
}

/// `axum::extract::Path` with a JSON 400 on failure.
pub(super) struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| ApiError::InvalidRequest(e.body_text()))
    }
}

/// `?force=true|false`, on CancelJob, DeleteJob and CancelJobExecution.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Force {
    #[serde(default)]
    pub force: bool,
}

/// Parses a required JSON body. Content-Type is not checked: curl users
/// forget it, and a JSON parse error says more than a 415 would.
pub(super) fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidRequest(
            "the request needs a JSON body".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidRequest(format!("the request body is not valid: {e}")))
}

/// Parses an optional JSON body: empty means every field absent, as AWS
/// allows for CancelJob and CancelJobExecution.
pub(super) fn optional_json_body<T: DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        json_body(body)
    }
}
