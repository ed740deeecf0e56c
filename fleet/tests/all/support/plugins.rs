//! The first-party plugins, built by `scripts/build-plugins` and signed
//! here as an operator would (`jobhost plugin sign`), through the same
//! library code the CLI uses.

use jobhost::trust::{sign, Manifest, SecretKey};
use std::path::{Path, PathBuf};

/// `target/plugins` (or `$CARGO_TARGET_DIR/plugins`).
pub fn built_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("plugins")
}

/// The built component `name`.wasm and its manifest, as built.
pub fn built(name: &str) -> (Vec<u8>, Manifest) {
    let dir = built_dir();
    let wasm = dir.join(format!("{name}.wasm"));
    let toml = dir.join(format!("{name}.toml"));
    assert!(
        wasm.is_file() && toml.is_file(),
        "{} or its manifest is missing: run scripts/build-plugins first",
        wasm.display()
    );
    let manifest = Manifest::from_toml(&std::fs::read_to_string(&toml).expect("manifest"))
        .expect("first-party manifests are valid");
    (std::fs::read(&wasm).expect("plugin"), manifest)
}

/// `name` signed by `key` with its own manifest, optionally edited first
/// (another version, say).
pub fn signed(name: &str, key: &SecretKey, edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
    let (wasm, mut manifest) = built(name);
    edit(&mut manifest);
    sign(&wasm, &manifest, key).expect("sign")
}

/// A fresh operator key, written as `dir/operator.key` + `operator.key.pub`.
/// Returns the key and the public key file (for `[trust] keys`).
pub fn operator_key(dir: &Path, file: &str) -> (SecretKey, PathBuf) {
    let key = SecretKey::generate().expect("key");
    let public = key.write_files(&dir.join(file)).expect("write key");
    (key, public)
}

/// Installs `names`, signed by `key`, into `plugin_dir` as the operator
/// provisioning a device would.
pub fn provision(plugin_dir: &Path, key: &SecretKey, names: &[&str]) {
    std::fs::create_dir_all(plugin_dir).expect("plugin dir");
    for name in names {
        std::fs::write(
            plugin_dir.join(format!("{name}.wasm")),
            signed(name, key, |_| {}),
        )
        .expect("write plugin");
    }
}

/// The probe reports `<verb>:<path>`; statusDetails keys allow only
/// `[a-zA-Z0-9:_-]`, so the path's other characters arrive as `_`.
pub fn probe_key(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
