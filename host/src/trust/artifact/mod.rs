//! Code-signed artifacts: the files jobs download (firmware, application
//! bundles), signed by the operator with the same keys as plugins.
//!
//! `jobhost artifact sign` makes a detached signature, the `codesign`
//! object ([`Codesign`], format and signed message in
//! `jobhost_protocol::codesign`); a job document carries it beside the
//! file's `url` ([`codesigns_for`]); the host's `download` capability verifies it
//! with a key of `[trust] keys` that is not revoked, and checks the body's
//! size and sha256 against it, before the file is moved into place.
//!
//! # Layout
//!
//! - `mod.rs`: [`sign_artifact`], [`TrustStore::verify_codesign`] →
//!   [`VerifiedCodesign`] → [`VerifiedCodesign::check_file`];
//!   [`ArtifactTrust`], what a device checks with; [`ArtifactError`].
//! - `binding`: which codesign signs which file of a job document, and the
//!   refusal of a document at plan time ([`refusal`]).

mod binding;
#[cfg(test)]
mod tests;

pub use binding::{codesigns_for, refusal, SIGNED_OPERATIONS};
pub use jobhost_protocol::codesign::{Codesign, CodesignError};

use super::keys::{KeyId, SecretKey};
use super::signed::TrustStore;

/// What a device checks artifact signatures with: `[trust] keys` and
/// `revoked` (the plugin trust store), and whether a download without a
/// codesign is refused (`[trust] require_artifact_signatures`). The
/// default trusts no key and requires nothing: a codesign in a document is
/// then always refused, never skipped.
#[derive(Debug, Clone, Default)]
pub struct ArtifactTrust {
    /// The trusted keys and the revoked ids.
    pub store: TrustStore,
    /// Whether every download a job document binds must be signed.
    pub require: bool,
}

/// Why an artifact was refused. Each message says exactly what failed: it
/// becomes the job's FAILED (or REJECTED) reason, or the line an operator
/// reads from `jobhost artifact verify`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The codesign object (or `.sig` file) is malformed.
    #[error(transparent)]
    Malformed(#[from] CodesignError),
    /// Signed by a key this device revoked.
    #[error("the artifact is signed by key {key_id}, which is revoked ([trust] revoked)")]
    RevokedKey {
        /// The key's id.
        key_id: KeyId,
    },
    /// Signed by a key this device does not trust.
    #[error(
        "the artifact is signed by unknown key id {key_id}: it is none of the {trusted} trusted \
         key(s) ([trust] keys)"
    )]
    UnknownKey {
        /// The id the codesign names.
        key_id: KeyId,
        /// How many keys are trusted.
        trusted: usize,
    },
    /// The signature does not verify with the key it names: altered, or
    /// made over another name, size or digest than the codesign states.
    #[error("the artifact's signature by key {key_id} does not verify")]
    BadSignature {
        /// The key it names.
        key_id: KeyId,
    },
    /// A valid signature, for another file.
    #[error(
        "the file is {size} bytes with sha256 {sha256}, but the signature by key {key_id} is for \
         {signed_size} bytes with sha256 {signed_sha256} ({file_name:?})"
    )]
    OtherFile {
        /// The file's size.
        size: u64,
        /// The file's sha256, hex.
        sha256: String,
        /// The signing key.
        key_id: KeyId,
        /// The size the signature is for.
        signed_size: u64,
        /// The sha256 the signature is for, hex.
        signed_sha256: String,
        /// The name it was signed under.
        file_name: String,
    },
    /// `[trust] require_artifact_signatures` and the document binds no
    /// codesign to the file.
    #[error(
        "this device requires signed artifacts ([trust] require_artifact_signatures) and the job \
         document has no codesign for this file"
    )]
    Unsigned,
}

/// A codesign whose signature verified with a trusted, unrevoked key. Only
/// [`TrustStore::verify_codesign`] makes one; the file must still be the
/// one it is for ([`VerifiedCodesign::check_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCodesign {
    codesign: Codesign,
    key_id: KeyId,
}

impl VerifiedCodesign {
    /// The trusted key whose signature verified.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The codesign itself.
    pub fn codesign(&self) -> &Codesign {
        &self.codesign
    }

    /// Whether a file of `size` bytes with digest `sha256` is the one the
    /// signature is for.
    pub fn check_file(&self, size: u64, sha256: &[u8; 32]) -> Result<(), ArtifactError> {
        let c = &self.codesign;
        if size == c.raw_payload_size && *sha256 == c.sha256 {
            return Ok(());
        }
        Err(ArtifactError::OtherFile {
            size,
            sha256: hex::encode(sha256),
            key_id: self.key_id,
            signed_size: c.raw_payload_size,
            signed_sha256: c.sha256_hex(),
            file_name: c.file_name.clone(),
        })
    }
}

impl TrustStore {
    /// Verifies a codesign's signature: by a key this store trusts, not
    /// revoked, over the codesign's own name, size and digest. The file is
    /// checked against it afterwards, once its digest is known (a download
    /// is refused before a byte of it is fetched when this fails).
    pub fn verify_codesign(&self, codesign: &Codesign) -> Result<VerifiedCodesign, ArtifactError> {
        let key_id = KeyId::from_slice(&codesign.key_id).expect("a codesign key id is 12 bytes");
        if self.revoked().contains(&key_id) {
            return Err(ArtifactError::RevokedKey { key_id });
        }
        let Some(key) = self.keys().iter().find(|k| k.id() == key_id) else {
            return Err(ArtifactError::UnknownKey {
                key_id,
                trusted: self.keys().len(),
            });
        };
        if !key.verifies(&codesign.signed_message(), &codesign.signature) {
            return Err(ArtifactError::BadSignature { key_id });
        }
        Ok(VerifiedCodesign {
            codesign: codesign.clone(),
            key_id,
        })
    }

    /// [`TrustStore::verify_codesign`], then [`VerifiedCodesign::check_file`]:
    /// whether the file of `size` bytes with digest `sha256` is signed by
    /// `codesign`. Returns the key that signed it.
    pub fn verify_artifact(
        &self,
        codesign: &Codesign,
        size: u64,
        sha256: &[u8; 32],
    ) -> Result<KeyId, ArtifactError> {
        let verified = self.verify_codesign(codesign)?;
        verified.check_file(size, sha256)?;
        Ok(verified.key_id())
    }
}

/// Signs the file `file_name` of `size` bytes with digest `sha256`: the
/// codesign object `jobhost artifact sign` writes.
pub fn sign_artifact(
    key: &SecretKey,
    file_name: &str,
    size: u64,
    sha256: [u8; 32],
) -> Result<Codesign, CodesignError> {
    jobhost_protocol::codesign::check_file_name(file_name)?;
    let message = jobhost_protocol::codesign::signed_message(file_name, size, &sha256);
    Ok(Codesign {
        key_id: *key.public_key().id().as_bytes(),
        file_name: file_name.to_owned(),
        raw_payload_size: size,
        sha256,
        signature: key.sign(&message),
    })
}
