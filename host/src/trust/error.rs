//! Why a plugin file, a manifest or a key was refused. Each message names
//! exactly what failed, because it ends up as a job's REJECTED reason or as
//! the one line an operator reads from `jobhost plugin verify`.

use super::keys::KeyId;
use std::io;
use std::path::PathBuf;

/// The bytes are not a well-formed WebAssembly component binary, as far as
/// the framing jobhost reads before anything else (preamble, section
/// headers) can tell.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// Fewer bytes than the framing announced.
    #[error("file is truncated: {what}")]
    Truncated {
        /// What was cut off, with offsets.
        what: String,
    },
    /// No `\0asm` magic.
    #[error("not a WebAssembly file (no \\0asm magic)")]
    NotWasm,
    /// The preamble of a core module: the signature does not cover the
    /// preamble, so a component must never be accepted under another one.
    #[error(
        "bad preamble {found}: this is a core WebAssembly module, not a component \
         (expected {expected})",
        found = hex_bytes(&crate::trust::format::CORE_MODULE_PREAMBLE),
        expected = hex_bytes(&crate::trust::format::COMPONENT_PREAMBLE)
    )]
    CoreModule,
    /// Some other layer or version.
    #[error(
        "bad preamble {found}: expected the component preamble {expected}",
        expected = hex_bytes(&crate::trust::format::COMPONENT_PREAMBLE)
    )]
    BadPreamble {
        /// The 8 bytes found, as hex.
        found: String,
    },
    /// A section header that cannot be read.
    #[error("malformed section {index} at offset {offset}: {reason}")]
    Malformed {
        /// 0-based index of the section after the preamble.
        index: usize,
        /// Byte offset of the section header in the file.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// More top-level sections than any real component has; walking on
    /// would only spend time on a hostile file.
    #[error("more than {max} top-level sections; no real component has that many")]
    TooManySections {
        /// The limit.
        max: usize,
    },
}

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

/// Why a manifest (TOML as written by the operator, or the JSON embedded in
/// a plugin) was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The TOML does not parse or has unknown / missing fields.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// The embedded JSON does not parse or has unknown / missing fields.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// More than one manifest section.
    #[error("{count} `jobhost-manifest` sections; expected exactly one")]
    Duplicate {
        /// How many.
        count: usize,
    },
    /// The embedded manifest is larger than any real one.
    #[error("manifest section is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// `name` is not `[a-z0-9-]{1,64}`.
    #[error("name {name:?} must be 1-64 characters of a-z, 0-9 and `-`, starting with a letter or digit")]
    BadName {
        /// The name.
        name: String,
    },
    /// `operations` is empty.
    #[error("operations is empty: a plugin must handle at least one operation")]
    NoOperations,
    /// An operation name jobhost cannot route.
    #[error("operation {operation:?}: {reason}")]
    BadOperation {
        /// The operation.
        operation: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A requested directory that is not acceptable.
    #[error("capabilities.dirs {path:?}: {reason}")]
    BadDir {
        /// The guest path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A requested program that is not acceptable.
    #[error("capabilities.run_command {program:?}: {reason}")]
    BadCommand {
        /// The program.
        program: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `wit` is not `jobhost:plugin/operation-plugin@<semver>`.
    #[error("wit {wit:?}: {reason}")]
    BadWit {
        /// The value.
        wit: String,
        /// What is wrong.
        reason: String,
    },
    /// The plugin targets a WIT world this host does not provide.
    #[error("wit {wit:?} is not compatible with this host's {host}: {reason}")]
    IncompatibleWit {
        /// The plugin's world.
        wit: String,
        /// The world this host provides.
        host: &'static str,
        /// Why.
        reason: &'static str,
    },
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
        source: io::Error,
    },
    /// The key file could not be written.
    #[error("cannot write key {path}: {source}")]
    Write {
        /// The key file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
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

/// Why a component could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The input is not a component binary.
    #[error("input: {0}")]
    Format(#[from] FormatError),
    /// The manifest is not acceptable.
    #[error("manifest: {0}")]
    Manifest(#[from] ManifestError),
}

/// `00 61 73 6d`: bytes as spaced lowercase hex, the way the docs show them.
pub(crate) fn hex_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
