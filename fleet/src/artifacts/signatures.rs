//! The operator's artifact signature (a `codesign` object, as `jobhost
//! artifact sign` writes it), stored beside its artifact as
//! `.codesign-<name>.json`: the leading dot makes it no artifact's name, so
//! it is never served and never collides with one.
//!
//! A file and its signature change together ([`Artifacts::commit`]), under
//! the store's lock, in an order that survives a crash at any point: the
//! old signature is removed before the new file is renamed into place, and
//! the new one is renamed in after it. An artifact is at worst left
//! unsigned; it is never paired with a signature of other bytes. The store
//! checks that a signature is for the file's size and sha256; whether its
//! key is trusted is for devices to say.

use super::{check_name, ArtifactError, ArtifactInfo, Artifacts};
use crate::signed_dir::is_valid_name;
use crate::staged::{FileError, Sealed, TEMP_PREFIX};
use jobhost_protocol::codesign::Codesign;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{MutexGuard, PoisonError};

/// The name of an artifact's signature file is this, its name, `.json`.
const SIGNATURE_PREFIX: &str = ".codesign-";

/// One artifact in a listing (`GET /artifacts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactSummary {
    /// The artifact's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its unsigned URL.
    pub url: String,
    /// Whether it is stored with an artifact signature.
    pub signed: bool,
    /// The signing key's id, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

impl Artifacts {
    /// Makes the sealed upload artifact `sealed.receipt().name`, with
    /// `codesign` as its signature, or unsigned: any signature the name had
    /// goes. A signature that is not for exactly this file's size and
    /// sha256 is refused, and nothing changes.
    pub fn commit(
        &self,
        sealed: Sealed<ArtifactInfo>,
        codesign: Option<&Codesign>,
    ) -> Result<ArtifactInfo, ArtifactError> {
        let info = sealed.receipt();
        if let Some(c) = codesign {
            if c.raw_payload_size != info.size || c.sha256_hex() != info.sha256 {
                return Err(ArtifactError::SignatureMismatch {
                    name: info.name.clone(),
                    size: info.size,
                    sha256: info.sha256.clone(),
                    signed_size: c.raw_payload_size,
                    signed_sha256: c.sha256_hex(),
                });
            }
        }
        let signature_path = self.signature_path(&info.name);
        // Written (and synced) before anything visible changes.
        let staged = codesign
            .map(|c| stage(&self.dir, c.to_file_text().as_bytes()))
            .transpose()?;
        let _held = self.hold();
        remove_if_present(&signature_path)?;
        // Renames the file in and syncs the directory (the removal too).
        let mut info = sealed.commit()?;
        if let Some(staged) = staged {
            let io = |source| FileError {
                path: signature_path.clone(),
                source,
            };
            staged.persist(&signature_path).map_err(|e| io(e.error))?;
            fs::File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        info.codesign = codesign.map(Codesign::to_json);
        Ok(info)
    }

    /// The signature artifact `name` is stored with: [`ArtifactError::NotFound`]
    /// without such an artifact, [`ArtifactError::Unsigned`] without a
    /// signature.
    pub fn codesign_of(&self, name: &str) -> Result<Codesign, ArtifactError> {
        check_name(name)?;
        let _held = self.hold();
        let size = self.size_of(name)?;
        let codesign = self
            .read_signature(name)?
            .ok_or_else(|| ArtifactError::Unsigned(name.to_owned()))?;
        if codesign.raw_payload_size != size {
            return Err(ArtifactError::BadStoredSignature {
                name: name.to_owned(),
                why: format!(
                    "it is for {} bytes, and the file has {size}",
                    codesign.raw_payload_size
                ),
            });
        }
        Ok(codesign)
    }

    /// Every artifact, by name, with its size and whether it is signed.
    pub fn list(&self) -> Result<Vec<ArtifactSummary>, ArtifactError> {
        let io = |source| FileError {
            path: self.dir.clone(),
            source,
        };
        let _held = self.hold();
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if is_valid_name(&name) && entry.file_type().map_err(io)?.is_file() {
                names.push(name);
            }
        }
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let key_id = self.read_signature(&name)?.map(|c| c.key_id_hex());
                Ok(ArtifactSummary {
                    size: self.size_of(&name)?,
                    url: self.url_of(&name),
                    signed: key_id.is_some(),
                    key_id,
                    name,
                })
            })
            .collect()
    }

    /// Artifact `name` as an upload of it returned: size, sha256 (read
    /// from the file now), URL and signature.
    pub fn describe(&self, name: &str) -> Result<ArtifactInfo, ArtifactError> {
        check_name(name)?;
        let path = self.dir.join(name);
        let (mut file, codesign) = {
            let _held = self.hold();
            let file = match fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(ArtifactError::NotFound(name.to_owned()))
                }
                Err(source) => return Err(FileError { path, source }.into()),
            };
            (file, self.read_signature(name)?)
        };
        // Hashed outside the lock: the open file stays the one that was
        // there with this signature, even if it is replaced meanwhile.
        let io = |source| FileError {
            path: path.clone(),
            source,
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(ArtifactInfo {
            name: name.to_owned(),
            size,
            sha256: hex::encode(hasher.finalize()),
            url: self.url_of(name),
            codesign: codesign.as_ref().map(Codesign::to_json),
        })
    }

    fn signature_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{SIGNATURE_PREFIX}{name}.json"))
    }

    fn hold(&self) -> MutexGuard<'_, ()> {
        self.commits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn size_of(&self, name: &str) -> Result<u64, ArtifactError> {
        let path = self.dir.join(name);
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(m.len()),
            Ok(_) => Err(ArtifactError::NotFound(name.to_owned())),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(ArtifactError::NotFound(name.to_owned()))
            }
            Err(source) => Err(FileError { path, source }.into()),
        }
    }

    fn read_signature(&self, name: &str) -> Result<Option<Codesign>, ArtifactError> {
        let path = self.signature_path(name);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FileError { path, source }.into()),
        };
        Codesign::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ArtifactError::BadStoredSignature {
                name: name.to_owned(),
                why: e.to_string(),
            })
    }
}

/// `bytes` in a synced temporary file in `dir`, to be renamed into place.
fn stage(dir: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, FileError> {
    let io = |source| FileError {
        path: dir.to_owned(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    Ok(file)
}

fn remove_if_present(path: &Path) -> Result<(), FileError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FileError {
            path: path.to_owned(),
            source,
        }),
    }
}
