//! Streaming a request body into a stored file (an artifact, a device's
//! upload) without holding it in memory: the request side reads chunks
//! and enforces the size cap, a blocking task writes them through a
//! [`StagedWriter`], and the file becomes visible only once the whole body
//! arrived (or, with [`receive`], once the caller commits it). A body over
//! the cap, an interrupted body or a failed write leaves nothing behind.

use super::ApiError;
use crate::staged::{FileError, Receipt, Sealed, StagedWriter};
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::header;
use futures_util::StreamExt;
use std::fmt::Display;

/// How many body chunks may wait for the disk writer: enough to keep it
/// busy, few enough that a slow disk slows the client instead of filling
/// memory.
const PIPE_DEPTH: usize = 8;

/// What the request side hands the blocking writer.
enum Piece {
    Data(Bytes),
    /// The whole body arrived: seal the file.
    Commit,
}

/// Stores `request`'s body through the writer `create` opens, as
/// [`receive`] does. `claim` runs once the whole body is on disk, just
/// before the file becomes visible; its error is the answer and the file is
/// discarded (an upload URL that another PUT used meanwhile). Returns the
/// writer's completed receipt.
pub(super) async fn store<R, E>(
    request: Request,
    limit: u64,
    what: &'static str,
    create: impl FnOnce() -> Result<StagedWriter<R>, E> + Send + 'static,
    claim: impl FnOnce() -> Result<(), ApiError> + Send + 'static,
) -> Result<R, ApiError>
where
    R: Receipt + Send + 'static,
    E: From<FileError> + Display + Send + 'static,
{
    let sealed = receive(request, limit, what, create).await?;
    tokio::task::spawn_blocking(move || {
        claim()?;
        sealed
            .commit()
            .map_err(|e| ApiError::Internal(format!("cannot store the {what}: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the {what} writer failed: {e}")))?
}

/// Writes `request`'s body through the writer `create` opens, refusing
/// (413) a body over `limit` bytes, by its Content-Length before anything
/// is written or by counting as it streams. `what` names the file in
/// messages ("artifact", "upload"). Returns the file sealed, complete and
/// durable but not yet visible: the caller commits it, or drops it.
pub(super) async fn receive<R, E>(
    request: Request,
    limit: u64,
    what: &'static str,
    create: impl FnOnce() -> Result<StagedWriter<R>, E> + Send + 'static,
) -> Result<Sealed<R>, ApiError>
where
    R: Receipt + Send + 'static,
    E: From<FileError> + Display + Send + 'static,
{
    let too_large = || ApiError::TooLarge(format!("the {what} is larger than {limit} bytes"));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(PIPE_DEPTH);
    let failed = move |e: E| ApiError::Internal(format!("cannot store the {what}: {e}"));
    let writer = tokio::task::spawn_blocking(move || -> Result<Option<Sealed<R>>, ApiError> {
        let mut w = create().map_err(failed)?;
        while let Some(piece) = rx.blocking_recv() {
            match piece {
                Piece::Data(bytes) => w.write(&bytes).map_err(|e| failed(e.into()))?,
                Piece::Commit => return Ok(Some(w.seal().map_err(|e| failed(e.into()))?)),
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
        // A failed send means the writer stopped with an error, reported below.
        let _ = tx.send(Piece::Commit).await;
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ApiError::Internal(format!("the {what} writer failed: {e}")))?;
    outcome?;
    written?.ok_or_else(|| {
        ApiError::Internal(format!("the {what} writer stopped before the upload ended"))
    })
}
