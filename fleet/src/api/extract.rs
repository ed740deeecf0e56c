//! Request extraction that fails with [`ApiError`]s, so that a bad query
//! string or body gets the same JSON error shape as everything else
//! (axum's own rejections are plain text), and strict JSON bodies: a key
//! that is not implemented is refused by name, never dropped.

use super::{unsupported, ApiError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

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

/// `?force=` on CancelJob and CancelJobExecution.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForceQuery {
    #[serde(default)]
    pub force: bool,
}

/// `?force=&namespaceId=` on DeleteJob and DeleteJobExecution.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DeleteQuery {
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub namespace_id: Option<String>,
}

/// The body members of one operation's input in AWS's model (botocore
/// `iot` 2015-05-28): what [`strict_body`] accepts as keys.
pub(super) struct Shape {
    /// The AWS operation, for messages (`CreateJob`).
    pub operation: &'static str,
    /// Every body member of its input shape, implemented or not.
    pub fields: &'static [&'static str],
}

/// Parses a required JSON object body strictly: a key that is not a member
/// of the operation's AWS input shape is refused as such, a member this
/// service does not implement is refused with why ([`unsupported`]), and
/// only then is the rest parsed into `T` (which denies unknown fields too,
/// nested ones included). Every offending key is named in the one 400.
/// Content-Type is not checked: curl users forget it, and a JSON parse
/// error says more than a 415 would.
pub(super) fn strict_body<T: DeserializeOwned>(body: &[u8], shape: &Shape) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidRequest(format!(
            "{}: the request needs a JSON body",
            shape.operation
        )));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::InvalidRequest(format!(
            "{}: the request body is not valid JSON: {e}",
            shape.operation
        ))
    })?;
    let Value::Object(map) = value else {
        return Err(ApiError::InvalidRequest(format!(
            "{}: the request body must be a JSON object",
            shape.operation
        )));
    };
    let refused: Vec<String> = map
        .keys()
        .filter_map(|key| {
            if !shape.fields.contains(&key.as_str()) {
                Some(format!(
                    "{}: `{key}` is not a field of its request (AWS's fields are {})",
                    shape.operation,
                    shape.fields.join(", ")
                ))
            } else {
                unsupported::reason(shape.operation, key)
                    .map(|why| unsupported::message(shape.operation, key, why))
            }
        })
        .collect();
    if !refused.is_empty() {
        return Err(ApiError::InvalidRequest(refused.join("; ")));
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| {
        ApiError::InvalidRequest(format!(
            "{}: the request body is not valid: {e}",
            shape.operation
        ))
    })
}

/// [`strict_body`] for an optional body: empty means every field absent,
/// as AWS allows for CancelJob and CancelJobExecution.
pub(super) fn optional_strict_body<T: DeserializeOwned + Default>(
    body: &[u8],
    shape: &Shape,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        strict_body(body, shape)
    }
}
