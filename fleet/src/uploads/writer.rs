//! Writing one upload: to a temporary file in its job's directory, hashed
//! and counted on the way, then fsynced and renamed into place, so that an
//! operator never fetches a partial file and a crash leaves none behind.

use super::{UploadError, UploadInfo};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// An upload being written; see [`super::Uploads::create`].
pub struct UploadWriter {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    path: PathBuf,
    info: UploadInfo,
}

impl UploadWriter {
    pub(super) fn new(file: tempfile::NamedTempFile, path: PathBuf, info: UploadInfo) -> Self {
        Self {
            file,
            hasher: Sha256::new(),
            path,
            info,
        }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.info.size
    }

    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), UploadError> {
        self.file
            .write_all(bytes)
            .map_err(|source| UploadError::Io {
                path: self.file.path().to_owned(),
                source,
            })?;
        self.hasher.update(bytes);
        self.info.size += bytes.len() as u64;
        Ok(())
    }

    /// Makes the upload durable (fsync) and visible under its name, in one
    /// rename, replacing an earlier upload of the same name.
    pub fn finish(self) -> Result<UploadInfo, UploadError> {
        let Self {
            file,
            hasher,
            path,
            mut info,
        } = self;
        let io = |source| UploadError::Io {
            path: path.clone(),
            source,
        };
        file.as_file().sync_all().map_err(io)?;
        file.persist(&path).map_err(|e| io(e.error))?;
        if let Some(dir) = path.parent() {
            // Make the rename itself survive a power cut.
            fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        info.sha256 = Some(hex::encode(hasher.finalize()));
        info.uploaded_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Ok(info)
    }
}
