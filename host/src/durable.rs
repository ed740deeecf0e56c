//! Crash-safe file replacement, shared by everything the agent must not
//! half-write: the journal, the anti-rollback floors, installed plugins.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `bytes` so that a crash or power cut leaves either
/// the old or the new content, never a mix: write a temporary file beside
/// it, fsync it, rename it over `path`, fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    sync_parent(path)
}

/// Makes a rename or removal inside `path`'s directory durable: without it
/// a power cut can undo the rename even though the data was fsynced.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}
