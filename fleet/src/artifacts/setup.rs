//! Opening the artifact directory: the public base URL and the directory
//! itself (owner-only). The URL-signing key is `crate::presign`'s.

use super::ArtifactError;
use std::fs;
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
