//! The artifact signatures one download is held to
//! (`crate::trust::artifact`): the codesigns the job document binds to the
//! URL the plugin asked for, verified with `[trust]`'s keys before a byte is
//! fetched, and the body checked against them, by the size and sha256
//! counted while it streamed, before it is moved into place. A plugin
//! cannot skip this: it is the host's download, not the plugin's.

use crate::runtime::bindings::types::HostError;
use crate::trust::artifact::VerifiedCodesign;
use crate::trust::artifact::{codesigns_for, ArtifactError, ArtifactTrust, Codesign};
use crate::trust::KeyId;
use serde_json::Value;

/// The verified codesigns of one download (none: the document binds none
/// to its URL, and the device does not require one).
#[derive(Debug, Default)]
pub(super) struct Signed(Vec<VerifiedCodesign>);

/// The codesigns `documents` bind to `url`, verified with `trust`.
/// `documents` are the job document as the plugin got it and as last
/// fetched again for a fresh presigned URL: the plugin may ask for a URL
/// from either, and the place it has there is the same in both. Each
/// codesign bound is verified (several are all held to); none, where the
/// device requires signed artifacts, is refused.
///
/// A malformed codesign is the document's fault (`invalid-argument`, so a
/// plugin reports REJECTED); a signature that does not verify is
/// `failed` (FAILED), with the reason.
pub(super) fn bind(
    trust: &ArtifactTrust,
    documents: &[&str],
    url: &str,
) -> Result<Signed, HostError> {
    let mut codesigns: Vec<Codesign> = Vec::new();
    for text in documents {
        let Ok(document) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        for value in codesigns_for(&document, url) {
            let codesign = Codesign::from_json(value)
                .map_err(|e| HostError::InvalidArgument(e.to_string()))?;
            if !codesigns.contains(&codesign) {
                codesigns.push(codesign);
            }
        }
    }
    if codesigns.is_empty() && trust.require {
        return Err(failed(ArtifactError::Unsigned));
    }
    codesigns
        .iter()
        .map(|c| trust.store.verify_codesign(c).map_err(failed))
        .collect::<Result<_, _>>()
        .map(Signed)
}

impl Signed {
    /// Whether no codesign applies.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the body, `size` bytes with digest `sha256`, is the file
    /// every codesign is for.
    pub fn check(&self, size: u64, sha256: &[u8; 32]) -> Result<(), HostError> {
        self.0
            .iter()
            .try_for_each(|v| v.check_file(size, sha256).map_err(failed))
    }

    /// The keys whose signatures verified.
    pub fn key_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.0.iter().map(VerifiedCodesign::key_id)
    }
}

fn failed(e: ArtifactError) -> HostError {
    match e {
        ArtifactError::Malformed(e) => HostError::InvalidArgument(e.to_string()),
        e => HostError::Failed(e.to_string()),
    }
}
