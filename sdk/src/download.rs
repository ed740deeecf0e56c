//! Downloads through the host (needs the `download` capability for the
//! URL's host). The host streams to a temporary file, checks size and
//! sha256 while streaming, and renames into place only on success.
//!
//! A file the job document code-signs (a `codesign` object beside its
//! `url`, made by `jobhost artifact sign`) is verified by the host too,
//! whatever the plugin asks: by a trusted key, and for exactly the bytes
//! received. [`pinned_sha256`] takes the digest a document pins a file to
//! from either.

use crate::bindings::jobhost::plugin::download as wit;
use crate::{Failure, HostError};

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

/// The sha256 a document pins a file to: its own `sha256` field, else the
/// `sha256` of the `codesign` beside the file's `url`; `None` when it
/// gives neither. Both, when they differ, are the document's mistake
/// (REJECTED): which file is meant?
pub fn pinned_sha256<'a>(
    sha256: Option<&'a str>,
    codesign: Option<&'a serde_json::Value>,
) -> Result<Option<&'a str>, Failure> {
    let signed = codesign
        .and_then(|c| c.get("sha256"))
        .and_then(|s| s.as_str());
    match (sha256, signed) {
        (Some(own), Some(signed)) if !own.eq_ignore_ascii_case(signed) => {
            Err(Failure::permanent(format!(
                "sha256 {own} differs from the codesign's sha256 {signed}: which file is meant?"
            )))
        }
        (own, signed) => Ok(own.or(signed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codesign_pins_what_the_document_does_not() {
        let c = serde_json::json!({"sha256": "AB"});
        assert_eq!(pinned_sha256(None, None).unwrap(), None);
        assert_eq!(pinned_sha256(Some("ab"), None).unwrap(), Some("ab"));
        assert_eq!(pinned_sha256(None, Some(&c)).unwrap(), Some("AB"));
        assert_eq!(pinned_sha256(Some("ab"), Some(&c)).unwrap(), Some("ab"));
        assert!(pinned_sha256(Some("cd"), Some(&c)).is_err());
    }
}
