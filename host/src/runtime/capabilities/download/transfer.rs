//! One download made robust: resumed after an interruption, retried with
//! backoff, and given a fresh URL when a presigned one expired.
//!
//! While a download is under way the destination's directory holds:
//! - `.<name>.part`: the bytes received so far;
//! - `.<name>.part.json`: where they came from (the URL without its query —
//!   presigned credentials and expiry live there and change at every
//!   delivery), the validator the server sent (a strong `ETag`, else
//!   `Last-Modified`) and the expected sha256.
//!
//! The next attempt — the next retry, or the next run after a power cut or
//! a `kill -9` — with the same source and sha256 asks only for the rest:
//! `Range: bytes=<len>-` with `If-Range: <validator>`, so a file that
//! changed on the server comes back whole (200) instead of being spliced
//! (RFC 9110 §13.1.5). Without a validator there is nothing to make a
//! splice safe, and the download starts over. Only a complete file whose
//! size and sha256 match (and that its codesign is for, [`Target::check`])
//! is renamed into place; a file that does not match is removed.
//!
//! What is retried: connection failures, a body that breaks off or stalls,
//! 408, 429 and 5xx, at most [`MAX_ATTEMPTS`] times with doubling, jittered
//! delays. Any other 4xx is final: asking again will not change the answer.
//! 401 and 403 are how an expired presigned URL fails; the caller may then
//! supply a fresh URL ([`Hooks::refresh`]), at most [`MAX_REFRESHES`] times.

use crate::runtime::bindings::download::Response;
use crate::runtime::bindings::types::HostError;
use crate::runtime::capabilities::http::{client, redact, without_url};
use cap_std::fs::{Dir, OpenOptions};
use futures_util::StreamExt;
use reqwest::header::{CONTENT_RANGE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Attempts per download (the first one included).
pub(super) const MAX_ATTEMPTS: u32 = 5;

/// Fresh URLs asked for per download.
pub(super) const MAX_REFRESHES: u32 = 2;

/// The delay before the first retry; it doubles up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// How long a wait may go before checking cancellation and the deadline.
const POLL: Duration = Duration::from_millis(100);

/// A response or body that stalls this long fails the attempt.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes hashed per read when resuming.
const CHUNK: usize = 64 << 10;

/// What the download needs from whoever asked for it.
pub(super) trait Hooks: Send {
    /// Cancelled or past the deadline: stop now.
    fn stopped(&self) -> bool;
    /// `done` bytes of `total` are on disk.
    fn progress(&mut self, done: u64, total: Option<u64>);
    /// The server refused `url` (401/403, how presigned URLs expire): a
    /// fresh URL for the same file, if there is one.
    fn refresh(&mut self, url: &Url) -> Option<Url>;
    /// A line for the log, tagged with the job.
    fn note(&self, message: &str);
}

/// Where the body goes and what it must be.
pub(super) struct Target<'a> {
    /// The directory the destination is resolved in (capability-safe).
    pub dir: &'a Dir,
    /// The destination, relative to `dir`.
    pub relative: &'a Path,
    /// Refuse bodies larger than this.
    pub max_bytes: Option<u64>,
    /// Expected sha256, 64 lowercase hex characters.
    pub expected: Option<&'a str>,
    /// Whether the whole body (its size and sha256, counted while it
    /// streamed) may go into place: the artifact signature's check, asked
    /// before the sha256 comparison so that its reason, which says more,
    /// is the one given.
    pub check: Option<&'a BodyCheck<'a>>,
}

/// A check of a whole body by its size and sha256 ([`Target::check`]).
pub(super) type BodyCheck<'a> = dyn Fn(u64, &[u8; 32]) -> Result<(), HostError> + Sync + 'a;

/// How an attempt failed, which decides what happens next.
enum Failed {
    /// Worth another attempt (network, 5xx, 408, 429).
    Retry(HostError),
    /// 401/403: worth a fresh URL, not the same one again.
    Refused(HostError),
    /// Over: the error goes back to the plugin.
    Final(HostError),
}

/// Downloads `url` into `target`, resuming, retrying and refreshing as the
/// module docs say.
pub(super) async fn download(
    url: Url,
    target: &Target<'_>,
    hooks: &mut dyn Hooks,
) -> Result<Response, HostError> {
    let files = PartFiles::new(target.relative);
    let mut url = url;
    let mut attempt = 1;
    let mut refreshes = 0;
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        match attempt_once(&url, target, &files, hooks).await {
            Ok(response) => return Ok(response),
            Err(Failed::Final(error)) => return Err(error),
            Err(Failed::Refused(error)) => {
                if refreshes < MAX_REFRESHES {
                    if let Some(fresh) = hooks.refresh(&url).filter(|fresh| *fresh != url) {
                        hooks.note(&format!(
                            "{} refused ({}); retrying with a fresh URL from the job document",
                            redact(&url),
                            message(&error)
                        ));
                        url = fresh;
                        refreshes += 1;
                        continue;
                    }
                }
                return Err(error);
            }
            Err(Failed::Retry(error)) => {
                if attempt >= MAX_ATTEMPTS {
                    return Err(HostError::Failed(format!(
                        "{} (gave up after {attempt} attempts)",
                        message(&error)
                    )));
                }
                let wait = jittered(delay);
                hooks.note(&format!(
                    "download attempt {attempt} of {MAX_ATTEMPTS} from {} failed: {}; retrying in {:.1} s",
                    redact(&url),
                    message(&error),
                    wait.as_secs_f64()
                ));
                pause(wait, hooks).await?;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
                attempt += 1;
            }
        }
    }
}

/// Removes what an earlier attempt left for `relative` (the part file and
/// its record): a download refused before it started must not leave one
/// behind either.
pub(super) fn discard_partial(dir: &Dir, relative: &Path) {
    PartFiles::new(relative).discard(dir);
}

/// The text of a host error, without its variant name.
pub(super) fn message(error: &HostError) -> String {
    match error {
        HostError::NotPermitted(m)
        | HostError::InvalidArgument(m)
        | HostError::LimitExceeded(m)
        | HostError::Failed(m) => m.clone(),
        HostError::Cancelled => "cancelled".into(),
    }
}

/// ±25 %, so that a fleet knocked offline together does not come back in
/// lockstep.
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(0.75 + fastrand::f64() * 0.5)
}

/// Waits `wait`, or less if the job stops meanwhile.
async fn pause(wait: Duration, hooks: &mut dyn Hooks) -> Result<(), HostError> {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if hooks.stopped() {
            return Err(HostError::Cancelled);
        }
        tokio::time::sleep(POLL.min(until.saturating_duration_since(Instant::now()))).await;
    }
    Ok(())
}

async fn attempt_once(
    url: &Url,
    target: &Target<'_>,
    files: &PartFiles,
    hooks: &mut dyn Hooks,
) -> Result<Response, Failed> {
    let dir = target.dir;
    let source = redact(url);
    let resume = files.resumable(dir, &source, target.expected);
    let mut request = client().get(url.clone());
    if let Some((len, validator)) = &resume {
        request = request
            .header(RANGE, format!("bytes={len}-"))
            .header(IF_RANGE, validator.as_str());
    }
    let response = send(request, hooks).await?;
    let status = response.status();
    let offset = match (status, &resume) {
        (StatusCode::OK, _) => 0,
        (StatusCode::PARTIAL_CONTENT, Some((len, _))) if range_start(&response) == Some(*len) => {
            *len
        }
        (StatusCode::PARTIAL_CONTENT, _) | (StatusCode::RANGE_NOT_SATISFIABLE, _) => {
            files.discard(dir);
            return Err(Failed::Retry(HostError::Failed(format!(
                "the server could not resume the download (HTTP {status}); starting over"
            ))));
        }
        (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
            return Err(Failed::Refused(HostError::Failed(format!("HTTP {status}"))))
        }
        (StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS, _) => {
            return Err(Failed::Retry(HostError::Failed(format!("HTTP {status}"))))
        }
        (s, _) if s.is_server_error() => {
            return Err(Failed::Retry(HostError::Failed(format!("HTTP {status}"))))
        }
        (s, _) if s.is_client_error() => {
            return Err(Failed::Final(HostError::Failed(format!(
                "HTTP {status} (not retried: the server refuses this request)"
            ))))
        }
        _ => {
            return Err(Failed::Final(HostError::Failed(format!(
                "HTTP {status} (redirects are not followed)"
            ))))
        }
    };
    if offset > 0 {
        hooks.note(&format!("resuming {} at byte {offset}", redact(url)));
    }
    let total = if offset > 0 {
        range_total(&response)
    } else {
        response.content_length()
    };
    if let (Some(total), Some(max)) = (total, target.max_bytes) {
        if total > max {
            files.discard(dir);
            return Err(Failed::Final(HostError::LimitExceeded(format!(
                "the body is {total} bytes, over the {max}-byte limit"
            ))));
        }
    }
    let validator = validator_of(&response);
    let (mut file, mut hasher) = files
        .open(dir, target.relative, offset)
        .map_err(Failed::Final)?;
    // Written before the body, so that an interruption at any point leaves
    // a part the next attempt can resume.
    files.write_meta(
        dir,
        validator.map(|validator| Meta {
            source,
            validator,
            sha256: target.expected.map(str::to_owned),
        }),
    );
    let mut written = offset;
    hooks.progress(written, total);
    let mut body = response.bytes_stream();
    let mut last_data = Instant::now();
    loop {
        if hooks.stopped() {
            files.discard(dir);
            return Err(Failed::Final(HostError::Cancelled));
        }
        let chunk = match tokio::time::timeout(POLL, body.next()).await {
            Err(_) if last_data.elapsed() >= STALL_TIMEOUT => {
                return Err(Failed::Retry(HostError::Failed(format!(
                    "no data for {} s",
                    STALL_TIMEOUT.as_secs()
                ))))
            }
            Err(_) => continue,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(Failed::Retry(HostError::Failed(format!(
                    "body interrupted after {written} bytes: {}",
                    without_url(&e)
                ))))
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        last_data = Instant::now();
        written += chunk.len() as u64;
        if let Some(max) = target.max_bytes.filter(|max| written > *max) {
            files.discard(dir);
            return Err(Failed::Final(HostError::LimitExceeded(format!(
                "the body exceeds the {max}-byte limit"
            ))));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(|e| Failed::Final(HostError::Failed(format!("write failed: {e}"))))?;
        hooks.progress(written, total);
    }
    if let Some(total) = total.filter(|total| written != *total) {
        return Err(Failed::Retry(HostError::Failed(format!(
            "the body ended after {written} of {total} bytes"
        ))));
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if let Some(check) = target.check {
        if let Err(e) = check(written, &digest) {
            drop(file);
            files.discard(dir);
            return Err(Failed::Final(e));
        }
    }
    let actual = hex::encode(digest);
    if let Some(expected) = target.expected.filter(|e| *e != actual) {
        files.discard(dir);
        return Err(Failed::Final(HostError::Failed(format!(
            "sha256 mismatch: expected {expected}, got {actual}"
        ))));
    }
    file.sync_all()
        .map_err(|e| Failed::Final(HostError::Failed(format!("sync failed: {e}"))))?;
    dir.rename(&files.part, dir, target.relative).map_err(|e| {
        files.discard(dir);
        Failed::Final(HostError::Failed(format!("cannot move into place: {e}")))
    })?;
    files.write_meta(dir, None);
    Ok(Response {
        bytes: written,
        sha256: actual,
    })
}

/// Sends `request`, checking cancellation and the deadline while waiting: a
/// server that accepts and never answers must not hold the plugin (the host
/// call is where epoch interruption cannot reach).
async fn send(
    request: reqwest::RequestBuilder,
    hooks: &mut dyn Hooks,
) -> Result<reqwest::Response, Failed> {
    let started = Instant::now();
    let send = request.send();
    tokio::pin!(send);
    loop {
        if hooks.stopped() {
            return Err(Failed::Final(HostError::Cancelled));
        }
        match tokio::time::timeout(POLL, &mut send).await {
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(e)) => {
                return Err(Failed::Retry(HostError::Failed(format!(
                    "request failed: {}",
                    without_url(&e)
                ))))
            }
            Err(_) if started.elapsed() >= STALL_TIMEOUT => {
                return Err(Failed::Retry(HostError::Failed(format!(
                    "no response for {} s",
                    STALL_TIMEOUT.as_secs()
                ))))
            }
            Err(_) => continue,
        }
    }
}

/// `Content-Range: bytes <start>-<end>/<total>` → start.
fn range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// `Content-Range: bytes <start>-<end>/<total>` → total, unless `*`.
fn range_total(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    value.rsplit('/').next()?.trim().parse().ok()
}

/// What `If-Range` may carry: a strong ETag (a weak one never matches
/// there), else the Last-Modified date.
fn validator_of(response: &reqwest::Response) -> Option<String> {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    header(ETAG)
        .filter(|etag| etag.starts_with('"'))
        .or_else(|| header(LAST_MODIFIED))
}

/// The part file's sidecar.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Meta {
    source: String,
    validator: String,
    sha256: Option<String>,
}

/// The part file and its sidecar, next to the destination.
struct PartFiles {
    part: PathBuf,
    meta: PathBuf,
}

impl PartFiles {
    fn new(relative: &Path) -> Self {
        let name = relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            part: relative.with_file_name(format!(".{name}.part")),
            meta: relative.with_file_name(format!(".{name}.part.json")),
        }
    }

    /// The bytes already here and the validator to resume them with, when
    /// they came from `source` for the same expected sha256.
    fn resumable(&self, dir: &Dir, source: &str, expected: Option<&str>) -> Option<(u64, String)> {
        let meta: Meta = serde_json::from_slice(&dir.read(&self.meta).ok()?).ok()?;
        if meta.source != source || meta.sha256.as_deref() != expected {
            return None;
        }
        let len = dir.metadata(&self.part).ok()?.len();
        (len > 0).then_some((len, meta.validator))
    }

    /// Opens the part for writing from `offset` (0: afresh), with the hash
    /// of the bytes it keeps.
    fn open(
        &self,
        dir: &Dir,
        relative: &Path,
        offset: u64,
    ) -> Result<(std::fs::File, Sha256), HostError> {
        if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
            dir.create_dir_all(parent).map_err(|e| {
                HostError::Failed(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let cannot = |e: std::io::Error| {
            HostError::Failed(format!("cannot open {}: {e}", self.part.display()))
        };
        let mut hasher = Sha256::new();
        if offset == 0 {
            let file = dir.create(&self.part).map_err(cannot)?.into_std();
            return Ok((file, hasher));
        }
        let mut kept = dir.open(&self.part).map_err(cannot)?.into_std();
        let mut buf = vec![0; CHUNK];
        let mut read = 0u64;
        loop {
            let n = kept.read(&mut buf).map_err(cannot)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            read += n as u64;
        }
        if read != offset {
            return Err(HostError::Failed(format!(
                "{} changed while resuming",
                self.part.display()
            )));
        }
        let file = dir
            .open_with(&self.part, OpenOptions::new().append(true))
            .map_err(cannot)?
            .into_std();
        Ok((file, hasher))
    }

    /// Records where the part came from; `None` removes the record (nothing
    /// to resume with, or done).
    fn write_meta(&self, dir: &Dir, meta: Option<Meta>) {
        let Some(meta) = meta else {
            let _ = dir.remove_file(&self.meta);
            return;
        };
        // Best effort: without it the next attempt simply starts over.
        if let Ok(text) = serde_json::to_vec(&meta) {
            let _ = dir.write(&self.meta, text);
        }
    }

    /// Removes both: what is there must not be resumed.
    fn discard(&self, dir: &Dir) {
        let _ = dir.remove_file(&self.part);
        let _ = dir.remove_file(&self.meta);
    }
}
