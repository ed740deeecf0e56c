//! The bundle: one tar.gz written into the scratch directory, holding
//!
//! - `snapshot.json`: the agent's snapshot (with the log lines asked for);
//! - `agent.log`: the agent's recent log lines, oldest first;
//! - `plugins.json`: the installed plugins;
//! - `include/<dir>/…`: the files of each `include` directory, walked
//!   without following symlinks, within [`MAX_INCLUDE_BYTES`] and
//!   [`MAX_INCLUDE_FILES`]; what does not fit or cannot be read is listed
//!   in `skipped` (and in the bundle's `skipped.txt`) rather than failing
//!   the troubleshooting job.

use flate2::write::GzEncoder;
use flate2::Compression;
use jobhost_sdk::diagnostics::Snapshot;
use jobhost_sdk::{host, Failure};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of included files per bundle: enough for the tails of a few
/// application logs, little enough for a slow uplink.
pub const MAX_INCLUDE_BYTES: u64 = 16 << 20;

/// Included files per bundle.
pub const MAX_INCLUDE_FILES: usize = 1000;

/// Directory levels walked below each `include` directory.
const MAX_DEPTH: usize = 8;

/// What was written.
pub struct Built {
    /// Size of the tar.gz.
    pub bytes: u64,
    /// Files taken from `include` directories.
    pub included: usize,
    /// What was left out, and why.
    pub skipped: Vec<String>,
}

/// Writes the bundle to `path`. Errors are retryable (a full disk)
/// unless the scratch directory is simply not there (not granted).
pub fn write(
    path: &str,
    snapshot: &Snapshot,
    log_lines: usize,
    include: &[String],
) -> Result<Built, Failure> {
    let file = File::create(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => Failure::permanent(format!(
            "cannot create {path}: {e} (the plugin needs {} granted read-write)",
            super::SCRATCH_DIR
        )),
        _ => Failure::retryable(format!("cannot create {path}: {e}")),
    })?;
    let io_failure = |e: io::Error| Failure::retryable(format!("cannot write {path}: {e}"));
    let mut bundle = Bundle {
        tar: tar::Builder::new(GzEncoder::new(file, Compression::default())),
        mtime: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        included: 0,
        included_bytes: 0,
        skipped: Vec::new(),
    };
    let mut snapshot = snapshot.clone();
    let keep_from = snapshot.recent_log.len().saturating_sub(log_lines);
    snapshot.recent_log.drain(..keep_from);
    bundle
        .add("snapshot.json", &pretty(&snapshot))
        .map_err(io_failure)?;
    let mut log = snapshot.recent_log.join("\n");
    if !log.is_empty() {
        log.push('\n');
    }
    bundle
        .add("agent.log", log.as_bytes())
        .map_err(io_failure)?;
    bundle
        .add("plugins.json", &pretty(&snapshot.plugins))
        .map_err(io_failure)?;
    for dir in include {
        if host::cancelled() {
            return Err(Failure::retryable("cancelled"));
        }
        let name = format!("include/{}", dir.trim_matches('/'));
        bundle.walk(Path::new(dir), &name, 0).map_err(io_failure)?;
    }
    if !bundle.skipped.is_empty() {
        let text = bundle.skipped.join("\n") + "\n";
        bundle
            .add("skipped.txt", text.as_bytes())
            .map_err(io_failure)?;
    }
    let Bundle {
        tar,
        included,
        skipped,
        ..
    } = bundle;
    let file = tar
        .into_inner()
        .and_then(GzEncoder::finish)
        .map_err(io_failure)?;
    file.sync_all().map_err(io_failure)?;
    let bytes = file.metadata().map_err(io_failure)?.len();
    Ok(Built {
        bytes,
        included,
        skipped,
    })
}

struct Bundle {
    tar: tar::Builder<GzEncoder<File>>,
    mtime: u64,
    included: usize,
    included_bytes: u64,
    skipped: Vec<String>,
}

impl Bundle {
    /// One regular file entry.
    fn add(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        self.tar.append_data(&mut header, name, data)
    }

    /// Adds the files under `dir` as `name/…`. Only writing the bundle
    /// fails the walk; an unreadable entry is noted and skipped.
    fn walk(&mut self, dir: &Path, name: &str, depth: usize) -> io::Result<()> {
        let shown = dir.display();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.skipped.push(format!(
                    "{shown}: {e} (is it in the manifest's dirs and granted?)"
                ));
                return Ok(());
            }
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let entry_name = format!("{name}/{}", entry.file_name().to_string_lossy());
            let Ok(kind) = entry.file_type() else {
                self.skipped.push(format!("{}: unreadable", path.display()));
                continue;
            };
            if kind.is_dir() {
                if depth + 1 >= MAX_DEPTH {
                    self.skipped.push(format!(
                        "{}: deeper than {MAX_DEPTH} levels",
                        path.display()
                    ));
                } else {
                    self.walk(&path, &entry_name, depth + 1)?;
                }
            } else if kind.is_file() {
                self.include_file(&path, &entry_name)?;
            }
            // Symlinks and special files are not followed or read.
        }
        Ok(())
    }

    fn include_file(&mut self, path: &Path, name: &str) -> io::Result<()> {
        let left = MAX_INCLUDE_BYTES - self.included_bytes;
        if self.included >= MAX_INCLUDE_FILES {
            self.skipped.push(format!(
                "{}: over the {MAX_INCLUDE_FILES}-file limit",
                path.display()
            ));
            return Ok(());
        }
        // Read what is there now (a log may grow meanwhile), at most one
        // byte past the budget to tell "fits" from "does not".
        let mut data = Vec::new();
        let read = File::open(path).and_then(|f| f.take(left + 1).read_to_end(&mut data));
        if let Err(e) = read {
            self.skipped.push(format!("{}: {e}", path.display()));
            return Ok(());
        }
        if data.len() as u64 > left {
            self.skipped.push(format!(
                "{}: over the bundle's {} MiB include limit",
                path.display(),
                MAX_INCLUDE_BYTES >> 20
            ));
            return Ok(());
        }
        self.included += 1;
        self.included_bytes += data.len() as u64;
        self.add(name, &data)
    }
}

/// Pretty JSON with a line break at the end, like any text file.
fn pretty<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_default();
    out.push(b'\n');
    out
}
