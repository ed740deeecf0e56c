//! Operator keys, in wasmsign2's file formats so the same key files work
//! with both tools (wasmsign2 0.2.8 `src/signature/keys.rs`):
//!
//! - public key: `0x01` followed by the 32-byte Ed25519 public key (33 bytes);
//! - secret key: `0x81` followed by the 64-byte Ed25519 key pair, seed then
//!   public key (65 bytes).
//!
//! A key's id is wasmsign2's deterministic default key id
//! (`PublicKey::attach_default_key_id`): the first 12 bytes of
//! HMAC-SHA256(key = the 32-byte public key, message = `"key_id"`), shown as
//! 24 hex digits. Signatures carry it, and `wasmsign2 verify` skips a
//! signature whose key id differs from the one it derives this way, so any
//! other derivation would break verification by the third-party tool.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroizing;

/// First byte of a public key file.
const PUBLIC_KEY_TAG: u8 = 0x01;
/// First byte of a secret key file.
const SECRET_KEY_TAG: u8 = 0x81;
/// Public key file size.
const PUBLIC_KEY_FILE_BYTES: usize = 33;
/// Secret key file size.
const SECRET_KEY_FILE_BYTES: usize = 65;
/// No key file is bigger; reading stops there.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// A key's identifier: 12 bytes, shown as 24 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 12]);

impl KeyId {
    /// The id of a raw 32-byte Ed25519 public key.
    fn of(public: &[u8; 32]) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(public).expect("HMAC accepts keys of any length");
        mac.update(b"key_id");
        let tag = mac.finalize().into_bytes();
        let mut id = [0u8; 12];
        id.copy_from_slice(&tag[..12]);
        Self(id)
    }

    /// The raw bytes, as embedded in a signature.
    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }

    /// A key id as found in a signature, if it has this format.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 12];
        hex::decode_to_slice(s.trim(), &mut id).map_err(|_| KeyError::BadKeyId(s.to_owned()))?;
        Ok(Self(id))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An operator's public key: what a device trusts.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    /// Parses the 33-byte wasmsign2 format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::parse(bytes, "key")
    }

    /// Reads a `.pub` file.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = read_key_file(path)?;
        Self::parse(&bytes, &path.display().to_string())
    }

    fn parse(bytes: &[u8], what: &str) -> Result<Self, KeyError> {
        let bad = |reason: String| KeyError::BadPublicKey {
            what: what.to_owned(),
            reason,
        };
        if bytes.len() != PUBLIC_KEY_FILE_BYTES {
            return Err(bad(format!("{} bytes", bytes.len())));
        }
        if bytes[0] != PUBLIC_KEY_TAG {
            return Err(bad(if bytes[0] == SECRET_KEY_TAG {
                "this is a secret key".into()
            } else {
                format!("first byte is {:#04x}", bytes[0])
            }));
        }
        let raw: [u8; 32] = bytes[1..].try_into().expect("length checked above");
        let key = VerifyingKey::from_bytes(&raw).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            key,
            id: KeyId::of(&raw),
        })
    }

    /// The 33-byte file format.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_FILE_BYTES] {
        let mut out = [0u8; PUBLIC_KEY_FILE_BYTES];
        out[0] = PUBLIC_KEY_TAG;
        out[1..].copy_from_slice(self.key.as_bytes());
        out
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Checks an Ed25519 signature strictly (no malleable or small-order
    /// encodings).
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey").field("id", &self.id).finish()
    }
}

/// An operator's secret signing key. Zeroed when dropped.
pub struct SecretKey {
    key: SigningKey,
}

impl SecretKey {
    /// A new random key from the OS generator.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parses the 65-byte wasmsign2 format; the public half must match the
    /// seed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::parse(bytes, "key")
    }

    /// Reads a secret key file.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(read_key_file(path)?);
        warn_if_readable_by_others(path);
        Self::parse(&bytes, &path.display().to_string())
    }

    fn parse(bytes: &[u8], what: &str) -> Result<Self, KeyError> {
        let bad = |reason: String| KeyError::BadSecretKey {
            what: what.to_owned(),
            reason,
        };
        if bytes.len() != SECRET_KEY_FILE_BYTES {
            return Err(bad(if bytes.len() == PUBLIC_KEY_FILE_BYTES {
                "this is a public key".into()
            } else {
                format!("{} bytes", bytes.len())
            }));
        }
        if bytes[0] != SECRET_KEY_TAG {
            return Err(bad(format!("first byte is {:#04x}", bytes[0])));
        }
        let pair: Zeroizing<[u8; 64]> =
            Zeroizing::new(bytes[1..].try_into().expect("length checked above"));
        let key = SigningKey::from_keypair_bytes(&pair)
            .map_err(|_| bad("its public half does not match its secret half".into()))?;
        Ok(Self { key })
    }

    /// The 65-byte file format.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(SECRET_KEY_FILE_BYTES));
        out.push(SECRET_KEY_TAG);
        out.extend_from_slice(&self.key.to_keypair_bytes());
        out
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let key = self.key.verifying_key();
        PublicKey {
            key,
            id: KeyId::of(key.as_bytes()),
        }
    }

    /// Signs `message` (deterministic Ed25519).
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Writes this key to `path` (mode 0600) and its public key to
    /// `path.pub`; refuses to overwrite either. Returns the `.pub` path.
    pub fn write_files(&self, path: &Path) -> Result<PathBuf, KeyError> {
        let pub_path = public_key_path(path);
        for p in [path, pub_path.as_path()] {
            if p.symlink_metadata().is_ok() {
                return Err(KeyError::Exists { path: p.to_owned() });
            }
        }
        write_new(path, &self.to_bytes(), 0o600)?;
        write_new(&pub_path, &self.public_key().to_bytes(), 0o644)?;
        Ok(pub_path)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.public_key().id)
            .finish_non_exhaustive()
    }
}

/// `KEY` → `KEY.pub` (appended, not replacing an extension).
pub fn public_key_path(secret: &Path) -> PathBuf {
    let mut s = secret.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    let read_err = |source| KeyError::Read {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    Ok(bytes)
}

/// Creates `path` with `mode` (never an existing file), writes and syncs.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let write_err = |source: std::io::Error| {
        if source.kind() == ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_owned(),
            }
        } else {
            KeyError::Write {
                path: path.to_owned(),
                source,
            }
        }
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Set at creation: the secret is never readable by others, not
        // even for a moment (the umask can only remove bits).
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(write_err)?;
    file.write_all(bytes).map_err(write_err)?;
    file.sync_all().map_err(write_err)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    target: "trust",
                    "secret key {} is accessible by other users (mode {mode:04o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Why a key could not be generated, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key {path}: {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The key file could not be written.
    #[error("cannot write key {path}: {source}")]
    Write {
        /// The key file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// keygen never overwrites a key.
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Not a public key in the wasmsign2 format.
    #[error(
        "{what} is not an Ed25519 public key (expected 33 bytes: 0x01 then the key): {reason}"
    )]
    BadPublicKey {
        /// The file (or "key").
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// Not a secret key in the wasmsign2 format.
    #[error(
        "{what} is not an Ed25519 secret key (expected 65 bytes: 0x81 then the key pair): {reason}"
    )]
    BadSecretKey {
        /// The file (or "key").
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A key id that is not 24 hex digits.
    #[error("key id {0:?} must be 24 hex digits")]
    BadKeyId(String),
    /// The OS random generator failed.
    #[error("cannot get random bytes for a new key: {0}")]
    Random(String),
}
