//! A file's `checksum`: `{"hashAlgorithm": "SHA256", "inline": {"value":
//! "<hex>"}}`, as jobs-agent.js documents give it.
//!
//! sha256 goes to the host, which checks it while the file streams and
//! never moves a mismatching file into place; the other algorithms
//! jobs-agent.js documents use (sha384, sha512, sha1, md5: node's crypto
//! accepts them) are computed here once the file is in place. The
//! algorithm's name is matched without regard to case or dashes (`sha256`,
//! `SHA256`, `SHA-256`). As in jobs-agent.js, a checksum without
//! `hashAlgorithm` checks nothing, and one without `inline.value` cannot be
//! checked at all; unlike it, both are found before any file is touched.

use crate::report::{codes, JobError};
use serde::Deserialize;
use sha2::Digest;
use std::io::{self, Read};
use std::path::Path;

/// jobs-agent.js's message for a checksum it cannot check (kept word for
/// word: dashboards may match on it).
pub const INLINE_ONLY: &str =
    "Installed jobs agent only supports inline checksum value provided in job document";

/// jobs-agent.js's message for a file that does not match.
pub const MISMATCH: &str = "Checksum mismatch";

/// `checksum` as the document gives it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    /// `sha256`, `SHA-512`, …
    pub hash_algorithm: Option<String>,
    /// Where the expected digest is.
    pub inline: Option<Inline>,
}

/// `checksum.inline`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Inline {
    /// The expected digest, hex.
    pub value: Option<String>,
}

/// A hash algorithm this plugin can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Checked by the host while the file streams.
    Sha256,
    /// Checked here.
    Sha384,
    /// Checked here.
    Sha512,
    /// Checked here.
    Sha1,
    /// Checked here.
    Md5,
}

impl Algorithm {
    /// The algorithm named `name` (case and dashes ignored).
    pub fn parse(name: &str) -> Option<Algorithm> {
        let plain: String = name
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Some(match plain.as_str() {
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            "sha1" => Algorithm::Sha1,
            "md5" => Algorithm::Md5,
            _ => return None,
        })
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
            Algorithm::Sha1 => "sha1",
            Algorithm::Md5 => "md5",
        }
    }

    /// Hex characters in a digest.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha384 => 96,
            Algorithm::Sha512 => 128,
            Algorithm::Sha1 => 40,
            Algorithm::Md5 => 32,
        }
    }
}

/// What a file must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The digest, lowercase hex of the algorithm's length.
    pub value: String,
}

impl Expected {
    /// The sha256 for the host to check while streaming, if that is the
    /// algorithm.
    pub fn for_host(&self) -> Option<&str> {
        (self.algorithm == Algorithm::Sha256).then_some(self.value.as_str())
    }

    /// Whether the plugin must hash the file itself after the download.
    pub fn checked_here(&self) -> bool {
        self.algorithm != Algorithm::Sha256
    }
}

impl Checksum {
    /// What `file_name` must hash to: `None` when there is nothing to
    /// check; a REJECTED error when it can never be checked.
    pub fn expected(&self, file_name: &str) -> Result<Option<Expected>, JobError> {
        let Some(name) = &self.hash_algorithm else {
            return Ok(None);
        };
        let Some(value) = self.inline.as_ref().and_then(|i| i.value.as_ref()) else {
            return Err(
                JobError::rejected(codes::UNSUPPORTED_CHECKSUM_ALGORITHM, INLINE_ONLY)
                    .because(format!("{INLINE_ONLY} (checksum of {file_name})"))
                    .detail("fileName", file_name),
            );
        };
        let Some(algorithm) = Algorithm::parse(name) else {
            let message = format!("Unsupported checksum hash algorithm: {name}");
            return Err(
                JobError::rejected(codes::UNSUPPORTED_CHECKSUM_ALGORITHM, message.clone())
                    .because(format!(
                        "{message} (of {file_name}; supported: sha256, sha384, sha512, sha1, md5)"
                    ))
                    .detail("fileName", file_name),
            );
        };
        let value = value.trim().to_ascii_lowercase();
        if value.len() != algorithm.hex_len() || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(JobError::rejected(
                codes::CHECKSUM_FAILED,
                format!(
                    "checksum of {file_name} is not {} hex characters ({})",
                    algorithm.hex_len(),
                    algorithm.name()
                ),
            )
            .detail("fileName", file_name));
        }
        Ok(Some(Expected { algorithm, value }))
    }
}

/// The digest of the file at `path`, lowercase hex.
pub fn digest_file(path: &Path, algorithm: Algorithm) -> io::Result<String> {
    let file = std::fs::File::open(path)?;
    match algorithm {
        Algorithm::Sha256 => digest::<sha2::Sha256>(file),
        Algorithm::Sha384 => digest::<sha2::Sha384>(file),
        Algorithm::Sha512 => digest::<sha2::Sha512>(file),
        Algorithm::Sha1 => digest::<sha1::Sha1>(file),
        Algorithm::Md5 => digest::<md5::Md5>(file),
    }
}

fn digest<D: Digest>(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum(algorithm: Option<&str>, value: Option<&str>) -> Checksum {
        Checksum {
            hash_algorithm: algorithm.map(str::to_owned),
            inline: Some(Inline {
                value: value.map(str::to_owned),
            }),
        }
    }

    #[test]
    fn algorithm_names_ignore_case_and_dashes() {
        for (name, want) in [
            ("sha256", Algorithm::Sha256),
            ("SHA256", Algorithm::Sha256),
            ("SHA-256", Algorithm::Sha256),
            ("Sha-512", Algorithm::Sha512),
            ("sha384", Algorithm::Sha384),
            ("SHA1", Algorithm::Sha1),
            ("MD5", Algorithm::Md5),
        ] {
            assert_eq!(Algorithm::parse(name), Some(want), "{name}");
        }
        for name in ["", "sha", "sha3-256", "crc32", "sha_256"] {
            assert_eq!(Algorithm::parse(name), None, "{name}");
        }
    }

    #[test]
    fn unsupported_or_valueless_checksums_are_rejected_with_jobs_agents_words() {
        let e = checksum(Some("crc32"), Some("00"))
            .expected("a")
            .unwrap_err();
        assert_eq!(e.code, codes::UNSUPPORTED_CHECKSUM_ALGORITHM);
        assert_eq!(e.message, "Unsupported checksum hash algorithm: crc32");
        assert!(!e.retryable);
        let e = checksum(Some("sha256"), None).expected("a").unwrap_err();
        assert_eq!(e.code, codes::UNSUPPORTED_CHECKSUM_ALGORITHM);
        assert_eq!(e.message, INLINE_ONLY);
        let no_inline = Checksum {
            hash_algorithm: Some("sha256".into()),
            inline: None,
        };
        assert_eq!(no_inline.expected("a").unwrap_err().message, INLINE_ONLY);
    }

    #[test]
    fn a_value_of_the_wrong_length_can_never_match() {
        let e = checksum(Some("sha512"), Some(&"a".repeat(64)))
            .expected("lib/x.js")
            .unwrap_err();
        assert_eq!(e.code, codes::CHECKSUM_FAILED);
        assert_eq!(
            e.message,
            "checksum of lib/x.js is not 128 hex characters (sha512)"
        );
        assert!(checksum(Some("md5"), Some(&"g".repeat(32)))
            .expected("a")
            .is_err());
    }

    #[test]
    fn no_algorithm_checks_nothing_as_in_jobs_agent() {
        assert_eq!(checksum(None, Some("00")).expected("a").unwrap(), None);
    }

    #[test]
    fn sha256_goes_to_the_host_the_rest_is_checked_here() {
        let upper = "AB".repeat(32);
        let e = checksum(Some("SHA-256"), Some(&upper))
            .expected("a")
            .unwrap()
            .unwrap();
        assert_eq!(e.for_host(), Some("ab".repeat(32).as_str()));
        assert!(!e.checked_here());
        let e = checksum(Some("md5"), Some(&"0".repeat(32)))
            .expected("a")
            .unwrap()
            .unwrap();
        assert_eq!(e.for_host(), None);
        assert!(e.checked_here());
    }

    #[test]
    fn digests_match_the_published_test_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, "abc").unwrap();
        let got = |a| digest_file(&path, a).unwrap();
        assert_eq!(got(Algorithm::Md5), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            got(Algorithm::Sha1),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            got(Algorithm::Sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(got(Algorithm::Sha384).starts_with("cb00753f45a35e8bb5a03d699ac65007"));
        assert!(got(Algorithm::Sha512).starts_with("ddaf35a193617abacc417349ae204131"));
        for a in [Algorithm::Sha384, Algorithm::Sha512] {
            assert_eq!(got(a).len(), a.hex_len());
        }
    }
}
