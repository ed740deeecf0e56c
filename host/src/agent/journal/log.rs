//! The journal's file: a preallocated log of checksummed records, the last
//! complete one being the journal's content.
//!
//! Why not replace one file atomically per change (temp file, fsync,
//! rename, fsync the directory)? That is two fsyncs and a metadata commit
//! per change, and the journal changes three times per job, twice on the
//! job's critical path (before IN_PROGRESS runs, before the terminal status
//! is sent). Here a change is one `pwrite` into blocks that were written
//! (zeros) and fsynced when the file was made, then one `fdatasync`: the
//! file's size and blocks do not change, so there is no metadata to commit,
//! and on flash it is one small write instead of a new file.
//!
//! A record is `len: u32 LE`, `check: u32 LE` (the first four bytes of the
//! SHA-256 of the payload), then `len` payload bytes. Reading stops at the
//! first header with `len` 0 (the zeros after the last record) or at a
//! record that does not check (a write torn by a crash: the change it
//! carried was never reported durable, and the record before it is the
//! state). When a record does not fit in what is left, the file is made
//! anew with that record first (the atomic replacement, once per
//! `CAPACITY` bytes of changes).

use crate::durable::write_atomically;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The journal file in the state directory.
pub(super) const FILE_NAME: &str = "journal.log";

/// The size the file is made with; the journal holds one execution and one
/// status, well under a kilobyte, so a new file is made every ~100 changes.
const CAPACITY: usize = 64 * 1024;

const HEADER: usize = 8;

/// The open log: where the next record goes.
#[derive(Debug)]
pub(super) struct RecordLog {
    path: PathBuf,
    file: File,
    end: usize,
    size: usize,
}

/// What a scan of the file found.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Scan {
    /// The payload of the last complete record.
    pub last: Option<Vec<u8>>,
    /// Where the records end.
    pub end: usize,
    /// Bytes after the last complete record that are not the zeros of
    /// unused space: a torn write, or a file that is not a journal.
    pub damaged: bool,
}

/// Reads the records of `bytes`.
pub(super) fn scan(bytes: &[u8]) -> Scan {
    let mut at = 0;
    let mut last = None;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len == 0 {
            break;
        }
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if header[4..] != check(payload) {
            break;
        }
        last = Some(payload.to_vec());
        at += HEADER + len;
    }
    let damaged = bytes[at.min(bytes.len())..].iter().any(|b| *b != 0);
    Scan {
        last,
        end: at,
        damaged,
    }
}

fn check(payload: &[u8]) -> [u8; 4] {
    let digest = Sha256::digest(payload);
    [digest[0], digest[1], digest[2], digest[3]]
}

fn record(payload: &[u8]) -> io::Result<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| io::Error::other("a journal record must be 1 byte to 4 GiB"))?;
    let mut record = Vec::with_capacity(HEADER + payload.len());
    record.extend_from_slice(&len.to_le_bytes());
    record.extend_from_slice(&check(payload));
    record.extend_from_slice(payload);
    Ok(record)
}

impl RecordLog {
    /// Reads `path` if it exists: the log positioned after its last
    /// complete record, and the scan. `None` when there is no file.
    pub(super) fn open(path: &Path) -> io::Result<Option<(RecordLog, Scan)>> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let scan = scan(&bytes);
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let log = RecordLog {
            path: path.to_owned(),
            file,
            end: scan.end,
            size: bytes.len(),
        };
        Ok(Some((log, scan)))
    }

    /// Makes `path` anew, atomically, holding `payload` as its only record
    /// (or no record).
    pub(super) fn create(path: &Path, payload: Option<&[u8]>) -> io::Result<RecordLog> {
        let first = payload.map(record).transpose()?.unwrap_or_default();
        let size = CAPACITY.max(first.len() * 4);
        let mut bytes = first;
        let end = bytes.len();
        bytes.resize(size, 0);
        write_atomically(path, &bytes, None)?;
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(RecordLog {
            path: path.to_owned(),
            file,
            end,
            size,
        })
    }

    /// Appends `payload` as the new last record, durable when this returns.
    pub(super) fn append(&mut self, payload: &[u8]) -> io::Result<()> {
        let record = record(payload)?;
        // Room for the record and for the next header to read as zeros.
        if self.end + record.len() + HEADER > self.size {
            *self = RecordLog::create(&self.path, Some(payload))?;
            return Ok(());
        }
        self.file.write_all_at(&record, self.end as u64)?;
        self.file.sync_data()?;
        self.end += record.len();
        Ok(())
    }
}
