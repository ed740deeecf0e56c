//! Signed plugins: the single-file format, operator keys, and verification
//! before any WebAssembly parser sees a plugin's bytes.
//!
//! A signed plugin is the component itself with two custom sections added:
//! a `signature` section first (the WebAssembly signatures convention that
//! the third-party `wasmsign2` tool implements and verifies) and a
//! `jobhost-manifest` section last (name, version, operations, requested
//! capabilities, WIT world). The signature covers every byte after itself,
//! code and manifest; jobhost also pins the 8-byte component preamble, which
//! the convention leaves unsigned. wasmtime loads the signed file unchanged.
//! `docs/plugin-format.md` describes the format for operators.
//!
//! # Layout
//!
//! - `manifest`: [`Manifest`] (TOML in, JSON embedded) and its validation.
//! - `keys`: [`SecretKey`], [`PublicKey`], [`KeyId`], in wasmsign2's files.
//! - `signed`: [`sign`], [`TrustStore::verify`] → [`VerifiedPlugin`],
//!   [`inspect`].
//! - `format`: preamble and section framing, read without a wasm parser.
//! - `sigdata`: the `signature` section's payload.
//! - `artifact`: code-signed artifacts, the files jobs download: the
//!   detached `codesign` signature (same keys, another signed message),
//!   its verification, and which file of a job document it signs.
//! - `error`: [`VerifyError`], why a plugin file was refused. Each other
//!   error is beside the code that raises it: [`FormatError`] in `format`,
//!   [`KeyError`] in `keys`, [`ManifestError`] in `manifest`, [`SignError`]
//!   in `signed`.

pub mod artifact;
mod error;
mod format;
mod keys;
mod manifest;
mod sigdata;
mod signed;
#[cfg(test)]
mod tests;

pub use crate::requests::RequestError;
pub use error::VerifyError;
pub use format::{FormatError, COMPONENT_PREAMBLE, CORE_MODULE_PREAMBLE};
pub use keys::{public_key_path, KeyError, KeyId, PublicKey, SecretKey};
pub use manifest::{
    Access, Capabilities, DirRequest, Manifest, ManifestError, HOST_WIT, MANIFEST_SECTION,
    MAX_MANIFEST_BYTES, RESERVED_OPERATIONS, WIT_WORLD,
};
pub use signed::{
    inspect, sign, Inspection, SignError, TrustStore, VerifiedPlugin, SIGNATURE_SECTION,
};
