//! Presigned URLs: a URL signed for one purpose, with an expiry, by a
//! per-store key. The artifact store (downloads), the upload area (a
//! device's PUT) and the device CA (a device's CSR POST) each hold one
//! `Signer` with its own key file; this module is the one place that
//! loads those keys, builds the signed message, computes the HMAC and
//! checks it, so that the three cannot drift apart.
//!
//! The signed message is the parts that name what the URL allows (say
//! `PUT`, thing, job, name), then the expiry, joined by `|`. Every store
//! checks its parts against naming rules that exclude `|`, and the signer
//! refuses parts that contain one, so no two messages share an input. The
//! URL carries `?expires=<unix seconds>&signature=<hex HMAC-SHA256>`.
//!
//! A key is 32 random bytes created on first use, readable by the owner
//! only, like an SSH host key: URLs stay valid across restarts, and
//! deleting the key revokes every URL it signed at once.

use crate::staged::FileError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

/// Why a signing key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file exists but must not be used.
    #[error("signing key {}: {reason}", path.display())]
    Unusable {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing the key file failed.
    #[error(transparent)]
    Io(#[from] FileError),
}

/// Signs and verifies one store's URLs. The key never reaches a log: the
/// hand-written `Debug` shows the TTL only.
pub(crate) struct Signer {
    key: [u8; 32],
    ttl: Duration,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The signer whose key is in `key_file` (created if absent); its URLs
    /// stay valid for `ttl`.
    pub(crate) fn open(key_file: &Path, ttl: Duration) -> Result<Self, KeyError> {
        Ok(Self {
            key: load_or_create_key(key_file)?,
            ttl,
        })
    }

    /// How long a URL signed now stays valid.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// `url?expires=…&signature=…`, allowing what `parts` name until the
    /// TTL has passed after `now`; None when a part holds a `|` (it could
    /// collide with another message).
    pub(crate) fn sign_url(&self, url: &str, parts: &[&str], now: i64) -> Option<String> {
        self.sign_url_for(url, parts, now, self.ttl)
    }

    /// [`Signer::sign_url`] with a URL lifetime of `ttl` instead of the
    /// signer's own: a job's `presignedUrlConfig.expiresInSec`.
    pub(crate) fn sign_url_for(
        &self,
        url: &str,
        parts: &[&str],
        now: i64,
        ttl: Duration,
    ) -> Option<String> {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let expires = now.saturating_add(ttl);
        let signature = hex::encode(self.mac(parts, expires)?.finalize().into_bytes());
        Some(format!("{url}?expires={expires}&signature={signature}"))
    }

    /// Whether `signature` (hex) is ours for `parts` and `expires`, and
    /// `now` is not past `expires`. The comparison is constant-time, so a
    /// forger learns nothing from how long a refusal takes.
    pub(crate) fn verify(&self, parts: &[&str], expires: i64, signature: &str, now: i64) -> bool {
        if now > expires {
            return false;
        }
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        self.mac(parts, expires)
            .is_some_and(|mac| mac.verify_slice(&signature).is_ok())
    }

    /// The MAC over `part|part|…|expires`; None when a part holds the `|`
    /// that separates them.
    fn mac(&self, parts: &[&str], expires: i64) -> Option<HmacSha256> {
        if parts.iter().any(|p| p.contains('|')) {
            return None;
        }
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"|");
        }
        mac.update(expires.to_string().as_bytes());
        Some(mac)
    }
}

/// Reads the key, or creates it if absent. Creation goes through a
/// temporary file linked into place without overwriting, so two servers
/// starting on one directory agree on a single key. A key other users can
/// read is refused: anyone holding it can sign URLs.
fn load_or_create_key(path: &Path) -> Result<[u8; 32], KeyError> {
    let io = |source| {
        KeyError::Io(FileError {
            path: path.to_owned(),
            source,
        })
    };
    let unusable = |reason| KeyError::Unusable {
        path: path.to_owned(),
        reason,
    };
    if !path.exists() {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key)
            .map_err(|e| unusable(format!("no randomness available: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        // NamedTempFile is created 0600 on Unix.
        let mut tmp = tempfile::Builder::new()
            .prefix(crate::staged::TEMP_PREFIX)
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(&key).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        match tmp.persist_noclobber(path) {
            Ok(_) => return Ok(key),
            // Another process won the race: use its key.
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e.error)),
        }
    }
    let mut file = fs::File::open(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(unusable(format!(
                "other users can access it (mode {:o}); run chmod 600 on it",
                mode & 0o777
            )));
        }
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| unusable(format!("it holds {} bytes, a key is 32", bytes.len())))
}

/// Hex HMAC-SHA256 of `message` under the key in `key_file`, computed
/// independently of [`Signer`], so that the stores' tests pin their message
/// formats: URLs already handed out must keep verifying.
#[cfg(test)]
pub(crate) fn legacy_signature(key_file: &Path, message: &str) -> String {
    let key = fs::read(key_file).unwrap_or_default();
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    /// The message bytes are pinned: URLs already handed out were signed
    /// over exactly `parts…|expires`, and must keep verifying.
    #[test]
    fn the_signature_is_the_hmac_of_the_parts_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::open(&dir.path().join("key"), Duration::from_secs(60)).unwrap();
        let url = signer
            .sign_url("http://x/p", &["PUT", "t", "j"], 1000)
            .unwrap();
        let signature = url.split_once("&signature=").unwrap().1;
        assert!(
            url.starts_with("http://x/p?expires=1060&signature="),
            "{url}"
        );
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&signer.key).unwrap();
        mac.update(b"PUT|t|j|1060");
        assert_eq!(signature, hex::encode(mac.finalize().into_bytes()));
        assert!(signer.verify(&["PUT", "t", "j"], 1060, signature, 1060));
        assert!(
            !signer.verify(&["PUT", "t", "j"], 1060, signature, 1061),
            "expired"
        );
        assert!(
            !signer.verify(&["PUT", "t|j"], 1060, signature, 0),
            "a | in a part"
        );
        assert_eq!(signer.sign_url("http://x/p", &["a|b"], 0), None);
    }

    #[test]
    fn a_short_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, b"short").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = Signer::open(&path, Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("holds 5 bytes"), "{err}");
    }
}
