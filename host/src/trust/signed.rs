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

use super::error::{FormatError, SignError, VerifyError};
use super::format::{self, Preamble, Section};
use super::keys::{KeyId, PublicKey, SecretKey};
use super::manifest::{Manifest, MANIFEST_SECTION};
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
    pub fn verify(&self, bytes: Vec<u8>, max_bytes: u64) -> Result<VerifiedPlugin, VerifyError> {
        if bytes.len() as u64 > max_bytes {
            return Err(VerifyError::Oversize {
                size: bytes.len() as u64,
                max: max_bytes,
            });
        }
        format::check_preamble(&bytes)?;
        let sections = format::sections(&bytes)?;
        let (signature, content) = split_signature(&bytes, &sections)?;
        let key_id = self.check_signature(&signature, content)?;
        let manifest = find_manifest(&sections[1..])?.ok_or(VerifyError::ManifestMissing)?;
        let manifest = Manifest::from_json(manifest).map_err(VerifyError::ManifestInvalid)?;
        let digest = hex::encode(Sha256::digest(&bytes));
        Ok(VerifiedPlugin {
            bytes,
            manifest,
            digest,
            key_id,
        })
    }

    /// Finds a signature by a trusted, unrevoked key whose hashes include
    /// the content's; otherwise says as precisely as possible why not.
    fn check_signature(&self, data: &SignatureData, content: &[u8]) -> Result<KeyId, VerifyError> {
        if self.keys.is_empty() {
            return Err(VerifyError::NoTrustedKeys);
        }
        let hash: [u8; 32] = Sha256::digest(content).into();
        // The best explanation so far, from most to least telling.
        let mut revoked = None;
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
                    } else if set.hashes.contains(&hash) {
                        return Ok(key.id());
                    } else {
                        changed.get_or_insert(key.id());
                    }
                }
            }
        }
        if let Some(key_id) = revoked {
            return Err(VerifyError::RevokedKey { key_id });
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
/// the proof: the runtime's [`Plugin::from_verified`] takes nothing else.
///
/// [`Plugin::from_verified`]: crate::runtime::Plugin::from_verified
#[derive(Clone)]
pub struct VerifiedPlugin {
    bytes: Vec<u8>,
    manifest: Manifest,
    digest: String,
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

    /// sha256 of the whole file, lowercase hex.
    pub fn digest(&self) -> &str {
        &self.digest
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
    let sections = format::sections(component)?;
    let mut content = Vec::with_capacity(component.len() + 1024);
    for s in &sections {
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

/// Looks inside a plugin file without any trust decision.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, FormatError> {
    let preamble = match format::preamble(bytes)? {
        Preamble::Component => "component".to_owned(),
        Preamble::CoreModule => "core-module".to_owned(),
        Preamble::Other => super::error::hex_bytes(&bytes[..8]),
    };
    let sections = format::sections(bytes)?;
    let first = sections.first().filter(|s| s.is_custom(SIGNATURE_SECTION));
    let mut key_ids = Vec::new();
    let mut signature_error = None;
    if let Some((_, payload)) = first.and_then(|s| s.custom) {
        match SignatureData::decode(payload) {
            Ok(data) => {
                for set in &data.signed_hashes_set {
                    for sig in &set.signatures {
                        key_ids.push(sig.key_id.as_deref().map(hex::encode));
                    }
                }
            }
            Err(e) => signature_error = Some(e),
        }
    }
    let manifest = match find_manifest(&sections) {
        Ok(None) => None,
        Ok(Some(json)) => Some(Manifest::from_json(json).map_err(|e| e.to_string())),
        Err(e) => Some(Err(e.to_string())),
    };
    Ok(Inspection {
        digest: hex::encode(Sha256::digest(bytes)),
        size: bytes.len(),
        preamble,
        signed: first.is_some(),
        key_ids,
        signature_error,
        manifest,
    })
}

/// The decoded signature section and the bytes it covers (everything
/// after it).
fn split_signature<'a>(
    bytes: &'a [u8],
    sections: &[Section<'a>],
) -> Result<(SignatureData, &'a [u8]), VerifyError> {
    let Some(first) = sections.first().filter(|s| s.is_custom(SIGNATURE_SECTION)) else {
        return Err(
            match sections.iter().find(|s| s.is_custom(SIGNATURE_SECTION)) {
                Some(s) => VerifyError::SignatureNotFirst { index: s.index },
                None => VerifyError::Unsigned,
            },
        );
    };
    if let Some(again) = sections[1..]
        .iter()
        .find(|s| s.is_custom(SIGNATURE_SECTION))
    {
        return Err(VerifyError::MalformedSignature {
            reason: format!("a second `signature` section (section {})", again.index),
        });
    }
    let (_, payload) = first.custom.expect("a custom section has a name and data");
    let data = SignatureData::decode(payload)
        .map_err(|reason| VerifyError::MalformedSignature { reason })?;
    Ok((data, &bytes[first.offset + first.raw.len()..]))
}

/// The data of the one manifest section, if there is one.
fn find_manifest<'a>(sections: &[Section<'a>]) -> Result<Option<&'a [u8]>, VerifyError> {
    let found: Vec<&[u8]> = sections
        .iter()
        .filter(|s| s.is_custom(MANIFEST_SECTION))
        .filter_map(|s| s.custom.map(|(_, data)| data))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(VerifyError::ManifestInvalid(
            super::error::ManifestError::Duplicate { count: many.len() },
        )),
    }
}
