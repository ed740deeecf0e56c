//! Artifact routes: `PUT /artifacts/{name}` (management: stores the raw
//! body) and `GET`/`HEAD /artifacts/{name}?expires=&signature=` (public:
//! the signature is the credential).

use super::extract::Path;
use super::{ApiError, ApiState};
use crate::artifacts::{self, ArtifactError, ArtifactInfo};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use futures_util::StreamExt;
use std::time::SystemTime;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// How many body chunks may wait for the disk writer: enough to keep it
/// busy, few enough that a slow disk slows the client instead of filling
/// memory.
const PIPE_DEPTH: usize = 8;

/// What the request side hands the blocking writer.
enum Piece {
    Data(Bytes),
    /// The whole body arrived: make the artifact visible.
    Commit,
}

/// `PUT /artifacts/{name}`: streams the body to disk (never whole in
/// memory), up to [`ApiState::max_artifact_bytes`], and returns its
/// [`ArtifactInfo`]. The artifact appears only once complete.
pub(super) async fn upload(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ArtifactInfo>, ApiError> {
    artifacts::check_name(&name).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let limit = state.max_artifact_bytes;
    let too_large = || ApiError::TooLarge(format!("the artifact is larger than {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(PIPE_DEPTH);
    let store = std::sync::Arc::clone(&state.artifacts);
    let file_name = name.clone();
    let writer =
        tokio::task::spawn_blocking(move || -> Result<Option<ArtifactInfo>, ArtifactError> {
            let mut w = store.create(&file_name)?;
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
    let mut stream = body.into_data_stream();
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
        // A failed send means the writer stopped with an error, reported below.
        let _ = tx.send(Piece::Commit).await;
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ApiError::Internal(format!("the artifact writer failed: {e}")))?;
    outcome?;
    match written {
        Ok(Some(info)) => {
            tracing::info!(name = %info.name, size = info.size, "artifact stored");
            Ok(Json(info))
        }
        Ok(None) => Err(ApiError::Internal(
            "the artifact writer stopped before the upload ended".into(),
        )),
        Err(e) => Err(ApiError::Internal(format!(
            "cannot store the artifact: {e}"
        ))),
    }
}

/// `GET`/`HEAD /artifacts/{name}?expires=&signature=`: the bytes, with
/// Range and conditional requests handled by [`ServeFile`] (and If-Range by
/// `if_range`, which ServeFile lacks) so that devices can resume
/// interrupted downloads safely. Anything but a valid, unexpired signature
/// is 403.
pub(super) async fn download(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (expires, signature) = signed_query(request.uri().query().unwrap_or(""));
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Err(ApiError::Forbidden(
            "artifact downloads need a presigned URL (expires and signature)".into(),
        ));
    };
    let now = state.now();
    let Ok(expires) = expires.parse::<i64>() else {
        return Err(ApiError::Forbidden(
            "the URL's expiry is not a number".into(),
        ));
    };
    if now > expires {
        return Err(ApiError::Forbidden(format!(
            "this URL expired at {expires} (now {now}); fetch the job document again for a fresh one"
        )));
    }
    if !state.artifacts.verify(&name, expires, &signature, now) {
        return Err(ApiError::Forbidden(
            "the URL's signature is not valid".into(),
        ));
    }
    let Some(path) = state.artifacts.path_of(&name) else {
        return Err(ApiError::Forbidden(
            "the URL's signature is not valid".into(),
        ));
    };
    let modified = tokio::fs::metadata(&path)
        .await
        .and_then(|m| m.modified())
        .ok();
    let mut request = request;
    super::if_range::apply(request.headers_mut(), modified, SystemTime::now());
    let response = ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot read artifact {name}: {e}")))?;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(ApiError::NotFound(format!("no artifact named {name}")));
    }
    Ok(response.map(Body::new))
}

/// `expires` and `signature` from a query string (percent-decoding is not
/// needed: we only ever produce digits and hex).
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
