//! Why a plugin file was refused: [`VerifyError`], which gathers the
//! framing, signature and manifest checks. Each message names exactly what
//! failed, because it ends up as a job's REJECTED reason or as the one line
//! an operator reads from `jobhost plugin verify`. The other modules'
//! errors live beside the code that raises them.

use super::format::FormatError;
use super::keys::KeyId;
use super::manifest::ManifestError;
use std::io;
use std::path::PathBuf;

/// Why a signed plugin was refused. Checked in this order: size, format,
/// signature (trust, revocation, integrity), manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Over the size limit the caller passed.
    #[error("file is {size} bytes, over the {max}-byte limit")]
    Oversize {
        /// The file's size (at least; reading stops past the limit).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Bad preamble, truncated, malformed framing.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// No signature section at all.
    #[error("unsigned: no `signature` custom section after the preamble")]
    Unsigned,
    /// A signature section exists, but not where the convention puts it;
    /// the sections before it would not be covered.
    #[error("unsigned: the `signature` custom section is section {index}, not the first section")]
    SignatureNotFirst {
        /// Its 0-based index.
        index: usize,
    },
    /// The signature section's payload cannot be decoded.
    #[error("malformed signature section: {reason}")]
    MalformedSignature {
        /// What is wrong.
        reason: String,
    },
    /// The trust store is empty: nothing can verify.
    #[error("no trusted public keys to verify against")]
    NoTrustedKeys,
    /// No signature was made by a trusted key.
    #[error(
        "signed by an unknown key: no signature verifies with the {trusted} trusted key(s) \
         (the signatures name key id {key_ids})"
    )]
    UnknownKey {
        /// The key ids the signatures name ("none" for a signature without
        /// one), comma-separated.
        key_ids: String,
        /// How many keys are trusted.
        trusted: usize,
    },
    /// The only valid signatures are by revoked keys.
    #[error("signed by revoked key {key_id}")]
    RevokedKey {
        /// The revoked key's id.
        key_id: KeyId,
    },
    /// A trusted key's signature does not verify: the signature bytes were
    /// altered (or made over a different message).
    #[error("no valid signature: the signature by trusted key {key_id} does not verify")]
    BadSignature {
        /// The key the signature claims, or the only trusted key tried.
        key_id: KeyId,
    },
    /// A trusted key's signature verifies, but over several hashes
    /// (wasmsign2 `--split`, or delimiter sections): each hash covers a part
    /// of the file, and a file cut at a part's end would still carry a valid
    /// signature, so jobhost accepts only one hash over the whole content.
    #[error(
        "signature by key {key_id} covers {hashes} hashes (a split or delimited wasmsign2 \
         signature); jobhost accepts only a signature over the whole file: sign it with \
         `jobhost plugin sign`, or with `wasmsign2 sign` without --split"
    )]
    SplitSignature {
        /// The trusted key whose signature it is.
        key_id: KeyId,
        /// How many hashes its set holds.
        hashes: usize,
    },
    /// A trusted key's signature verifies, but over different content: the
    /// code or the manifest changed after signing.
    #[error(
        "no valid signature: the content (code or manifest) changed after key {key_id} signed it"
    )]
    ContentChanged {
        /// The key whose signature is valid for other content.
        key_id: KeyId,
    },
    /// Signed, but without jobhost's manifest section.
    #[error("manifest missing: no `jobhost-manifest` custom section")]
    ManifestMissing,
    /// The signed manifest is not acceptable.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(#[source] ManifestError),
}
