//! What the fuzz targets share: the fixed test keys, an independent reader
//! of the signed file's first section, and writing seed corpora.
//!
//! Seeds: every target's `init` calls [`seeds`]; when the environment
//! variable `JOBHOST_FUZZ_WRITE_SEEDS` names a directory, the target writes
//! its seeds there (made from the repository's real inputs) and exits
//! instead of fuzzing. `scripts/fuzz --seeds` does that for every target.

use jobhost::trust::{PublicKey, SecretKey};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The environment variable that asks a target for its seeds.
pub const WRITE_SEEDS: &str = "JOBHOST_FUZZ_WRITE_SEEDS";

/// The fixed Ed25519 key every fuzz target trusts (its secret is public:
/// test use only).
pub fn test_key() -> SecretKey {
    key_from_seed([0x5a; 32])
}

/// A second key, trusted by nobody.
pub fn other_key() -> SecretKey {
    key_from_seed([0xa5; 32])
}

/// The public half of [`test_key`].
pub fn test_public_key() -> PublicKey {
    test_key().public_key()
}

fn key_from_seed(seed: [u8; 32]) -> SecretKey {
    let pair = ed25519_dalek::SigningKey::from_bytes(&seed).to_keypair_bytes();
    // wasmsign2's secret key file: 0x81, then the 64-byte key pair.
    let mut bytes = vec![0x81];
    bytes.extend_from_slice(&pair);
    SecretKey::from_bytes(&bytes).expect("a well-formed test key")
}

/// Where the first top-level section after the 8-byte preamble ends, read
/// independently of `jobhost::trust` (id byte, LEB128 size); None when the
/// header is cut off or the section runs past the end.
pub fn first_section_end(bytes: &[u8]) -> Option<usize> {
    let mut pos = 9;
    let mut size: u64 = 0;
    for shift in 0..5 {
        let byte = *bytes.get(pos)?;
        pos += 1;
        size |= u64::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            let end = pos.checked_add(usize::try_from(size).ok()?)?;
            return (end <= bytes.len()).then_some(end);
        }
    }
    None
}

/// A custom section: id 0, LEB128 size, LEB128 name length, name, data.
pub fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    let mut payload = leb(name.len());
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let mut out = vec![0];
    out.extend(leb(payload.len()));
    out.extend(payload);
    out
}

fn leb(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// The repository's root (the fuzz crate's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fuzz/ is inside the repository")
        .to_owned()
}

/// When [`WRITE_SEEDS`] is set: writes `make()`'s (name, bytes) pairs into
/// that directory and exits the process.
pub fn seeds(make: impl FnOnce() -> Vec<(String, Vec<u8>)>) {
    let Some(dir) = std::env::var_os(WRITE_SEEDS) else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create the seed directory");
    let seeds = make();
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
    eprintln!("wrote {} seeds to {}", seeds.len(), dir.display());
    std::process::exit(0);
}

/// Every file in `dir` (relative to the repository) whose name ends with
/// `suffix`, as seeds named `<prefix><file name>`.
pub fn files(dir: &str, suffix: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(repo_root().join(dir)) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(suffix) {
            if let Ok(bytes) = std::fs::read(entry.path()) {
                out.push((format!("{prefix}{name}"), bytes));
            }
        }
    }
    out.sort();
    out
}

/// The plugin manifests in `plugins/*/plugin.toml`, as (plugin, TOML).
pub fn plugin_manifests() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(repo_root().join("plugins")) else {
        return out;
    };
    for entry in entries.flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path().join("plugin.toml")) {
            out.push((entry.file_name().to_string_lossy().into_owned(), text));
        }
    }
    out.sort();
    out
}

/// Whether a JSON value holds a float anywhere: serde_json without its
/// `float_roundtrip` feature may read a float's printed form back one ulp
/// off, so exact round-trip properties hold only for documents without one.
pub fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}
