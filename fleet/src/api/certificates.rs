//! `POST /certificates/{thing}/{jobId}/{executionNumber}?expires=&signature=`
//! (public: the signature is the credential): a device's CSR in, its new
//! certificate (PEM) out (`crate::certificates`).
//!
//! - no CA configured → 501, saying how to configure one;
//! - no, a forged or an expired signature → 403;
//! - a body that is not a CSR with a valid self-signature → 400;
//! - an execution that no longer exists → 404;
//! - an execution that is not IN_PROGRESS, or a URL that already had a
//!   certificate signed → 409 ConflictException (`Store::claim_csr`).

use super::extract::Path;
use super::{ApiError, ApiState};
use crate::certificates::{Csr, MAX_CSR_BYTES};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Signs the CSR in the body for the thing the URL names, once per
/// execution.
pub(super) async fn sign(
    State(state): State<ApiState>,
    Path((thing, job_id, execution)): Path<(String, String, u64)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(ca) = state.ca.clone() else {
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
    if !ca.verify(&thing, &job_id, execution, expires, &signature, now) {
        return Err(ApiError::Forbidden(
            "the URL's signature is not valid for this thing, job and execution".into(),
        ));
    }
    if body.len() > MAX_CSR_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "the CSR is larger than {MAX_CSR_BYTES} bytes"
        )));
    }
    let pem = std::str::from_utf8(&body)
        .map_err(|_| ApiError::InvalidRequest("the CSR is not PEM text".into()))?;
    // Parsed before the claim, so that a malformed request does not use
    // the URL up; claimed before signing, so that two requests racing on
    // one URL get one certificate between them.
    let csr = Csr::parse(pem).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let (t, j) = (thing.clone(), job_id.clone());
    state
        .with_store(move |store| store.claim_csr(&t, &j, execution, now))
        .await?;
    let issued =
        tokio::task::spawn_blocking(move || ca.issue(&thing, csr, now).map(|pem| (thing, pem)))
            .await
            .map_err(|e| ApiError::Internal(format!("the signing task failed: {e}")))?;
    match issued {
        Ok((thing, pem)) => {
            tracing::info!(target: "service", thing = %thing, job_id = %job_id, execution,
                "issued a device certificate");
            Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
        }
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}
