//! The `codesign` object: an operator's detached Ed25519 signature over a
//! file that jobs download (an artifact), as `jobhost artifact sign` writes
//! it to `FILE.sig`, the jobs service stores it beside the artifact, and a
//! job document carries it to devices next to the file's `url`.
//!
//! ```json
//! {"format": "jobhost-artifact-signature/1",
//!  "keyId": "0123456789abcdef01234567",
//!  "fileName": "fw-1.2.bin",
//!  "rawPayloadSize": 1048576,
//!  "sha256": "<64 lowercase hex>",
//!  "signatureAlgorithm": "ED25519",
//!  "hashAlgorithm": "SHA256",
//!  "signature": "<base64 of the 64-byte Ed25519 signature>"}
//! ```
//!
//! `rawPayloadSize`, `signature` and `signatureAlgorithm` are the names of
//! AWS IoT's own `codesign` element; the rest is jobhost's. The key id is
//! the one plugin signatures carry (`jobhost plugin keygen` prints it).
//!
//! # What is signed
//!
//! The signature is Ed25519 over [`signed_message`]:
//!
//! ```text
//! jobhost-artifact-signature/1 LF <fileName> LF <rawPayloadSize, decimal> LF <sha256, lowercase hex> LF
//! ```
//!
//! It binds the file (its size and digest) and the name the operator
//! signed it under, never a URL, so it survives mirrors and presigning.
//! The encoding is unambiguous: the last two lines are digits and 64 hex
//! characters, and a name holds no control character. The domain tag
//! keeps the two kinds of signature a key makes apart: a plugin signature
//! (the WebAssembly signatures convention) signs `"wasmsig" 01 01 01`
//! followed by hashes, whose first byte is `w`; an artifact signature's
//! message starts with `j`. No message is both, so neither signature
//! verifies as the other.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// The `format` value, and the domain tag that starts the signed message.
pub const FORMAT: &str = "jobhost-artifact-signature/1";

/// The only `signatureAlgorithm`.
pub const SIGNATURE_ALGORITHM: &str = "ED25519";

/// The only `hashAlgorithm`.
pub const HASH_ALGORITHM: &str = "SHA256";

/// The longest `fileName`, in bytes: NAME_MAX of Linux file systems.
pub const FILE_NAME_MAX_BYTES: usize = 255;

/// The fields of the object, in the order a `.sig` file has them.
pub const FIELDS: [&str; 8] = [
    "format",
    "keyId",
    "fileName",
    "rawPayloadSize",
    "sha256",
    "signatureAlgorithm",
    "hashAlgorithm",
    "signature",
];

/// A `codesign` object whose every field was checked: the signature itself
/// is verified by the device against its trusted keys (`jobhost::trust`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codesign {
    /// The signing key's id (12 bytes, shown as 24 hex digits).
    pub key_id: [u8; 12],
    /// The name the file was signed under ([`check_file_name`]).
    pub file_name: String,
    /// The file's size in bytes.
    pub raw_payload_size: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
    /// The Ed25519 signature over [`Codesign::signed_message`].
    pub signature: [u8; 64],
}

/// Why a `codesign` object (or a `.sig` file) was refused; each message
/// names the field, as `codesign.<field>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodesignError {
    /// The text is not JSON at all.
    #[error("codesign is not JSON: {why}")]
    NotJson {
        /// The parser's message.
        why: String,
    },
    /// JSON, but not an object.
    #[error("codesign is {found}, not a JSON object")]
    NotAnObject {
        /// What it is instead.
        found: &'static str,
    },
    /// A field the object must have.
    #[error("codesign.{field} is missing")]
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field this version does not know.
    #[error("codesign has an unknown field `{field}` (known: {})", FIELDS.join(", "))]
    UnknownField {
        /// The field, as written.
        field: String,
    },
    /// A field with a value that cannot be right.
    #[error("codesign.{field} {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong, as it follows the field's name.
        why: String,
    },
}

/// The object as written: serde only, in [`FIELDS`] order.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    format: &'a str,
    key_id: String,
    file_name: &'a str,
    raw_payload_size: u64,
    sha256: String,
    signature_algorithm: &'a str,
    hash_algorithm: &'a str,
    signature: String,
}

impl Codesign {
    /// Reads a `.sig` file's text.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CodesignError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| CodesignError::NotJson { why: e.to_string() })?;
        Self::from_json(&value)
    }

    /// Reads a `codesign` object, checking every field.
    pub fn from_json(value: &Value) -> Result<Self, CodesignError> {
        let object = match value {
            Value::Object(object) => object,
            Value::String(s) if s.starts_with("${") => {
                return Err(CodesignError::NotAnObject {
                    found: "a string (a placeholder the jobs service did not replace?)",
                })
            }
            other => return Err(CodesignError::NotAnObject { found: kind(other) }),
        };
        if !object.contains_key("format") {
            // Most likely another tool's object (AWS Signer's, say).
            return Err(CodesignError::Invalid {
                field: "format",
                why: format!(
                    "is missing: jobhost verifies only its own artifact signatures \
                     (`jobhost artifact sign`, format {FORMAT:?})"
                ),
            });
        }
        if let Some(field) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(CodesignError::UnknownField {
                field: field.clone(),
            });
        }
        exactly(object, "format", FORMAT)?;
        exactly(object, "signatureAlgorithm", SIGNATURE_ALGORITHM)?;
        exactly(object, "hashAlgorithm", HASH_ALGORITHM)?;
        let key_id = hex_field::<12>(object, "keyId")?;
        let file_name = string(object, "fileName")?;
        check_file_name(file_name)?;
        let raw_payload_size = match field(object, "rawPayloadSize")? {
            Value::Number(n) => n.as_u64().ok_or_else(|| CodesignError::Invalid {
                field: "rawPayloadSize",
                why: format!("is {n}, not a whole number of bytes"),
            })?,
            other => return Err(wrong_type("rawPayloadSize", "a number", other)),
        };
        let sha256 = hex_field::<32>(object, "sha256")?;
        let signature = base64_field::<64>(object, "signature")?;
        Ok(Self {
            key_id,
            file_name: file_name.to_owned(),
            raw_payload_size,
            sha256,
            signature,
        })
    }

    /// The object, as a job document carries it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.wire()).expect("a struct of strings and a number serialises")
    }

    /// The `.sig` file's text: the object, pretty-printed in [`FIELDS`]
    /// order, with a final newline.
    pub fn to_file_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.wire())
            .expect("a struct of strings and a number serialises");
        text.push('\n');
        text
    }

    fn wire(&self) -> Wire<'_> {
        use base64::Engine as _;
        Wire {
            format: FORMAT,
            key_id: hex(&self.key_id),
            file_name: &self.file_name,
            raw_payload_size: self.raw_payload_size,
            sha256: hex(&self.sha256),
            signature_algorithm: SIGNATURE_ALGORITHM,
            hash_algorithm: HASH_ALGORITHM,
            signature: base64::engine::general_purpose::STANDARD.encode(self.signature),
        }
    }

    /// The key id, as 24 lowercase hex digits.
    pub fn key_id_hex(&self) -> String {
        hex(&self.key_id)
    }

    /// The file's SHA-256, as 64 lowercase hex digits.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    /// What the signature signs ([`signed_message`] of this object's name,
    /// size and digest).
    pub fn signed_message(&self) -> Vec<u8> {
        signed_message(&self.file_name, self.raw_payload_size, &self.sha256)
    }
}

/// The message an artifact signature signs, as the module docs describe:
/// `FORMAT LF name LF size LF sha256-hex LF`. `file_name` must pass
/// [`check_file_name`].
pub fn signed_message(file_name: &str, size: u64, sha256: &[u8; 32]) -> Vec<u8> {
    format!("{FORMAT}\n{file_name}\n{size}\n{}\n", hex(sha256)).into_bytes()
}

/// Whether `name` may be signed as a file's name: 1 to
/// [`FILE_NAME_MAX_BYTES`] bytes, a base name (no `/`, not `.` or `..`),
/// no NUL or other control character (it is shown in listings and
/// terminals, and ends a line of the signed message).
pub fn check_file_name(name: &str) -> Result<(), CodesignError> {
    let invalid = |why: String| CodesignError::Invalid {
        field: "fileName",
        why,
    };
    if name.is_empty() {
        return Err(invalid("is empty".into()));
    }
    if name.len() > FILE_NAME_MAX_BYTES {
        return Err(invalid(format!(
            "is {} bytes long; at most {FILE_NAME_MAX_BYTES} are allowed",
            name.len()
        )));
    }
    if name.contains('/') {
        return Err(invalid(format!(
            "{name:?} contains `/`: it is a file's base name, not a path"
        )));
    }
    if name == "." || name == ".." {
        return Err(invalid(format!("{name:?} is not a file's name")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{:?} contains a control character (NUL, newline, ...)",
            name
        )));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &'static str, expected: &str, found: &Value) -> CodesignError {
    CodesignError::Invalid {
        field,
        why: format!("must be {expected}, not {}", kind(found)),
    }
}

fn field<'a>(
    object: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a Value, CodesignError> {
    object
        .get(name)
        .ok_or(CodesignError::Missing { field: name })
}

fn string<'a>(
    object: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, CodesignError> {
    match field(object, name)? {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(name, "a string", other)),
    }
}

/// A field that must be `expected`, e.g. `signatureAlgorithm`.
fn exactly(
    object: &Map<String, Value>,
    name: &'static str,
    expected: &str,
) -> Result<(), CodesignError> {
    match string(object, name)? {
        s if s == expected => Ok(()),
        s => Err(CodesignError::Invalid {
            field: name,
            why: format!("is {s:?}; this version of jobhost knows only {expected:?}"),
        }),
    }
}

/// An `N`-byte value written as `2N` hex digits (either case).
fn hex_field<const N: usize>(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<[u8; N], CodesignError> {
    let s = string(object, name)?;
    let bad = || CodesignError::Invalid {
        field: name,
        why: format!("{s:?} is not {} hex digits", 2 * N),
    };
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// An `N`-byte value in standard base64 (with padding).
fn base64_field<const N: usize>(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<[u8; N], CodesignError> {
    use base64::Engine as _;
    let s = string(object, name)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| CodesignError::Invalid {
            field: name,
            why: format!("is not base64: {e}"),
        })?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| CodesignError::Invalid {
        field: name,
        why: format!("is {len} bytes; an Ed25519 signature is {N}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Codesign {
        Codesign {
            key_id: [0xab; 12],
            file_name: "fw-1.2.bin".into(),
            raw_payload_size: 5,
            sha256: [0x11; 32],
            signature: [7; 64],
        }
    }

    #[test]
    fn the_object_round_trips_in_its_documented_shape() {
        let c = sample();
        let v = c.to_json();
        assert_eq!(v["format"], FORMAT);
        assert_eq!(v["keyId"], "abababababababababababab");
        assert_eq!(v["rawPayloadSize"], 5);
        assert_eq!(v["signatureAlgorithm"], "ED25519");
        assert_eq!(v["hashAlgorithm"], "SHA256");
        assert_eq!(v.as_object().unwrap().len(), FIELDS.len());
        assert_eq!(Codesign::from_json(&v).unwrap(), c);
        let text = c.to_file_text();
        assert!(
            text.find("\"format\"") < text.find("\"signature\""),
            "{text}"
        );
        assert_eq!(Codesign::from_slice(text.as_bytes()).unwrap(), c);
    }

    #[test]
    fn the_signed_message_is_the_documented_byte_string() {
        let m = sample().signed_message();
        let expected = format!(
            "jobhost-artifact-signature/1\nfw-1.2.bin\n5\n{}\n",
            "11".repeat(32)
        );
        assert_eq!(m, expected.as_bytes());
        assert_ne!(m[0], b'w', "never a plugin signature's \"wasmsig\" message");
    }

    #[test]
    fn each_malformed_field_is_named() {
        let good = sample().to_json();
        let with = |field: &str, value: Value| {
            let mut v = good.clone();
            v[field] = value;
            Codesign::from_json(&v).unwrap_err().to_string()
        };
        let without = |field: &str| {
            let mut v = good.clone();
            v.as_object_mut().unwrap().remove(field);
            Codesign::from_json(&v).unwrap_err().to_string()
        };
        assert_eq!(without("signature"), "codesign.signature is missing");
        assert_eq!(without("keyId"), "codesign.keyId is missing");
        assert!(without("format").starts_with("codesign.format is missing: jobhost verifies only"));
        assert!(with("format", json!("x/2")).contains("codesign.format is \"x/2\""));
        assert!(with("signatureAlgorithm", json!("RSA")).contains("knows only \"ED25519\""));
        assert!(with("hashAlgorithm", json!("SHA1")).contains("codesign.hashAlgorithm"));
        assert!(with("keyId", json!("abc")).contains("codesign.keyId \"abc\" is not 24 hex"));
        assert!(with("sha256", json!("zz".repeat(32))).contains("codesign.sha256"));
        assert!(with("rawPayloadSize", json!(-1)).contains("not a whole number"));
        assert!(with("rawPayloadSize", json!("5")).contains("must be a number, not a string"));
        assert!(with("signature", json!("***")).contains("is not base64"));
        assert!(with("signature", json!("AAAA")).contains("is 3 bytes; an Ed25519 signature is 64"));
        assert!(with("fileName", json!("a/b")).contains("contains `/`"));
        assert!(with("extra", json!(1)).contains("unknown field `extra`"));
        assert!(
            Codesign::from_json(&json!("${aws:iot:code-sign-signature:x}"))
                .unwrap_err()
                .to_string()
                .contains("placeholder")
        );
        assert_eq!(
            Codesign::from_json(&json!([1])).unwrap_err().to_string(),
            "codesign is an array, not a JSON object"
        );
        assert!(Codesign::from_slice(b"{")
            .unwrap_err()
            .to_string()
            .starts_with("codesign is not JSON"));
    }

    #[test]
    fn file_names_are_base_names_without_control_characters() {
        for good in ["fw.bin", "a b", "é.tar.gz", &"x".repeat(255)] {
            assert!(check_file_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a/b", "/", ".", "..", "a\0b", "a\nb", &"x".repeat(256)] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
