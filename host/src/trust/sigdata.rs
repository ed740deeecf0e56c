//! The payload of the `signature` custom section, as the WebAssembly
//! signatures convention defines it and wasmsign2 0.2.8 implements it
//! (`src/signature/sig_sections.rs`):
//!
//! ```text
//! signature_data   = spec_version:varuint7(0x01) content_type:varuint7(0x01)
//!                    hash_function:varuint7(0x01 = SHA-256)
//!                    count:varuint32 (bytes(signed_hashes))*count
//! signed_hashes    = count:varuint32 (hash:[u8; 32])*count
//!                    count:varuint32 (bytes(signature))*count
//! signature        = bytes(key_id) alg_id:u8(0x01 = Ed25519) bytes(ed25519_signature)
//! bytes(x)         = len:varuint32 x
//! ```
//!
//! A signature covers the message `"wasmsig" 0x01 0x01 0x01 hash...` where
//! the hashes are those of its `signed_hashes` entry; for a whole-file
//! signature that is one SHA-256 over every byte after the signature section.

use super::format::{put_u32, read_u32};

/// Specification version, content type (a module/component) and hash
/// function (SHA-256): the only values the convention defines.
pub(crate) const SPEC_VERSION: u8 = 0x01;
pub(crate) const CONTENT_TYPE: u8 = 0x01;
pub(crate) const HASH_SHA256: u8 = 0x01;
/// The Ed25519 algorithm id (also the public key file's first byte).
pub(crate) const ALG_ED25519: u8 = 0x01;
/// The domain separator of the signed message.
pub(crate) const DOMAIN: &[u8] = b"wasmsig";

/// wasmsign2's bounds (`MAX_HASHES`, `MAX_SIGNATURES`), which also keep a
/// hostile section from making us allocate much.
const MAX_HASHES: usize = 64;
const MAX_SIGNATURES: usize = 256;

/// Why a `signature` section's payload cannot be decoded. Typed here and
/// turned into text only where it becomes the user-facing report:
/// `VerifyError::MalformedSignature` and
/// `Inspection::signature_error`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SigDataError {
    /// A version, content type or hash function other than the one the
    /// convention defines.
    #[error("{field} {found:#04x}, expected {expected:#04x}{note}")]
    Unsupported {
        field: &'static str,
        found: u8,
        expected: u8,
        /// What the expected value means, if it needs saying.
        note: &'static str,
    },
    /// A field that needs more bytes than are left.
    #[error("{what} runs past the end of the section")]
    PastEnd { what: &'static str },
    /// A varuint7 with its high bit set.
    #[error("{what} is not a 7-bit value")]
    Not7Bit { what: &'static str },
    /// A varuint32 that is cut off or longer than 5 bytes.
    #[error("{what} is not a valid LEB128")]
    BadLeb128 { what: &'static str },
    /// A count over wasmsign2's bound.
    #[error("{count} {what}, more than the {max} allowed")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    /// Bytes after the last field, which wasmsign2 would ignore.
    #[error("{count} unexpected byte(s) after {what}")]
    Trailing { what: &'static str, count: usize },
}

/// The decoded section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignatureData {
    pub signed_hashes_set: Vec<SignedHashes>,
}

/// A list of hashes and the signatures over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedHashes {
    pub hashes: Vec<[u8; 32]>,
    pub signatures: Vec<SignatureEntry>,
}

/// One signature. Entries with an algorithm other than Ed25519 are
/// skipped when decoding, as wasmsign2 does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignatureEntry {
    /// Empty in the file means "no key id".
    pub key_id: Option<Vec<u8>>,
    pub signature: Vec<u8>,
}

impl SignedHashes {
    /// The message each signature of this entry signs.
    pub fn message(&self) -> Vec<u8> {
        signed_message(&self.hashes)
    }
}

/// `"wasmsig" || 0x01 || 0x01 || 0x01 || hashes...`
pub(crate) fn signed_message(hashes: &[[u8; 32]]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(DOMAIN.len() + 3 + 32 * hashes.len());
    msg.extend_from_slice(DOMAIN);
    msg.extend_from_slice(&[SPEC_VERSION, CONTENT_TYPE, HASH_SHA256]);
    for h in hashes {
        msg.extend_from_slice(h);
    }
    msg
}

impl SignatureData {
    /// Encodes the section payload (without the section header and name).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![SPEC_VERSION, CONTENT_TYPE, HASH_SHA256];
        put_u32(&mut out, self.signed_hashes_set.len() as u32);
        for set in &self.signed_hashes_set {
            let mut inner = Vec::new();
            put_u32(&mut inner, set.hashes.len() as u32);
            for h in &set.hashes {
                inner.extend_from_slice(h);
            }
            put_u32(&mut inner, set.signatures.len() as u32);
            for sig in &set.signatures {
                let mut entry = Vec::new();
                put_bytes(&mut entry, sig.key_id.as_deref().unwrap_or_default());
                entry.push(ALG_ED25519);
                put_bytes(&mut entry, &sig.signature);
                put_bytes(&mut inner, &entry);
            }
            put_bytes(&mut out, &inner);
        }
        out
    }

    /// Decodes a section payload. Bytes after the last hash set, after a
    /// set's last signature or after an entry's signature are refused,
    /// where wasmsign2 ignores them: the payload is not signed, so every
    /// ignored byte would be another file, another whole-file digest, for
    /// the same signed content (security review L2).
    pub fn decode(payload: &[u8]) -> Result<Self, SigDataError> {
        let mut r = Reader::new(payload);
        r.exactly("specification version", SPEC_VERSION, "")?;
        r.exactly("content type", CONTENT_TYPE, "")?;
        r.exactly("hash function", HASH_SHA256, " (SHA-256)")?;
        let count = r.count("signed hash sets", MAX_HASHES)?;
        let mut signed_hashes_set = Vec::with_capacity(count);
        for _ in 0..count {
            let mut s = Reader::new(r.bytes("signed hash set")?);
            let n = s.count("hashes", MAX_HASHES)?;
            let mut hashes = Vec::with_capacity(n);
            for _ in 0..n {
                let h: [u8; 32] = s
                    .take(32, "hash")?
                    .try_into()
                    .expect("take(32) returns 32 bytes");
                hashes.push(h);
            }
            let n = s.count("signatures", MAX_SIGNATURES)?;
            let mut signatures = Vec::with_capacity(n);
            for _ in 0..n {
                let mut e = Reader::new(s.bytes("signature entry")?);
                let key_id = e.bytes("key id")?;
                let alg = e.take(1, "algorithm id")?[0];
                let signature = e.bytes("signature")?;
                e.finish("the signature of a signature entry")?;
                if alg == ALG_ED25519 {
                    signatures.push(SignatureEntry {
                        key_id: (!key_id.is_empty()).then(|| key_id.to_vec()),
                        signature: signature.to_vec(),
                    });
                }
            }
            s.finish("the last signature of a signed hash set")?;
            signed_hashes_set.push(SignedHashes { hashes, signatures });
        }
        r.finish("the last signed hash set")?;
        Ok(Self { signed_hashes_set })
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

/// A cursor whose errors say which field ran out.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SigDataError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(SigDataError::PastEnd { what })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u7(&mut self, what: &'static str) -> Result<u8, SigDataError> {
        let b = self.take(1, what)?[0];
        if b & 0x80 != 0 {
            return Err(SigDataError::Not7Bit { what });
        }
        Ok(b)
    }

    /// Reads a varuint7 that must be `expected` (`note` says what it means).
    fn exactly(
        &mut self,
        field: &'static str,
        expected: u8,
        note: &'static str,
    ) -> Result<(), SigDataError> {
        match self.u7(field)? {
            found if found == expected => Ok(()),
            found => Err(SigDataError::Unsupported {
                field,
                found,
                expected,
                note,
            }),
        }
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, SigDataError> {
        let (v, next) =
            read_u32(self.bytes, self.pos).map_err(|_| SigDataError::BadLeb128 { what })?;
        self.pos = next;
        Ok(v)
    }

    fn count(&mut self, what: &'static str, max: usize) -> Result<usize, SigDataError> {
        let count = self.u32(what)? as usize;
        if count > max {
            return Err(SigDataError::TooMany { what, count, max });
        }
        Ok(count)
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], SigDataError> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }

    /// Refuses bytes left after `what`, the last field.
    fn finish(&self, what: &'static str) -> Result<(), SigDataError> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            count => Err(SigDataError::Trailing { what, count }),
        }
    }
}
