//! Artifacts signed as an operator signs them (`jobhost artifact sign`),
//! through the same library code the CLI uses.

use jobhost::trust::artifact::sign_artifact;
use jobhost::trust::SecretKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Writes `bytes` as `dir/name` and its signature by `key` as
/// `dir/name.sig`, as `jobhost artifact sign` does (creating `dir`);
/// returns both paths.
pub fn sign(dir: &Path, key: &SecretKey, name: &str, bytes: &[u8]) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("the signing directory");
    let file = dir.join(name);
    std::fs::write(&file, bytes).expect("write the artifact");
    let sha: [u8; 32] = Sha256::digest(bytes).into();
    let codesign = sign_artifact(key, name, bytes.len() as u64, sha).expect("sign the artifact");
    let sig = dir.join(format!("{name}.sig"));
    std::fs::write(&sig, codesign.to_file_text()).expect("write the signature");
    (file, sig)
}
