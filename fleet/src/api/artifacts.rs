//! Artifact routes: `PUT /artifacts/{name}` (management: stores the raw
//! body) and `GET`/`HEAD /artifacts/{name}?expires=&signature=` (public:
//! the signature is the credential).

use super::extract::Path;
use super::{ApiError, ApiState};
use crate::artifacts::{self, ArtifactInfo};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use std::time::SystemTime;
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// `PUT /artifacts/{name}`: streams the body to disk (never whole in
/// memory), up to [`ApiState::max_artifact_bytes`], and returns its
/// [`ArtifactInfo`]. The artifact appears only once complete.
pub(super) async fn upload(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Json<ArtifactInfo>, ApiError> {
    artifacts::check_name(&name).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let store = std::sync::Arc::clone(&state.artifacts);
    let info = super::body::store(
        request,
        state.max_artifact_bytes,
        "artifact",
        move || store.create(&name),
        // An operator may replace an artifact any number of times.
        || Ok(()),
    )
    .await?;
    tracing::info!(name = %info.name, size = info.size, "artifact stored");
    Ok(Json(info))
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
