//! The upload area: files devices send back (diagnostics bundles, logs),
//! each bound to one thing, one job and one name, through expiring,
//! HMAC-signed PUT URLs.
//!
//! The counterpart of [`crate::artifacts`] for the other direction. An
//! operator writes `${jobhost:upload-url:<name>}` into a job document; each
//! time the device API hands the document to a device
//! (`crate::placeholders::Delivery`), [`Uploads::presign`] with that
//! device's thing name and the job id swaps in
//! `<base>/uploads/<thing>/<jobId>/<name>?expires=…&signature=…`. That URL
//! accepts one thing: one successful `PUT` of at most [`Uploads::max_bytes`]
//! to exactly that thing, job and name before it expires (the store records
//! a used URL: `Store::claim_upload`). The device needs no other
//! credential, and a device cannot write into another device's or another
//! job's uploads. At most [`Uploads::max_concurrent`] uploads are written
//! at once, so whoever holds URLs cannot fill the disk with parallel
//! temporaries. Operators list and fetch uploads through the management
//! API (`GET /uploads`, `GET /uploads/<thing>/<jobId>/<name>`).
//!
//! On disk: `<dir>/<thing>/<jobId>/<name>`, the signing key in
//! `<dir>/.url-signing-key` (a thing name cannot start with a dot), and
//! uploads in progress as `.upload-*` temporaries next to their target,
//! renamed into place only when complete. An upload through a later
//! delivery's URL to the same name replaces the first (a retried job
//! uploads again).
//!
//! # Layout
//!
//! - `signing`: URLs, signatures and the document placeholder.
//! - writing one upload is `crate::staged` (as for artifacts), signing
//!   `crate::presign`.

mod signing;

#[cfg(test)]
mod tests;

pub use signing::PLACEHOLDER_PREFIX;

use crate::presign::Signer;
use crate::signed_dir::{create_private_dir, is_valid_name, SetupError, SignedDir};
use crate::staged::{FileError, Receipt, StagedWriter};
use jobhost_protocol::topics::{is_valid_job_id, is_valid_thing_name};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An upload being written; see [`Uploads::create`].
pub type UploadWriter = StagedWriter<UploadInfo>;

/// Default cap on one upload: a diagnostics bundle is a few MiB; 64 MiB
/// leaves room for logs without letting one device fill the server's disk.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 64 << 20;

/// Default number of uploads written at the same time: a fleet's
/// diagnostics arrive a few at a time; with the default size cap this
/// bounds the temporaries to 512 MiB of disk.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 8;

/// Longest upload name: upload names follow the artifact naming rule.
pub use crate::signed_dir::NAME_MAX_CHARS;

/// Why an upload operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The name breaks the naming rule.
    #[error(
        "invalid upload name {0:?}: use 1-128 characters of [A-Za-z0-9._-], not starting with a dot"
    )]
    InvalidName(String),
    /// Not a thing name.
    #[error("invalid thing name {0:?}: use 1-128 characters of [a-zA-Z0-9:_-]")]
    InvalidThing(String),
    /// Not a job id.
    #[error("invalid job id {0:?}: use 1-64 characters of [a-zA-Z0-9_-]")]
    InvalidJob(String),
    /// The public base URL, the directory or the signing key is unusable.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Reading or writing a file failed.
    #[error(transparent)]
    File(#[from] FileError),
}

/// One stored upload, as the management API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadInfo {
    /// The thing that sent it.
    pub thing_name: String,
    /// The job it was sent for.
    pub job_id: String,
    /// Its name (the placeholder's).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was stored, seconds since the Unix epoch.
    pub uploaded_at: i64,
    /// SHA-256 of its bytes, lower-case hex; only in the answer to the PUT
    /// itself (listings read no file contents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The writer fills in what it counted and hashed, and when it finished.
impl Receipt for UploadInfo {
    fn complete(&mut self, size: u64, sha256: String) {
        self.size = size;
        self.sha256 = Some(sha256);
        self.uploaded_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    }
}

/// Checks an upload name: 1-128 characters of `[A-Za-z0-9._-]`, not
/// starting with a dot (the same rule as artifact names).
pub fn check_name(name: &str) -> Result<(), UploadError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(UploadError::InvalidName(name.to_owned()))
    }
}

/// Checks the (thing, job, name) an upload is addressed by.
pub fn check_target(thing: &str, job_id: &str, name: &str) -> Result<(), UploadError> {
    if !is_valid_thing_name(thing) {
        return Err(UploadError::InvalidThing(thing.to_owned()));
    }
    if !is_valid_job_id(job_id) {
        return Err(UploadError::InvalidJob(job_id.to_owned()));
    }
    check_name(name)
}

/// The upload directory, its signing key, how URLs to it look, and the
/// size cap.
pub struct Uploads {
    dir: PathBuf,
    signer: Signer,
    base: String,
    max_bytes: AtomicU64,
    /// Uploads being written now, and how many may be.
    in_flight: AtomicUsize,
    max_concurrent: AtomicUsize,
}

/// One of the [`Uploads::max_concurrent`] slots, held while an upload is
/// written; dropping it frees the slot.
#[derive(Debug)]
pub struct UploadSlot<'a>(&'a AtomicUsize);

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Hand-written so that the key never reaches a log.
impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads")
            .field("dir", &self.dir)
            .field("base", &self.base)
            .field("ttl", &self.signer.ttl())
            .field("max_bytes", &self.max_bytes())
            .field("max_concurrent", &self.max_concurrent())
            .finish_non_exhaustive()
    }
}

impl Uploads {
    /// Opens (creating if needed, owner-only) the upload directory `dir`
    /// and its signing key; `public_base_url` is how devices reach this
    /// server and `ttl` how long a presigned URL stays valid. The size cap
    /// starts at [`DEFAULT_MAX_UPLOAD_BYTES`].
    pub fn open(dir: &Path, public_base_url: &str, ttl: Duration) -> Result<Self, UploadError> {
        let SignedDir { dir, base, signer } = SignedDir::open(dir, public_base_url, ttl)?;
        Ok(Self {
            dir,
            signer,
            base,
            max_bytes: AtomicU64::new(DEFAULT_MAX_UPLOAD_BYTES),
            in_flight: AtomicUsize::new(0),
            max_concurrent: AtomicUsize::new(DEFAULT_MAX_CONCURRENT_UPLOADS),
        })
    }

    /// How many uploads may be written at the same time.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent.load(Ordering::Relaxed)
    }

    /// Changes [`Uploads::max_concurrent`] (`jobhost-fleet serve
    /// --max-concurrent-uploads`); uploads already running keep their slot.
    pub fn set_max_concurrent(&self, uploads: usize) {
        self.max_concurrent.store(uploads, Ordering::Relaxed);
    }

    /// A slot to write one upload in, or None when
    /// [`Uploads::max_concurrent`] uploads are being written already.
    pub fn try_slot(&self) -> Option<UploadSlot<'_>> {
        let max = self.max_concurrent();
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| UploadSlot(&self.in_flight))
    }

    /// The largest upload accepted, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Ordering::Relaxed)
    }

    /// Changes the size cap (`jobhost-fleet serve --max-upload-mib`); it
    /// applies to uploads that start afterwards.
    pub fn set_max_bytes(&self, bytes: u64) {
        self.max_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Where the upload (thing, job, name) lives on disk; None when any
    /// part is invalid (so no path can climb out of the directory).
    pub fn path_of(&self, thing: &str, job_id: &str, name: &str) -> Option<PathBuf> {
        check_target(thing, job_id, name)
            .ok()
            .map(|()| self.dir.join(thing).join(job_id).join(name))
    }

    /// Starts writing upload (thing, job, name); nothing is visible under
    /// that name until [`UploadWriter::finish`], and dropping the writer
    /// discards the partial file.
    pub fn create(
        &self,
        thing: &str,
        job_id: &str,
        name: &str,
    ) -> Result<UploadWriter, UploadError> {
        check_target(thing, job_id, name)?;
        let job_dir = self.dir.join(thing).join(job_id);
        // Owner-only like the upload directory: bundles hold device logs.
        create_private_dir(&job_dir)?;
        let info = UploadInfo {
            thing_name: thing.to_owned(),
            job_id: job_id.to_owned(),
            name: name.to_owned(),
            size: 0,
            uploaded_at: 0,
            sha256: None,
        };
        Ok(StagedWriter::create(&job_dir, name, info)?)
    }

    /// The stored uploads, optionally only one thing's and/or one job's,
    /// sorted by thing, job and name. Temporaries and the key are never
    /// listed.
    pub fn list(
        &self,
        thing: Option<&str>,
        job_id: Option<&str>,
    ) -> Result<Vec<UploadInfo>, UploadError> {
        let mut out = Vec::new();
        for thing_name in self.children(&self.dir, thing)? {
            if !is_valid_thing_name(&thing_name) {
                continue;
            }
            let thing_dir = self.dir.join(&thing_name);
            for job in self.children(&thing_dir, job_id)? {
                if !is_valid_job_id(&job) {
                    continue;
                }
                let job_dir = thing_dir.join(&job);
                for name in self.children(&job_dir, None)? {
                    if check_name(&name).is_err() {
                        continue;
                    }
                    let path = job_dir.join(&name);
                    let Ok(meta) = std::fs::metadata(&path) else {
                        continue;
                    };
                    if !meta.is_file() {
                        continue;
                    }
                    let uploaded_at = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                    out.push(UploadInfo {
                        thing_name: thing_name.clone(),
                        job_id: job.clone(),
                        name,
                        size: meta.len(),
                        uploaded_at,
                        sha256: None,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The entries of `dir` (sorted), or only `only` when given; a missing
    /// directory has none.
    fn children(&self, dir: &Path, only: Option<&str>) -> Result<Vec<String>, UploadError> {
        if let Some(one) = only {
            return Ok(if dir.join(one).is_dir() {
                vec![one.to_owned()]
            } else {
                Vec::new()
            });
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(UploadError::File(FileError {
                    path: dir.to_owned(),
                    source,
                }))
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }
}
