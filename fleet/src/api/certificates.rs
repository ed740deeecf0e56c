//! `POST /certificates/{thing}/{jobId}?expires=&signature=` (public: the
//! signature is the credential): a device's CSR in, its new certificate
//! (PEM) out (`crate::certificates`).
//!
//! - no CA configured → 501, saying how to configure one;
//! - no, a forged or an expired signature → 403;
//! - a body that is not a CSR with a valid self-signature → 400.

use super::extract::Path;
use super::{ApiError, ApiState};
use crate::certificates::MAX_CSR_BYTES;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Signs the CSR in the body for the thing the URL names.
pub(super) async fn sign(
    State(state): State<ApiState>,
    Path((thing, job_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(ca) = state.artifacts.certificates().cloned() else {
        return Ok((
            StatusCode::NOT_IMPLEMENTED,
            axum::Json(serde_json::json!({
                "message": "this server does not sign certificates: start it with --ca-cert and --ca-key"
            })),
        )
            .into_response());
    };
    let now = state.now();
    let query = query.as_deref().unwrap_or("");
    let (expires, signature) = super::presigned::unexpired(query, "certificate requests", now)?;
    if !ca.verify(&thing, &job_id, expires, &signature, now) {
        return Err(ApiError::Forbidden(
            "the URL's signature is not valid for this thing and job".into(),
        ));
    }
    if body.len() > MAX_CSR_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "the CSR is larger than {MAX_CSR_BYTES} bytes"
        )));
    }
    let csr = std::str::from_utf8(&body)
        .map_err(|_| ApiError::InvalidRequest("the CSR is not PEM text".into()))?
        .to_owned();
    let issued =
        tokio::task::spawn_blocking(move || ca.issue(&thing, &csr, now).map(|pem| (thing, pem)))
            .await
            .map_err(|e| ApiError::Internal(format!("the signing task failed: {e}")))?;
    match issued {
        Ok((thing, pem)) => {
            tracing::info!(target: "service", thing = %thing, job_id = %job_id, "issued a device certificate");
            Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
        }
        Err(e @ crate::certificates::CsrError::Malformed(_)) => {
            Err(ApiError::InvalidRequest(e.to_string()))
        }
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}
