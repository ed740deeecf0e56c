//! The signed single-file plugin: signing, verification against a trust
//! store, and an unverified look inside for `jobhost plugin inspect`.
//!
//! # Format
//!
//! ```text
//! 00 61 73 6d 0d 00 01 00      component preamble (pinned by jobhost: the
//!                              signature does not cover these 8 bytes)
//! custom "signature"           WebAssembly signatures convention (wasmsign2)
//! ...component sections...     the component, byte for byte as built
//! custom "jobhost-manifest"    the manifest, compact JSON
//! ```
//!
//! The signature covers SHA-256 of every byte after the signature section,
//! so the code and the manifest; wasmtime ignores both custom sections.

use super::error::VerifyError;
use super::format::{self, FormatError, Preamble, Section};
use super::keys::{KeyId, PublicKey, SecretKey};
use super::manifest::{Manifest, ManifestError, MANIFEST_SECTION};
use super::sigdata::{self, SignatureData, SignatureEntry, SignedHashes};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The custom section the WebAssembly signatures convention puts first.
pub const SIGNATURE_SECTION: &str = "signature";

/// The keys a device (or an operator running `verify`) trusts, and the key
/// ids it refuses even when a key is listed: several keys allow rotation,
/// revocation retires one without touching the others.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    keys: Vec<PublicKey>,
    revoked: BTreeSet<KeyId>,
}

impl TrustStore {
    /// Trusts `keys` (duplicates are dropped), except the `revoked` ids.
    pub fn new(
        keys: impl IntoIterator<Item = PublicKey>,
        revoked: impl IntoIterator<Item = KeyId>,
    ) -> Self {
        let mut store = Self::default();
        for key in keys {
            if !store.keys.iter().any(|k| k.id() == key.id()) {
                store.keys.push(key);
            }
        }
        store.revoked = revoked.into_iter().collect();
        store
    }

    /// The trusted keys, in the order given.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The revoked key ids.
    pub fn revoked(&self) -> &BTreeSet<KeyId> {
        &self.revoked
    }

    /// Reads `path` (at most `max_bytes` + 1 bytes: an oversized file is
    /// never loaded whole) and verifies it.
    pub fn verify_file(&self, path: &Path, max_bytes: u64) -> Result<VerifiedPlugin, VerifyError> {
        let read_err = |source| VerifyError::Read {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        if size > max_bytes {
            return Err(VerifyError::Oversize {
                size,
                max: max_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        self.verify(bytes, max_bytes)
    }

    /// Verifies a signed plugin before anything else parses it: size,
    /// preamble (exactly the component preamble), section framing, a
    /// signature by a trusted, unrevoked key over everything after the
    /// signature section, and the manifest.
    ///
    /// The sections are walked one at a time and only the manifest is kept:
    /// memory stays the file plus a constant, whatever the file holds
    /// (security review M5).
    pub fn verify(&self, bytes: Vec<u8>, max_bytes: u64) -> Result<VerifiedPlugin, VerifyError> {
        if bytes.len() as u64 > max_bytes {
            return Err(VerifyError::Oversize {
                size: bytes.len() as u64,
                max: max_bytes,
            });
        }
        format::check_preamble(&bytes)?;
        let mut sections = format::sections(&bytes);
        let first = sections.next().transpose()?;
        let Some((first, payload)) =
            first.and_then(|s| Some((s, s.custom_data(SIGNATURE_SECTION)?)))
        else {
            // Refused whatever follows; the walk only says why, as
            // precisely as it can (and a framing error first).
            let rest = Walk::over(sections, None)?;
            return Err(match rest.signature {
                Some(index) => VerifyError::SignatureNotFirst { index },
                None => VerifyError::Unsigned,
            });
        };
        let rest = Walk::over(sections, Some(format::MAX_SECTIONS))?;
        if let Some(index) = rest.signature {
            return Err(VerifyError::MalformedSignature {
                reason: format!("a second `signature` section (section {index})"),
            });
        }
        let signature =
            SignatureData::decode(payload).map_err(|e| VerifyError::MalformedSignature {
                reason: e.to_string(),
            })?;
        // The covered bytes are one slice of the file: hashing them needs
        // no copy.
        let content = &bytes[first.offset + first.raw.len()..];
        let hash: [u8; 32] = Sha256::digest(content).into();
        let key_id = self.check_signature(&signature, &hash)?;
        let manifest = rest.manifest()?.ok_or(VerifyError::ManifestMissing)?;
        let manifest = Manifest::from_json(manifest).map_err(VerifyError::ManifestInvalid)?;
        let digest = hex::encode(Sha256::digest(&bytes));
        Ok(VerifiedPlugin {
            bytes,
            manifest,
            digest,
            content_digest: hex::encode(hash),
            key_id,
        })
    }

    /// Finds a signature by a trusted, unrevoked key over exactly one
    /// hash, `hash` (the content's); otherwise says as precisely as possible
    /// why not. A set of several hashes (wasmsign2 `--split`) is refused even
    /// when one of them matches: each covers only a prefix of the file, so
    /// a file cut at a delimiter would verify (security review L1).
    fn check_signature(&self, data: &SignatureData, hash: &[u8; 32]) -> Result<KeyId, VerifyError> {
        if self.keys.is_empty() {
            return Err(VerifyError::NoTrustedKeys);
        }
        // The best explanation so far, from most to least telling.
        let mut revoked = None;
        let mut split = None;
        let mut changed = None;
        let mut bad = None;
        let mut named = Vec::new();
        for set in &data.signed_hashes_set {
            let message = set.message();
            for sig in &set.signatures {
                named.push(sig.key_id.clone());
                if let Some(id) = sig.key_id.as_deref().and_then(KeyId::from_slice) {
                    if self.revoked.contains(&id) {
                        revoked.get_or_insert(id);
                        continue;
                    }
                }
                for key in self.candidates(sig) {
                    if !key.verifies(&message, &sig.signature) {
                        // Only a signature naming this key is known to be
                        // damaged; one naming no key may be by any key.
                        if sig.key_id.is_some() {
                            bad.get_or_insert(key.id());
                        }
                        continue;
                    }
                    if self.revoked.contains(&key.id()) {
                        revoked.get_or_insert(key.id());
                        continue;
                    }
                    match set.hashes.as_slice() {
                        [only] if only == hash => return Ok(key.id()),
                        [_] => {
                            changed.get_or_insert(key.id());
                        }
                        many => {
                            split.get_or_insert((key.id(), many.len()));
                        }
                    }
                }
            }
        }
        if let Some(key_id) = revoked {
            return Err(VerifyError::RevokedKey { key_id });
        }
        if let Some((key_id, hashes)) = split {
            return Err(VerifyError::SplitSignature { key_id, hashes });
        }
        if let Some(key_id) = changed {
            return Err(VerifyError::ContentChanged { key_id });
        }
        if let Some(key_id) = bad {
            return Err(VerifyError::BadSignature { key_id });
        }
        if named.is_empty() {
            return Err(VerifyError::MalformedSignature {
                reason: "the section holds no Ed25519 signature".into(),
            });
        }
        let key_ids = named
            .iter()
            .map(|id| id.as_deref().map_or_else(|| "none".to_owned(), hex::encode))
            .collect::<Vec<_>>()
            .join(", ");
        Err(VerifyError::UnknownKey {
            key_ids,
            trusted: self.keys.len(),
        })
    }

    /// The keys a signature may be by: the one its key id names (as
    /// wasmsign2 matches them), or every trusted key when it names none.
    fn candidates<'a>(&'a self, sig: &'a SignatureEntry) -> impl Iterator<Item = &'a PublicKey> {
        self.keys.iter().filter(move |k| match &sig.key_id {
            Some(id) => id.as_slice() == k.id().as_bytes(),
            None => true,
        })
    }
}

/// A plugin file whose signature, trust, revocation status and manifest
/// were checked. Only [`TrustStore::verify`] makes one, so holding one is
/// the proof: the runtime's [`CompiledPlugin::from_verified`] takes nothing else.
///
/// [`CompiledPlugin::from_verified`]: crate::runtime::CompiledPlugin::from_verified
#[derive(Clone)]
pub struct VerifiedPlugin {
    bytes: Vec<u8>,
    manifest: Manifest,
    digest: String,
    content_digest: String,
    key_id: KeyId,
}

impl VerifiedPlugin {
    /// The whole signed file, exactly as verified (wasmtime loads it
    /// unchanged).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The signed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// sha256 of the whole file, lowercase hex: what a job's `sha256` and
    /// the compiled cache name. It changes when the same content is signed
    /// again (another key, another signature), see
    /// [`VerifiedPlugin::content_digest`].
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// sha256 of what the signature covers (every byte after the signature
    /// section: code and manifest), lowercase hex. The signature section
    /// itself is unsigned, so only this digest names the signed content:
    /// re-signing, adding a signature or any other change to that section
    /// leaves it unchanged (security review L2).
    pub fn content_digest(&self) -> &str {
        &self.content_digest
    }

    /// The trusted key whose signature verified.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
}

impl std::fmt::Debug for VerifiedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedPlugin")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version.to_string())
            .field("digest", &self.digest)
            .field("content_digest", &self.content_digest)
            .field("key_id", &self.key_id)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// Signs a component: drops any previous `signature` and
/// `jobhost-manifest` sections, appends `manifest` as a custom section, and
/// puts the signature section first. The component's own sections are
/// copied byte for byte.
pub fn sign(component: &[u8], manifest: &Manifest, key: &SecretKey) -> Result<Vec<u8>, SignError> {
    manifest.validate()?;
    format::check_preamble(component)?;
    let mut content = Vec::with_capacity(component.len() + 1024);
    for s in format::sections(component) {
        let s = s?;
        if !(s.is_custom(SIGNATURE_SECTION) || s.is_custom(MANIFEST_SECTION)) {
            content.extend_from_slice(s.raw);
        }
    }
    content.extend_from_slice(&format::custom_section(
        MANIFEST_SECTION,
        &manifest.to_json(),
    ));

    let hash: [u8; 32] = Sha256::digest(&content).into();
    let hashes = vec![hash];
    let signature = key.sign(&sigdata::signed_message(&hashes));
    let data = SignatureData {
        signed_hashes_set: vec![SignedHashes {
            hashes,
            signatures: vec![SignatureEntry {
                key_id: Some(key.public_key().id().as_bytes().to_vec()),
                signature: signature.to_vec(),
            }],
        }],
    };
    let mut out = Vec::with_capacity(content.len() + 200);
    out.extend_from_slice(&format::COMPONENT_PREAMBLE);
    out.extend_from_slice(&format::custom_section(SIGNATURE_SECTION, &data.encode()));
    out.extend_from_slice(&content);
    Ok(out)
}

/// What a plugin file says about itself, NOT verified: for operators
/// looking at a file, never for deciding to run it.
#[derive(Debug)]
pub struct Inspection {
    /// sha256 of the whole file, lowercase hex.
    pub digest: String,
    /// sha256 of every byte after the signature section (what a signature
    /// covers), when the file starts with one.
    pub content_digest: Option<String>,
    /// File size.
    pub size: usize,
    /// `component`, `core-module`, or the hex of an unknown preamble.
    pub preamble: String,
    /// Whether the first section is a signature section.
    pub signed: bool,
    /// The key ids the signatures name (`None`: a signature without one).
    pub key_ids: Vec<Option<String>>,
    /// Why the signature section could not be decoded, if it could not.
    pub signature_error: Option<String>,
    /// The embedded manifest: absent, or its parse result.
    pub manifest: Option<Result<Manifest, String>>,
}

/// Looks inside a plugin file without any trust decision. Like
/// [`TrustStore::verify`], it walks the sections without collecting them,
/// and refuses a file of more than `format::MAX_SECTIONS` sections.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, FormatError> {
    let preamble = match format::preamble(bytes)? {
        Preamble::Component => "component".to_owned(),
        Preamble::CoreModule => "core-module".to_owned(),
        Preamble::Other => format::hex_bytes(&bytes[..8]),
    };
    let mut sections = format::sections(bytes);
    let first = sections.next().transpose()?;
    // The first section counts too: an unsigned file may start with its
    // manifest.
    let walk = Walk::over(
        first.into_iter().map(Ok).chain(sections),
        Some(format::MAX_SECTIONS),
    )?;
    let signature = first.and_then(|s| Some((s, s.custom_data(SIGNATURE_SECTION)?)));
    let mut key_ids = Vec::new();
    let mut signature_error = None;
    if let Some((_, payload)) = signature {
        match SignatureData::decode(payload) {
            Ok(data) => {
                for set in &data.signed_hashes_set {
                    for sig in &set.signatures {
                        key_ids.push(sig.key_id.as_deref().map(hex::encode));
                    }
                }
            }
            Err(e) => signature_error = Some(e.to_string()),
        }
    }
    let manifest = match walk.manifest() {
        Ok(None) => None,
        Ok(Some(json)) => Some(Manifest::from_json(json).map_err(|e| e.to_string())),
        Err(e) => Some(Err(e.to_string())),
    };
    Ok(Inspection {
        digest: hex::encode(Sha256::digest(bytes)),
        content_digest: signature
            .map(|(s, _)| hex::encode(Sha256::digest(&bytes[s.offset + s.raw.len()..]))),
        size: bytes.len(),
        preamble,
        signed: signature.is_some(),
        key_ids,
        signature_error,
        manifest,
    })
}

/// What one walk over sections keeps: where a `signature` section was met
/// and the `jobhost-manifest` sections, never a list of sections.
#[derive(Debug, Default)]
struct Walk<'a> {
    /// Index of the first `signature` section met.
    signature: Option<usize>,
    /// How many `jobhost-manifest` sections were met.
    manifests: usize,
    /// The first one's data.
    manifest: Option<&'a [u8]>,
}

impl<'a> Walk<'a> {
    /// Walks every section, stopping at the first framing error. `cap`
    /// bounds the index a section may have ([`FormatError::TooManySections`]
    /// beyond it); `None` for a file that is refused whatever the walk
    /// finds, so the walk only says why, as it did before the cap existed.
    fn over(
        sections: impl Iterator<Item = Result<Section<'a>, FormatError>>,
        cap: Option<usize>,
    ) -> Result<Self, FormatError> {
        let mut walk = Self::default();
        for section in sections {
            let section = section?;
            if let Some(max) = cap.filter(|&max| section.index >= max) {
                return Err(FormatError::TooManySections { max });
            }
            if section.is_custom(SIGNATURE_SECTION) {
                walk.signature.get_or_insert(section.index);
            } else if let Some(data) = section.custom_data(MANIFEST_SECTION) {
                walk.manifests += 1;
                walk.manifest.get_or_insert(data);
            }
        }
        Ok(walk)
    }

    /// The data of the one manifest section, if there is one.
    fn manifest(&self) -> Result<Option<&'a [u8]>, VerifyError> {
        match self.manifests {
            0 | 1 => Ok(self.manifest),
            count => Err(VerifyError::ManifestInvalid(ManifestError::Duplicate {
                count,
            })),
        }
    }
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
