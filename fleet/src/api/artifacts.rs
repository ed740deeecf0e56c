//! Artifact routes: `PUT /artifacts/{name}` (management: stores the raw
//! body, and the operator's signature of it from [`CODESIGN_HEADER`]),
//! `GET /artifacts` and `GET /artifacts/{name}/info` (management: list and
//! describe), and `GET`/`HEAD /artifacts/{name}?expires=&signature=`
//! (public: the signature is the credential).

use super::extract::Path;
use super::{ApiError, ApiState};
use crate::artifacts::{self, ArtifactError, ArtifactInfo, ArtifactSummary, CODESIGN_HEADER};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use jobhost_protocol::codesign::Codesign;
use serde::Serialize;
use std::sync::Arc;
use std::time::SystemTime;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// `PUT /artifacts/{name}`: streams the body to disk (never whole in
/// memory), up to [`ApiState::max_artifact_bytes`], and returns its
/// [`ArtifactInfo`]. The artifact appears only once complete, with the
/// signature in [`CODESIGN_HEADER`] when there is one: a signature that is
/// not for the uploaded bytes is 400, and nothing is replaced.
pub(super) async fn upload(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Json<ArtifactInfo>, ApiError> {
    artifacts::check_name(&name).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let codesign = codesign_header(request.headers())?;
    let store = Arc::clone(&state.artifacts);
    let sealed = super::body::receive(request, state.max_artifact_bytes, "artifact", move || {
        store.create(&name)
    })
    .await?;
    let store = Arc::clone(&state.artifacts);
    let info = blocking(move || store.commit(sealed, codesign.as_ref())).await?;
    let key_id = info
        .codesign
        .as_ref()
        .and_then(|c| c.get("keyId"))
        .and_then(|k| k.as_str())
        .unwrap_or("-");
    tracing::info!(name = %info.name, size = info.size, signed_by = key_id, "artifact stored");
    Ok(Json(info))
}

/// `GET /artifacts`: every artifact, its size and signer.
pub(super) async fn list(State(state): State<ApiState>) -> Result<Json<Listing>, ApiError> {
    let store = Arc::clone(&state.artifacts);
    let artifacts = blocking(move || store.list()).await?;
    Ok(Json(Listing { artifacts }))
}

/// `GET /artifacts`'s body.
#[derive(Debug, Serialize)]
pub(super) struct Listing {
    artifacts: Vec<ArtifactSummary>,
}

/// `GET /artifacts/{name}/info`: what an upload of it returned, the sha256
/// read from the file now.
pub(super) async fn describe(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<ArtifactInfo>, ApiError> {
    let store = Arc::clone(&state.artifacts);
    Ok(Json(blocking(move || store.describe(&name)).await?))
}

/// The signature an upload carries, if it carries one.
fn codesign_header(headers: &HeaderMap) -> Result<Option<Codesign>, ApiError> {
    use base64::Engine as _;
    let Some(value) = headers.get(CODESIGN_HEADER) else {
        return Ok(None);
    };
    let bad = |why: String| ApiError::InvalidRequest(format!("{CODESIGN_HEADER}: {why}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|e| bad(format!("not base64 (of the .sig file's JSON): {e}")))?;
    Codesign::from_slice(&bytes)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

/// Runs an artifact store call off the async workers (it syncs files).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ArtifactError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("the artifact task failed: {e}")))?
        .map_err(artifact_error)
}

/// An artifact store's refusal as the API's: the caller's mistakes are
/// 400 (404 for a name that is not there), the disk's are 500.
pub(in crate::api) fn artifact_error(e: ArtifactError) -> ApiError {
    match e {
        ArtifactError::InvalidName(_)
        | ArtifactError::SignatureMismatch { .. }
        | ArtifactError::Unsigned(_)
        | ArtifactError::BadStoredSignature { .. } => ApiError::InvalidRequest(e.to_string()),
        ArtifactError::NotFound(_) => ApiError::NotFound(e.to_string()),
        other => ApiError::Internal(other.to_string()),
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
    let now = state.now();
    let query = request.uri().query().unwrap_or("");
    let (expires, signature) = super::presigned::unexpired(query, "artifact downloads", now)?;
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
