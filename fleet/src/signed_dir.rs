//! A directory whose files are reached through presigned URLs: the
//! artifact store (downloads) and the upload area (devices' PUTs). Both
//! open theirs the same way, here, so that neither depends on the other:
//! a public base URL in one spelling, an owner-only directory, one naming
//! rule for the files in it, and a URL-signing key ([`KEY_FILE`],
//! `crate::presign`) kept next to the files.

use crate::presign::{KeyError, Signer};
use crate::staged::FileError;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file holding a directory's URL-signing key. Its leading dot makes
/// it an invalid file name ([`is_valid_name`]), so it can never be served.
pub const KEY_FILE: &str = ".url-signing-key";

/// Longest file name: a generous bound that keeps URLs and paths short.
pub const NAME_MAX_CHARS: usize = 128;

/// Why a signed directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The public base URL is unusable.
    #[error("invalid public base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signing key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The directory could not be created.
    #[error(transparent)]
    Dir(#[from] FileError),
}

/// An opened directory: where it is, how devices reach it, and the key
/// that signs URLs to it.
pub(crate) struct SignedDir {
    /// The directory.
    pub(crate) dir: PathBuf,
    /// The public base URL without a trailing `/` ([`check_base_url`]).
    pub(crate) base: String,
    /// Signs and verifies URLs into the directory.
    pub(crate) signer: Signer,
}

impl SignedDir {
    /// Opens (creating if needed, owner-only) `dir` and its signing key;
    /// `public_base_url` is how devices reach this server and `ttl` how
    /// long a presigned URL stays valid.
    pub(crate) fn open(
        dir: &Path,
        public_base_url: &str,
        ttl: Duration,
    ) -> Result<Self, SetupError> {
        let base = check_base_url(public_base_url)?;
        create_private_dir(dir)?;
        let signer = Signer::open(&dir.join(KEY_FILE), ttl)?;
        Ok(Self {
            dir: dir.to_owned(),
            base,
            signer,
        })
    }
}

/// Whether `name` may name a file: 1-128 characters of `[A-Za-z0-9._-]`,
/// not starting with a dot (so `..`, hidden files and our own temporary and
/// key files can never be named).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX_CHARS
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The base URL without a trailing `/`, so that `<base>/artifacts/<name>`
/// is the one spelling `Artifacts::presign` recognises.
pub(crate) fn check_base_url(url: &str) -> Result<String, SetupError> {
    let bad = |reason| {
        Err(SetupError::InvalidBaseUrl {
            url: url.to_owned(),
            reason,
        })
    };
    let trimmed = url.trim_end_matches('/');
    let Some(authority) = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
    else {
        return bad("it must start with http:// or https://");
    };
    if authority.is_empty() {
        return bad("it has no host");
    }
    if trimmed.contains(['?', '#', ' ']) {
        return bad("it must not contain a query, a fragment or spaces");
    }
    Ok(trimmed.to_owned())
}

/// Creates `dir` (and parents) readable by the owner only: it holds a
/// signing key, or files that may not be public.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| FileError {
        path: dir.to_owned(),
        source,
    })
}
