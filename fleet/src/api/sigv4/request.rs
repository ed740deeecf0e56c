//! SigV4 on an HTTP request: the checks that need only the headers first,
//! then the body, whose hash the signature covers.
//!
//! A body up to [`MAX_BUFFERED_BODY`] is read whole, hashed and handed on
//! from memory. A larger one (an artifact upload) must declare its hash in
//! `X-Amz-Content-Sha256`: the signature is checked against that before
//! the body is read, and the body is handed on as a stream that hashes as
//! it goes and ends in an error, instead of its end, if the hash differs,
//! so that the handler storing it discards what it wrote
//! (`api::body::store`).

use super::{AwsCredentials, Claim, RequestParts, SignatureError, SERVICE};
use crate::api::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::request::Parts;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The largest body read whole to hash it: axum's default body limit, which
/// bounds every buffered (JSON) body anyway; only streamed uploads are
/// larger, and they declare their hash.
pub const MAX_BUFFERED_BODY: usize = 2 * 1024 * 1024;

/// The SigV4 header that declares the body's hash.
const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Checks `request`'s SigV4 signature with `credentials` at `now` (seconds
/// since the epoch) and returns the request, its body as received, for the
/// handler.
pub(in crate::api) async fn authenticate(
    credentials: &AwsCredentials,
    request: Request,
    now: i64,
) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let authorization = match (values.next(), values.next()) {
        (Some(v), None) => v
            .to_str()
            .map_err(|_| SignatureError::Malformed("it is not text".into()))?,
        (None, _) => return Err(SignatureError::Missing.into()),
        (Some(_), Some(_)) => {
            return Err(SignatureError::Malformed("it appears more than once".into()).into())
        }
    };
    let claim = Claim::check(
        authorization,
        &request_parts(&parts),
        credentials,
        SERVICE,
        now,
    )?;
    let declared = declared_hash(&parts)?;
    if let Some((text, _)) = &declared {
        // botocore puts the header's text, as sent, in the canonical request.
        claim.verify(&request_parts(&parts), credentials, text)?;
    }
    let declared = declared.map(|(_, hash)| hash);
    let content_length = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none() && content_length.is_some_and(|n| n > MAX_BUFFERED_BODY as u64) {
        return Err(too_large());
    }
    match read_up_to(body, MAX_BUFFERED_BODY).await? {
        Read::Whole(bytes) => {
            let actual: [u8; 32] = Sha256::digest(&bytes).into();
            match declared {
                Some(declared) => check_body(&actual, &declared)?,
                None => claim.verify(&request_parts(&parts), credentials, &hex::encode(actual))?,
            }
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        Read::Partial { head, rest } => {
            let Some(declared) = declared else {
                return Err(too_large());
            };
            let stream = futures_util::stream::iter(head.into_iter().map(Ok)).chain(rest);
            let checked = CheckedBody {
                inner: Box::pin(stream),
                hasher: Some(Sha256::new()),
                declared,
            };
            Ok(Request::from_parts(parts, Body::from_stream(checked)))
        }
    }
}

fn request_parts(parts: &Parts) -> RequestParts<'_> {
    RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
    }
}

fn too_large() -> ApiError {
    ApiError::TooLarge(format!(
        "a SigV4-signed body over {MAX_BUFFERED_BODY} bytes must declare its SHA-256 in \
         X-Amz-Content-Sha256 (it is then checked as it streams)"
    ))
}

/// `X-Amz-Content-Sha256` as sent and as bytes, when there is one.
fn declared_hash(parts: &Parts) -> Result<Option<(String, [u8; 32])>, SignatureError> {
    let Some(value) = parts.headers.get(CONTENT_SHA256) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| SignatureError::UnsignedPayload)?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|_| SignatureError::UnsignedPayload)?;
    Ok(Some((text.to_owned(), hash)))
}

fn check_body(actual: &[u8; 32], declared: &[u8; 32]) -> Result<(), SignatureError> {
    if actual == declared {
        Ok(())
    } else {
        Err(SignatureError::BodyMismatch {
            actual: hex::encode(actual),
            declared: hex::encode(declared),
        })
    }
}

type DataStream = Pin<Box<dyn Stream<Item = Result<Bytes, axum::Error>> + Send>>;

enum Read {
    /// The whole body, at most the limit.
    Whole(Bytes),
    /// More than the limit: what was read, and the rest unread.
    Partial { head: Vec<Bytes>, rest: DataStream },
}

async fn read_up_to(body: Body, limit: usize) -> Result<Read, ApiError> {
    let mut stream: DataStream = Box::pin(body.into_data_stream());
    let mut head = Vec::new();
    let mut size = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::InvalidRequest(format!("the request body could not be read: {e}"))
        })?;
        size += chunk.len();
        head.push(chunk);
        if size > limit {
            return Ok(Read::Partial { head, rest: stream });
        }
    }
    let mut whole = Vec::with_capacity(size);
    for chunk in head {
        whole.extend_from_slice(&chunk);
    }
    Ok(Read::Whole(Bytes::from(whole)))
}

/// A body that hashes what passes through and, at its end, yields an error
/// instead of ending if the hash is not the declared one.
struct CheckedBody {
    inner: DataStream,
    /// `None` once the end (or an error) was passed on.
    hasher: Option<Sha256>,
    declared: [u8; 32],
}

impl Stream for CheckedBody {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.hasher.is_none() {
            return Poll::Ready(None);
        }
        Poll::Ready(match std::task::ready!(this.inner.as_mut().poll_next(cx)) {
            Some(Ok(chunk)) => {
                if let Some(hasher) = this.hasher.as_mut() {
                    hasher.update(&chunk);
                }
                Some(Ok(chunk))
            }
            Some(Err(e)) => {
                this.hasher = None;
                Some(Err(BodyError::Read(e)))
            }
            None => {
                let actual: [u8; 32] = this
                    .hasher
                    .take()
                    .map(|h| h.finalize().into())
                    .unwrap_or_default();
                check_body(&actual, &this.declared)
                    .err()
                    .map(|e| Err(BodyError::Signature(e)))
            }
        })
    }
}

/// Why a streamed signed body failed.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("{0}")]
    Read(axum::Error),
    #[error("{0}")]
    Signature(SignatureError),
}
