//! Writing one artifact: to a temporary file in the artifact directory,
//! hashed on the way, then fsynced and renamed into place, so that a
//! reader never sees a partial file and a crash leaves none behind.

use super::ArtifactError;
use super::ArtifactInfo;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::PathBuf;

/// An artifact being written; see [`super::Artifacts::create`].
pub struct ArtifactWriter {
    pub(super) file: tempfile::NamedTempFile,
    pub(super) hasher: Sha256,
    pub(super) size: u64,
    pub(super) path: PathBuf,
    pub(super) info: ArtifactInfo,
}

impl ArtifactWriter {
    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ArtifactError> {
        self.file
            .write_all(bytes)
            .map_err(|source| ArtifactError::Io {
                path: self.file.path().to_owned(),
                source,
            })?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Makes the artifact durable (fsync) and visible under its name, in
    /// one rename.
    pub fn finish(self) -> Result<ArtifactInfo, ArtifactError> {
        let Self {
            file,
            hasher,
            size,
            path,
            mut info,
        } = self;
        let io = |source| ArtifactError::Io {
            path: path.clone(),
            source,
        };
        file.as_file().sync_all().map_err(io)?;
        file.persist(&path).map_err(|e| io(e.error))?;
        if let Some(dir) = path.parent() {
            // Make the rename itself survive a power cut.
            fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        info.size = size;
        info.sha256 = hex::encode(hasher.finalize());
        Ok(info)
    }
}
