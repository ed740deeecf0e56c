//! The artifact store: files that jobs download (firmware, packages,
//! plugins), kept in one directory and handed to devices through expiring,
//! HMAC-signed URLs.
//!
//! This is our stand-in for S3 presigned URLs ("Presigned URLs" in
//! <https://docs.aws.amazon.com/iot/latest/developerguide/create-manage-jobs.html>). An operator
//! writes `${aws:iot:s3-presigned-url:<our artifact URL>}` into a job
//! document; each time the device API hands the document to a device
//! (`crate::placeholders::Delivery`), [`Artifacts::presign`] swaps in a URL
//! that is valid for a limited time. The signature is the only credential a download
//! needs, so devices never hold the operator's API token.
//!
//! The signing key ([`KEY_FILE`], `crate::presign`) is created next to
//! the artifacts on first use: URLs stay valid across restarts, and
//! deleting the key revokes every URL at once.
//!
//! An artifact may be stored with the operator's artifact signature (a
//! `codesign` object, `jobhost artifact sign`), kept beside it
//! (`signatures`): the store checks that it is for the file's size and
//! sha256, but not the key, which only devices trust.
//!
//! # Layout
//!
//! - `mod.rs`: names, [`Artifacts`] (the directory, presigned URLs,
//!   writing a file).
//! - `signatures`: the stored signature of each artifact, committed with
//!   the file; listing and describing artifacts.

mod signatures;
#[cfg(test)]
mod tests;

pub use signatures::ArtifactSummary;

pub use crate::signed_dir::{KEY_FILE, NAME_MAX_CHARS};

use crate::presign::Signer;
use crate::signed_dir::{is_valid_name, SetupError, SignedDir};
use crate::staged::{FileError, Receipt, StagedWriter};
use jobhost_protocol::codesign::Codesign;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// An artifact being written; see [`Artifacts::create`].
pub type ArtifactWriter = StagedWriter<ArtifactInfo>;

/// The request header of `PUT /artifacts/{name}` that carries the
/// artifact's signature: the `.sig` file (`jobhost artifact sign`) in
/// standard base64.
pub const CODESIGN_HEADER: &str = "x-jobhost-codesign";

/// What AWS writes around a URL to have it presigned ("Presigned URLs" in
/// <https://docs.aws.amazon.com/iot/latest/developerguide/create-manage-jobs.html>).
pub const PLACEHOLDER_PREFIX: &str = "${aws:iot:s3-presigned-url:";

/// Why an artifact operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The name breaks the naming rule.
    #[error(
        "invalid artifact name {0:?}: use 1-128 characters of [A-Za-z0-9._-], not starting with a dot"
    )]
    InvalidName(String),
    /// The public base URL, the directory or the signing key is unusable.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Reading or writing a file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// No artifact of that name.
    #[error("there is no artifact named {0}")]
    NotFound(String),
    /// The artifact has no signature.
    #[error(
        "artifact {0} is not signed: upload it with its signature, \
         `jobhost-fleet artifact put --signature FILE.sig FILE`"
    )]
    Unsigned(String),
    /// The signature given with the file is for another file.
    #[error(
        "the signature is for {signed_size} bytes with sha256 {signed_sha256}, but the uploaded \
         {name} is {size} bytes with sha256 {sha256}: it was not made for this file"
    )]
    SignatureMismatch {
        /// The artifact's name.
        name: String,
        /// The uploaded file's size.
        size: u64,
        /// The uploaded file's sha256, hex.
        sha256: String,
        /// The size the signature is for.
        signed_size: u64,
        /// The sha256 the signature is for, hex.
        signed_sha256: String,
    },
    /// The stored signature no longer reads, or is for a file of another
    /// size than the one stored (the directory was edited by hand).
    #[error(
        "the stored signature of artifact {name} is unusable: {why}; upload the artifact again"
    )]
    BadStoredSignature {
        /// The artifact's name.
        name: String,
        /// What is wrong.
        why: String,
    },
}

/// A stored artifact, as `PUT /artifacts/{name}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactInfo {
    /// The artifact's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, lower-case hex, for documents to pin.
    pub sha256: String,
    /// Its unsigned URL, to be wrapped in a placeholder (see [`placeholder`]).
    pub url: String,
    /// The operator's artifact signature stored with it (the `codesign`
    /// object a job document gets), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codesign: Option<serde_json::Value>,
}

/// The writer fills in what it counted and hashed.
impl Receipt for ArtifactInfo {
    fn complete(&mut self, size: u64, sha256: String) {
        self.size = size;
        self.sha256 = sha256;
    }
}

/// The placeholder an operator writes into a job document to have `url`
/// presigned on every delivery.
pub fn placeholder(url: &str) -> String {
    format!("{PLACEHOLDER_PREFIX}{url}}}")
}

/// Checks an artifact name: 1-128 characters of `[A-Za-z0-9._-]`, not
/// starting with a dot ([`is_valid_name`]).
pub fn check_name(name: &str) -> Result<(), ArtifactError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ArtifactError::InvalidName(name.to_owned()))
    }
}

/// The artifact directory, its signing key, and how URLs to it look.
pub struct Artifacts {
    dir: PathBuf,
    signer: Signer,
    base: String,
    /// Held while a file and its signature change together, and while
    /// they are read together: a reader never pairs a file with another
    /// file's signature.
    commits: Mutex<()>,
}

/// Hand-written so that the key never reaches a log.
impl std::fmt::Debug for Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifacts")
            .field("dir", &self.dir)
            .field("base", &self.base)
            .field("ttl", &self.signer.ttl())
            .finish_non_exhaustive()
    }
}

impl Artifacts {
    /// Opens (creating if needed) the artifact directory `dir` and its
    /// signing key. `public_base_url` is how devices reach this server
    /// (`http://127.0.0.1:8080`); `ttl` is how long a presigned URL stays
    /// valid (AWS's `expiresInSec`, 60-3600 s there).
    pub fn open(dir: &Path, public_base_url: &str, ttl: Duration) -> Result<Self, ArtifactError> {
        let SignedDir { dir, base, signer } = SignedDir::open(dir, public_base_url, ttl)?;
        Ok(Self {
            dir,
            signer,
            base,
            commits: Mutex::new(()),
        })
    }

    /// How devices reach this server (`http://127.0.0.1:8080`), without a
    /// trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The unsigned URL of artifact `name`.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/artifacts/{name}", self.base)
    }

    /// Where artifact `name` lives on disk; None for an invalid name.
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        check_name(name).ok().map(|()| self.dir.join(name))
    }

    /// The artifact `url` names, when it is exactly one of our artifact
    /// URLs (`<base>/artifacts/<name>`, no query).
    pub fn name_of<'a>(&self, url: &'a str) -> Option<&'a str> {
        let name = url
            .strip_prefix(self.base.as_str())?
            .strip_prefix("/artifacts/")?;
        check_name(name).ok().map(|()| name)
    }

    /// Stores `bytes` as artifact `name`, unsigned, replacing any earlier
    /// one (and its signature) atomically: a download in progress keeps
    /// reading the old file.
    pub fn put(&self, name: &str, bytes: &[u8]) -> Result<ArtifactInfo, ArtifactError> {
        self.put_with(name, bytes, None)
    }

    /// [`Artifacts::put`] with the operator's signature, refused unless
    /// it is for exactly these bytes.
    pub fn put_signed(
        &self,
        name: &str,
        bytes: &[u8],
        codesign: &Codesign,
    ) -> Result<ArtifactInfo, ArtifactError> {
        self.put_with(name, bytes, Some(codesign))
    }

    fn put_with(
        &self,
        name: &str,
        bytes: &[u8],
        codesign: Option<&Codesign>,
    ) -> Result<ArtifactInfo, ArtifactError> {
        let mut w = self.create(name)?;
        w.write(bytes)?;
        self.commit(w.seal()?, codesign)
    }

    /// Starts writing artifact `name` piece by piece, for uploads too large
    /// to hold in memory. Nothing is visible under `name` until it is
    /// sealed and committed ([`Artifacts::commit`]); dropping the writer
    /// discards the upload.
    pub fn create(&self, name: &str) -> Result<ArtifactWriter, ArtifactError> {
        check_name(name)?;
        let info = ArtifactInfo {
            name: name.to_owned(),
            size: 0,
            sha256: String::new(),
            url: self.url_of(name),
            codesign: None,
        };
        Ok(StagedWriter::create(&self.dir, name, info)?)
    }

    /// A presigned version of `url`, valid until `now` + the TTL, or None
    /// when `url` is not exactly one of our artifact URLs
    /// (`<base>/artifacts/<name>`, no query).
    pub fn presign(&self, url: &str, now: i64) -> Option<String> {
        self.presign_for(url, now, None)
    }

    /// [`Artifacts::presign`], valid for `ttl` when given (a job's
    /// `presignedUrlConfig.expiresInSec`) instead of the store's TTL.
    pub fn presign_for(&self, url: &str, now: i64, ttl: Option<Duration>) -> Option<String> {
        let name = self.name_of(url)?;
        match ttl {
            Some(ttl) => self.signer.sign_url_for(url, &[name], now, ttl),
            None => self.signer.sign_url(url, &[name], now),
        }
    }

    /// Whether `signature` is ours for `name` and `expires`, and `now` is
    /// not past `expires` (constant-time: `crate::presign`). The signed
    /// message is `name|expires`: URLs already handed out depend on it.
    pub fn verify(&self, name: &str, expires: i64, signature: &str, now: i64) -> bool {
        check_name(name).is_ok() && self.signer.verify(&[name], expires, signature, now)
    }
}
