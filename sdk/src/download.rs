//! Downloads through the host (needs the `download` capability for the
//! URL's host). The host streams to a temporary file, checks size and
//! sha256 while streaming, and renames into place only on success.

use crate::bindings::jobhost::plugin::download as wit;
use crate::HostError;

/// A completed download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes written.
    pub bytes: u64,
    /// sha256 of the file, lowercase hex.
    pub sha256: String,
}

/// Downloads `url` to `destination` (a path inside a granted, writable
/// directory, as the plugin sees it). With `sha256`, a mismatch fails the
/// download and leaves nothing behind.
pub fn fetch(
    url: &str,
    destination: &str,
    sha256: Option<&str>,
    max_bytes: Option<u64>,
) -> Result<Downloaded, HostError> {
    let response = wit::fetch(&wit::Request {
        url: url.to_owned(),
        destination: destination.to_owned(),
        sha256: sha256.map(str::to_owned),
        max_bytes,
    })?;
    Ok(Downloaded {
        bytes: response.bytes,
        sha256: response.sha256,
    })
}
