//! Opening the artifact directory: the public base URL, the directory
//! itself (owner-only) and the URL-signing key.

use super::{ArtifactError, TEMP_PREFIX};
use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

/// The base URL without a trailing `/`, so that `<base>/artifacts/<name>`
/// is the one spelling [`super::Artifacts::presign`] recognises.
pub(crate) fn check_base_url(url: &str) -> Result<String, ArtifactError> {
    let bad = |reason| {
        Err(ArtifactError::InvalidBaseUrl {
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

/// Creates `dir` (and parents) readable by the owner only: it holds the
/// signing key and artifacts that may not be public.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ArtifactError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| ArtifactError::Io {
        path: dir.to_owned(),
        source,
    })
}

/// Reads the key, or creates it if absent. Creation goes through a
/// temporary file linked into place without overwriting, so two servers
/// starting on one directory agree on a single key.
pub(crate) fn load_or_create_key(path: &Path) -> Result<[u8; 32], ArtifactError> {
    let io = |source| ArtifactError::Io {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| ArtifactError::Key {
            path: path.to_owned(),
            reason: format!("no randomness available: {e}"),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        // NamedTempFile is created 0600 on Unix.
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
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
            return Err(ArtifactError::Key {
                path: path.to_owned(),
                reason: format!(
                    "other users can access it (mode {:o}); run chmod 600 on it",
                    mode & 0o777
                ),
            });
        }
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| ArtifactError::Key {
        path: path.to_owned(),
        reason: format!("it holds {} bytes, a key is 32", bytes.len()),
    })
}
