//! The artifact store: files that jobs download (firmware, packages,
//! plugins), kept in one directory and handed to devices through expiring,
//! HMAC-signed URLs.
//!
//! This is our stand-in for S3 presigned URLs (reference §7). An operator
//! writes `${aws:iot:s3-presigned-url:<our artifact URL>}` into a job
//! document; each time the service hands the document to a device it calls
//! [`Artifacts::resolve_placeholders`], which swaps in a URL that is valid
//! for a limited time. The signature is the only credential a download
//! needs, so devices never hold the operator's API token.
//!
//! The signing key is 32 random bytes created next to the artifacts on
//! first use, readable by the owner only, like an SSH host key: URLs stay
//! valid across restarts, and deleting the key revokes every URL at once.

mod setup;
mod writer;

#[cfg(test)]
mod tests;

pub use writer::ArtifactWriter;

// The upload area opens its directory and key the same way.
pub(crate) use setup::{check_base_url, create_private_dir, load_or_create_key};

use crate::uploads::Uploads;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

/// The file holding the URL-signing key. Its leading dot makes it an
/// invalid artifact name, so it can never be served.
pub const KEY_FILE: &str = ".url-signing-key";

/// What AWS writes around a URL to have it presigned (reference §7).
pub const PLACEHOLDER_PREFIX: &str = "${aws:iot:s3-presigned-url:";

/// Longest artifact name.
pub const NAME_MAX_CHARS: usize = 128;

/// Uploads in progress are written under this prefix; the leading dot keeps
/// half-written files unservable.
const TEMP_PREFIX: &str = ".upload-";

/// Why an artifact operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The name breaks the naming rule.
    #[error(
        "invalid artifact name {0:?}: use 1-128 characters of [A-Za-z0-9._-], not starting with a dot"
    )]
    InvalidName(String),
    /// The public base URL is unusable.
    #[error("invalid public base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signing key file is unusable.
    #[error("signing key {}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
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
}

/// The placeholder an operator writes into a job document to have `url`
/// presigned on every delivery.
pub fn placeholder(url: &str) -> String {
    format!("{PLACEHOLDER_PREFIX}{url}}}")
}

/// Checks an artifact name: 1-128 characters of `[A-Za-z0-9._-]`, not
/// starting with a dot (so `..`, hidden files and our own temporary and key
/// files can never be named).
pub fn check_name(name: &str) -> Result<(), ArtifactError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX_CHARS
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ArtifactError::InvalidName(name.to_owned()))
    }
}

/// The artifact directory, its signing key, and how URLs to it look.
pub struct Artifacts {
    dir: PathBuf,
    key: [u8; 32],
    base: String,
    ttl: Duration,
    /// The other direction: devices' uploads, whose placeholders are
    /// resolved at the same deliveries ([`Artifacts::resolve_document`]).
    uploads: Option<Arc<Uploads>>,
    /// The device CA, whose `${jobhost:csr-url}` placeholders are resolved
    /// at the same deliveries (`crate::certificates`).
    certificates: Option<Arc<crate::certificates::CertificateAuthority>>,
}

/// Hand-written so that the key never reaches a log.
impl std::fmt::Debug for Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifacts")
            .field("dir", &self.dir)
            .field("base", &self.base)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Artifacts {
    /// Opens (creating if needed) the artifact directory `dir` and its
    /// signing key. `public_base_url` is how devices reach this server
    /// (`http://127.0.0.1:8080`); `ttl` is how long a presigned URL stays
    /// valid (AWS's `expiresInSec`, 60-3600 s there).
    pub fn open(dir: &Path, public_base_url: &str, ttl: Duration) -> Result<Self, ArtifactError> {
        let base = setup::check_base_url(public_base_url)?;
        setup::create_private_dir(dir)?;
        let key = setup::load_or_create_key(&dir.join(KEY_FILE))?;
        Ok(Self {
            dir: dir.to_owned(),
            key,
            base,
            ttl,
            uploads: None,
            certificates: None,
        })
    }

    /// Also resolves `${jobhost:upload-url:…}` placeholders on delivery,
    /// with URLs into `uploads`.
    pub fn with_uploads(mut self, uploads: Arc<Uploads>) -> Self {
        self.uploads = Some(uploads);
        self
    }

    /// Also resolves `${jobhost:csr-url}` on delivery, with URLs to `ca`.
    pub fn with_certificates(mut self, ca: Arc<crate::certificates::CertificateAuthority>) -> Self {
        self.certificates = Some(ca);
        self
    }

    /// The device CA, when this server signs certificates.
    pub fn certificates(&self) -> Option<&Arc<crate::certificates::CertificateAuthority>> {
        self.certificates.as_ref()
    }

    /// The upload area, when this server has one.
    pub fn uploads(&self) -> Option<&Arc<Uploads>> {
        self.uploads.as_ref()
    }

    /// `document` as the device `thing` gets it for job `job_id`: artifact
    /// placeholders presigned ([`Artifacts::resolve_placeholders`]) and
    /// upload placeholders turned into PUT URLs for that thing and job
    /// ([`Uploads::resolve_placeholders`]), fresh at every delivery.
    pub fn resolve_document(
        &self,
        document: &serde_json::Value,
        thing: &str,
        job_id: &str,
        now: i64,
    ) -> serde_json::Value {
        let mut resolved = self.resolve_placeholders(document, now);
        if let Some(ca) = &self.certificates {
            resolved = ca.resolve_placeholders(&resolved, thing, job_id, now);
        }
        match &self.uploads {
            Some(uploads) => uploads.resolve_placeholders(&resolved, thing, job_id, now),
            None => resolved,
        }
    }

    /// The unsigned URL of artifact `name`.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/artifacts/{name}", self.base)
    }

    /// Where artifact `name` lives on disk; None for an invalid name.
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        check_name(name).ok().map(|()| self.dir.join(name))
    }

    /// Stores `bytes` as artifact `name`, replacing any earlier one
    /// atomically: a download in progress keeps reading the old file.
    pub fn put(&self, name: &str, bytes: &[u8]) -> Result<ArtifactInfo, ArtifactError> {
        let mut w = self.create(name)?;
        w.write(bytes)?;
        w.finish()
    }

    /// Starts writing artifact `name` piece by piece, for uploads too large
    /// to hold in memory. Nothing is visible under `name` until
    /// [`ArtifactWriter::finish`]; dropping the writer discards the upload.
    pub fn create(&self, name: &str) -> Result<ArtifactWriter, ArtifactError> {
        check_name(name)?;
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(|source| ArtifactError::Io {
                path: self.dir.clone(),
                source,
            })?;
        Ok(ArtifactWriter {
            file,
            hasher: Sha256::new(),
            size: 0,
            path: self.dir.join(name),
            info: ArtifactInfo {
                name: name.to_owned(),
                size: 0,
                sha256: String::new(),
                url: self.url_of(name),
            },
        })
    }

    /// A presigned version of `url`, valid until `now` + the TTL, or None
    /// when `url` is not exactly one of our artifact URLs
    /// (`<base>/artifacts/<name>`, no query).
    pub fn presign(&self, url: &str, now: i64) -> Option<String> {
        let name = url
            .strip_prefix(self.base.as_str())?
            .strip_prefix("/artifacts/")?;
        check_name(name).ok()?;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let expires = now.saturating_add(ttl);
        let signature = hex::encode(self.mac(name, expires).finalize().into_bytes());
        Some(format!("{url}?expires={expires}&signature={signature}"))
    }

    /// Whether `signature` is ours for `name` and `expires`, and `now` is
    /// not past `expires`. The comparison is constant-time, so a forger
    /// learns nothing from how long a refusal takes.
    pub fn verify(&self, name: &str, expires: i64, signature: &str, now: i64) -> bool {
        if check_name(name).is_err() || now > expires {
            return false;
        }
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        self.mac(name, expires).verify_slice(&signature).is_ok()
    }

    /// `document` with every `${aws:iot:s3-presigned-url:<url>}`, in any
    /// string value at any depth, replaced by a freshly presigned URL.
    /// Placeholders naming URLs that are not ours are left as they are (and
    /// logged): the device will fail to download them and say so, which is
    /// clearer than a silently rewritten document.
    pub fn resolve_placeholders(
        &self,
        document: &serde_json::Value,
        now: i64,
    ) -> serde_json::Value {
        use serde_json::Value;
        match document {
            Value::String(s) => Value::String(self.resolve_in_str(s, now)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve_placeholders(v, now))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve_placeholders(v, now)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn resolve_in_str(&self, s: &str, now: i64) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find(PLACEHOLDER_PREFIX) {
            out.push_str(&rest[..start]);
            let after = &rest[start + PLACEHOLDER_PREFIX.len()..];
            let Some(end) = after.find('}') else {
                // Unterminated: not a placeholder, keep the text.
                out.push_str(&rest[start..]);
                return out;
            };
            let url = &after[..end];
            match self.presign(url, now) {
                Some(signed) => out.push_str(&signed),
                None => {
                    tracing::warn!(
                        url,
                        base = %self.base,
                        "leaving a presigned-URL placeholder unresolved: the URL is not an artifact of this server"
                    );
                    out.push_str(&rest[start..start + PLACEHOLDER_PREFIX.len() + end + 1]);
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The MAC over `name|expires`; `|` cannot occur in a name, so no two
    /// (name, expires) pairs share an input.
    fn mac(&self, name: &str, expires: i64) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
        mac.update(format!("{name}|{expires}").as_bytes());
        mac
    }
}
