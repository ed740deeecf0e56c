//! Writing one stored file (an artifact, a device's upload): to a
//! temporary file next to its destination, hashed and counted on the way,
//! then fsynced and renamed into place, so that a reader never sees a
//! partial file, a crash leaves none behind, and a replaced file is
//! swapped in one rename (a download in progress keeps the old one). A
//! caller that must look at the finished file's size and digest before it
//! becomes visible seals it first ([`StagedWriter::seal`]).

use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The prefix of our temporary files (files in progress, a key being
/// created); the leading dot keeps them out of listings and unservable.
pub(crate) const TEMP_PREFIX: &str = ".upload-";

/// A file operation that failed, and on which path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    /// The file or directory.
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

/// What a store hands back for a finished file (its `ArtifactInfo`,
/// `UploadInfo`), completed with what only the writer knows.
pub trait Receipt {
    /// Records the file's final size and SHA-256 (lower-case hex).
    fn complete(&mut self, size: u64, sha256: String);
}

/// A file being written; nothing is visible under its name until
/// [`StagedWriter::finish`], and dropping the writer discards it.
pub struct StagedWriter<R> {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    size: u64,
    path: PathBuf,
    receipt: R,
}

impl<R: Receipt> StagedWriter<R> {
    /// Starts writing `dir/name` (a temporary in `dir` until finished);
    /// `receipt` is returned, completed, by [`StagedWriter::finish`].
    pub(crate) fn create(dir: &Path, name: &str, receipt: R) -> Result<Self, FileError> {
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)
            .map_err(|source| FileError {
                path: dir.to_owned(),
                source,
            })?;
        Ok(Self {
            file,
            hasher: Sha256::new(),
            size: 0,
            path: dir.join(name),
            receipt,
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), FileError> {
        self.file.write_all(bytes).map_err(|source| FileError {
            path: self.file.path().to_owned(),
            source,
        })?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Makes the file durable (fsync) and visible under its name, in one
    /// rename, replacing an earlier file of the same name.
    pub fn finish(self) -> Result<R, FileError> {
        self.seal()?.commit()
    }

    /// Makes the file durable (fsync) and completes the receipt, but leaves
    /// the file under its temporary name: the caller looks at the receipt
    /// (the size and digest, against a signature, say) and then makes it
    /// visible ([`Sealed::commit`]) or drops it.
    pub fn seal(self) -> Result<Sealed<R>, FileError> {
        let Self {
            file,
            hasher,
            size,
            path,
            mut receipt,
        } = self;
        file.as_file().sync_all().map_err(|source| FileError {
            path: file.path().to_owned(),
            source,
        })?;
        receipt.complete(size, hex::encode(hasher.finalize()));
        Ok(Sealed {
            file,
            path,
            receipt,
        })
    }
}

/// A complete, durable file not yet visible under its name; dropping it
/// discards the file.
pub struct Sealed<R> {
    file: tempfile::NamedTempFile,
    path: PathBuf,
    receipt: R,
}

impl<R> Sealed<R> {
    /// The completed receipt (size and SHA-256 filled in).
    pub fn receipt(&self) -> &R {
        &self.receipt
    }

    /// Where the file goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the file visible under its name, in one rename, replacing an
    /// earlier file of the same name; the rename is made durable too.
    pub fn commit(self) -> Result<R, FileError> {
        let Self {
            file,
            path,
            receipt,
        } = self;
        let io = |source| FileError {
            path: path.clone(),
            source,
        };
        file.persist(&path).map_err(|e| io(e.error))?;
        if let Some(dir) = path.parent() {
            // Make the rename itself survive a power cut.
            fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(receipt)
    }
}
