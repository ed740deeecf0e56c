//! Unit tests: the format, keys and manifest on small components made with
//! `wat`, and cross-checks against the wasmsign2 library itself. The real
//! plugins and the wasmsign2 command-line tool are in host/tests/all/signing.rs.
//!
//! By concern: `verify` (sign, verify, refusals, inspect),
//! `signature_section` (what the signature section's payload may hold),
//! `framing` (sections, LEB128), `manifests`, `key_files`, and `reference`
//! (the wasmsign2 library 0.2.8).

#![allow(clippy::unwrap_used)]

mod framing;
mod key_files;
mod manifests;
mod reference;
mod signature_section;
mod verify;

use super::format::{put_u32, read_u32, Section};
use super::sigdata::{signed_message, SignatureData, SignatureEntry, SignedHashes};
use super::*;
use sha2::{Digest, Sha256};

const MANIFEST: &str = r#"
name = "echo"
version = "1.2.3"
operations = ["echo", "echo.v2"]
wit = "jobhost:plugin/operation-plugin@0.1.0"

[capabilities]
download = true
run_command = ["/usr/bin/systemctl"]
dirs = [{ path = "/data", access = "rw" }, { path = "/etc/ssl" }]
"#;

fn component() -> Vec<u8> {
    wat::parse_str(r#"(component (core module (func (export "f"))))"#).unwrap()
}

fn manifest() -> Manifest {
    Manifest::from_toml(MANIFEST).unwrap()
}

fn key() -> SecretKey {
    SecretKey::generate().unwrap()
}

fn trust(keys: &[&SecretKey]) -> TrustStore {
    TrustStore::new(keys.iter().map(|k| k.public_key()), [])
}

const MAX: u64 = 1 << 20;

/// Every section of a (test-made, well-formed) file.
fn all_sections(bytes: &[u8]) -> Vec<Section<'_>> {
    format::sections(bytes).collect::<Result<_, _>>().unwrap()
}
