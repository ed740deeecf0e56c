//! Upload routes (`crate::uploads`):
//!
//! - `PUT /uploads/{thing}/{jobId}/{name}?expires=&signature=` (public: the
//!   signature is the credential): a device stores a file, streamed to disk
//!   up to the size cap (413 past it); anything but a valid, unexpired
//!   signature for exactly that thing, job and name is 403.
//! - `GET /uploads?thingName=&jobId=` (management): what was uploaded.
//! - `GET /uploads/{thing}/{jobId}/{name}` (management): the bytes.

use super::extract::{Path, Query};
use super::{ApiError, ApiState};
use crate::uploads::{check_target, UploadError, UploadInfo, Uploads};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// How many body chunks may wait for the disk writer (as for artifacts):
/// a slow disk slows the device instead of filling memory.
const PIPE_DEPTH: usize = 8;

/// What the request side hands the blocking writer.
enum Piece {
    Data(Bytes),
    /// The whole body arrived: make the upload visible.
    Commit,
}

fn uploads(state: &ApiState) -> Result<Arc<Uploads>, ApiError> {
    state
        .artifacts
        .uploads()
        .cloned()
        .ok_or_else(|| ApiError::NotFound("uploads are not enabled on this server".into()))
}

/// `PUT /uploads/{thing}/{jobId}/{name}?expires=&signature=`: the device's
/// upload, answered with its [`UploadInfo`] (size and sha256 included).
pub(super) async fn put(
    State(state): State<ApiState>,
    Path((thing, job_id, name)): Path<(String, String, String)>,
    request: Request,
) -> Result<(StatusCode, Json<UploadInfo>), ApiError> {
    let uploads = uploads(&state)?;
    let (expires, signature) = signed_query(request.uri().query().unwrap_or(""));
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Err(ApiError::Forbidden(
            "uploads need a presigned URL (expires and signature)".into(),
        ));
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return Err(ApiError::Forbidden(
            "the URL's expiry is not a number".into(),
        ));
    };
    let now = state.now();
    if now > expires {
        return Err(ApiError::Forbidden(format!(
            "this URL expired at {expires} (now {now}); fetch the job document again for a fresh one"
        )));
    }
    if !uploads.verify(&thing, &job_id, &name, expires, &signature, now) {
        return Err(ApiError::Forbidden(
            "the URL's signature is not valid for this thing, job and name".into(),
        ));
    }
    let limit = uploads.max_bytes();
    let too_large = || ApiError::TooLarge(format!("the upload is larger than {limit} bytes"));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(PIPE_DEPTH);
    let target = (thing.clone(), job_id.clone(), name.clone());
    let store = Arc::clone(&uploads);
    let writer = tokio::task::spawn_blocking(move || -> Result<Option<UploadInfo>, UploadError> {
        let mut w = store.create(&target.0, &target.1, &target.2)?;
        while let Some(piece) = rx.blocking_recv() {
            match piece {
                Piece::Data(bytes) => w.write(&bytes)?,
                Piece::Commit => return w.finish().map(Some),
            }
        }
        // The request side gave up: dropping `w` removes the partial file.
        Ok(None)
    });

    let mut received = 0u64;
    let mut stream = request.into_body().into_data_stream();
    let mut outcome = Ok(());
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                outcome = Err(ApiError::InvalidRequest(format!(
                    "the upload was interrupted: {e}"
                )));
                break;
            }
        };
        received += chunk.len() as u64;
        if received > limit {
            outcome = Err(too_large());
            break;
        }
        if tx.send(Piece::Data(chunk)).await.is_err() {
            // The writer failed; its error is reported below.
            break;
        }
    }
    if outcome.is_ok() {
        let _ = tx.send(Piece::Commit).await;
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ApiError::Internal(format!("the upload writer failed: {e}")))?;
    outcome?;
    match written {
        Ok(Some(info)) => {
            tracing::info!(thing = %info.thing_name, job_id = %info.job_id, name = %info.name,
                size = info.size, "upload stored");
            Ok((StatusCode::CREATED, Json(info)))
        }
        Ok(None) => Err(ApiError::Internal(
            "the upload writer stopped before the upload ended".into(),
        )),
        Err(e) => Err(ApiError::Internal(format!("cannot store the upload: {e}"))),
    }
}

/// `?thingName=&jobId=` on `GET /uploads`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Filter {
    thing_name: Option<String>,
    job_id: Option<String>,
}

/// `GET /uploads?thingName=&jobId=`: `{"uploads": [UploadInfo…]}`, sorted
/// by thing, job and name.
pub(super) async fn list(
    State(state): State<ApiState>,
    Query(filter): Query<Filter>,
) -> Result<Json<Value>, ApiError> {
    let uploads = uploads(&state)?;
    if let Some(thing) = &filter.thing_name {
        if !jobhost_protocol::topics::is_valid_thing_name(thing) {
            return Err(ApiError::InvalidRequest(
                UploadError::InvalidThing(thing.clone()).to_string(),
            ));
        }
    }
    if let Some(job) = &filter.job_id {
        if !jobhost_protocol::topics::is_valid_job_id(job) {
            return Err(ApiError::InvalidRequest(
                UploadError::InvalidJob(job.clone()).to_string(),
            ));
        }
    }
    let list = tokio::task::spawn_blocking(move || {
        uploads.list(filter.thing_name.as_deref(), filter.job_id.as_deref())
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the listing task failed: {e}")))?
    .map_err(|e| ApiError::Internal(format!("cannot list uploads: {e}")))?;
    Ok(Json(json!({ "uploads": list })))
}

/// Middleware on the management routes, outside the token check: a
/// request to an upload path that carries a signature is a presigned
/// upload URL used with another method than its PUT. A signature is never
/// a download credential, so this is 403 whether or not a token is set.
pub(super) async fn refuse_presigned(request: Request, next: Next) -> Response {
    let signed = signed_query(request.uri().query().unwrap_or(""))
        .1
        .is_some();
    if signed && request.uri().path().starts_with("/uploads/") {
        return ApiError::Forbidden(format!(
            "presigned upload URLs accept PUT only, not {}; operators fetch uploads through the management API",
            request.method()
        ))
        .into_response();
    }
    next.run(request).await
}

/// `GET /uploads/{thing}/{jobId}/{name}`: the stored bytes, with Range
/// support ([`ServeFile`]).
pub(super) async fn get(
    State(state): State<ApiState>,
    Path((thing, job_id, name)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let uploads = uploads(&state)?;
    check_target(&thing, &job_id, &name).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let missing = || ApiError::NotFound(format!("no upload {name} from {thing} for job {job_id}"));
    let path = uploads
        .path_of(&thing, &job_id, &name)
        .ok_or_else(missing)?;
    let response = ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot read upload {name}: {e}")))?;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(missing());
    }
    Ok(response.map(Body::new))
}

/// `expires` and `signature` from a query string (we only ever produce
/// digits and hex, so there is nothing to percent-decode).
fn signed_query(query: &str) -> (Option<String>, Option<String>) {
    let (mut expires, mut signature) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("expires", v)) => expires = Some(v.to_owned()),
            Some(("signature", v)) => signature = Some(v.to_owned()),
            _ => {}
        }
    }
    (expires, signature)
}

#[cfg(test)]
#[path = "uploads_tests.rs"]
mod tests;
