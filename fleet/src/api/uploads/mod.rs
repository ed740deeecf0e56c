//! Upload routes (`crate::uploads`):
//!
//! - `PUT /uploads/{thing}/{jobId}/{name}?expires=&signature=` (public: the
//!   signature is the credential): a device stores a file, streamed to disk
//!   up to the size cap (413 past it); anything but a valid, unexpired
//!   signature for exactly that thing, job and name is 403; a URL that
//!   already stored its file is 409; past the concurrent-upload limit 503
//!   with `Retry-After`.
//! - `GET /uploads?thingName=&jobId=` (management): what was uploaded.
//! - `GET /uploads/{thing}/{jobId}/{name}` (management): the bytes.

use super::extract::{Path, Query};
use super::{ApiError, ApiState};
use crate::store::StoreError;
use crate::uploads::{check_target, UploadError, UploadInfo, Uploads};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, PoisonError};
use tower::ServiceExt;
use tower_http::services::ServeFile;

fn uploads(state: &ApiState) -> Result<Arc<Uploads>, ApiError> {
    state
        .uploads
        .clone()
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
    let now = state.now();
    let query = request.uri().query().unwrap_or("");
    let (expires, signature) = super::presigned::unexpired(query, "uploads", now)?;
    if !uploads.verify(&thing, &job_id, &name, expires, &signature, now) {
        return Err(ApiError::Forbidden(
            "the URL's signature is not valid for this thing, job and name".into(),
        ));
    }
    // Cheap refusal of a used URL before any byte is staged; the claim at
    // the end decides between PUTs that race on one URL.
    let (t, j, n) = (thing.clone(), job_id.clone(), name.clone());
    if state
        .with_store(move |s| s.upload_claimed(&t, &j, &n, expires))
        .await?
    {
        return Err(ApiError::from(StoreError::Conflict(format!(
            "this URL has already been used: {thing} uploaded {name} for job {job_id} with it; \
             an upload URL accepts one PUT"
        ))));
    }
    let Some(_slot) = uploads.try_slot() else {
        return Err(ApiError::Busy(format!(
            "{} uploads are being stored already; try again shortly",
            uploads.max_concurrent()
        )));
    };
    let limit = uploads.max_bytes();
    let store = Arc::clone(&state.store);
    let (t, j, n) = (thing.clone(), job_id.clone(), name.clone());
    let claim = move || {
        store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claim_upload(&t, &j, &n, expires, now)
            .map_err(ApiError::from)
    };
    let writer = Arc::clone(&uploads);
    let info = super::body::store(
        request,
        limit,
        "upload",
        move || writer.create(&thing, &job_id, &name),
        claim,
    )
    .await?;
    tracing::info!(thing = %info.thing_name, job_id = %info.job_id, name = %info.name,
        size = info.size, "upload stored");
    Ok((StatusCode::CREATED, Json(info)))
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
    let signed = super::presigned::signed_query(request.uri().query().unwrap_or(""))
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

#[cfg(test)]
mod tests;
