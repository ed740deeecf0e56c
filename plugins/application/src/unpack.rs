//! Unpacking a `.tar.gz` bundle into a new directory, refusing every entry
//! that could write or point outside it.
//!
//! The `tar` crate only parses; every entry is written here, so that the
//! rules are ours and each refusal can say exactly what was wrong:
//!
//! - paths must be relative and free of `..` (`./` is fine);
//! - nothing is written *through* a symbolic link the archive made (a link
//!   `lib -> .` followed by `lib/../x` would otherwise climb out);
//! - a symbolic link's target must be relative, may climb with `..` only at
//!   its start, and must stay inside the directory when resolved from the
//!   link's own directory. Together with the previous rule that makes every
//!   link resolve inside, even through other links;
//! - a hard link must name a regular file unpacked before it;
//! - device files, FIFOs and sparse files are refused.
//!
//! Files are created with the host's defaults (typically 0644, directories
//! 0755); a file with an executable bit in the archive is then made
//! executable through the host (WASI cannot set modes), and counted in
//! [`Unpacked::executables`]. No other mode bit is kept: an application
//! bundle has no business shipping set-user-id programs.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Component, Path};
use tar::EntryType;

/// Why an archive was not unpacked.
#[derive(Debug)]
pub enum UnpackError {
    /// The archive is malformed or has an entry we refuse: the same bytes
    /// will always be refused.
    Rejected(String),
    /// Writing the output failed (disk full, I/O error): may pass on retry.
    Io(String),
    /// The job was cancelled between entries.
    Cancelled,
}

/// What was unpacked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Regular files written (hard links included).
    pub files: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Regular files whose archive mode had an executable bit (made
    /// executable).
    pub executables: u64,
}

/// What an unpacked path is, as far as later entries are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
}

/// Unpacks the gzip-compressed tar file `archive` into `dest`, which must
/// not exist yet (it is created). On error `dest` may hold part of the
/// archive: the caller unpacks into a temporary name and removes it.
/// `cancelled` is polled between entries.
pub fn unpack(
    archive: &Path,
    dest: &Path,
    cancelled: impl Fn() -> bool,
) -> Result<Unpacked, UnpackError> {
    let file = fs::File::open(archive)
        .map_err(|e| UnpackError::Io(format!("cannot open {}: {e}", archive.display())))?;
    fs::create_dir(dest)
        .map_err(|e| UnpackError::Io(format!("cannot create {}: {e}", dest.display())))?;
    let gz = flate2::read::GzDecoder::new(io::BufReader::with_capacity(64 << 10, file));
    let mut tar = tar::Archive::new(gz);
    let not_tar = |e: io::Error| UnpackError::Rejected(format!("not a valid .tar.gz: {e}"));
    let mut writer = Writer {
        dest,
        seen: HashMap::new(),
        done: Unpacked::default(),
    };
    for entry in tar.entries().map_err(not_tar)? {
        if cancelled() {
            return Err(UnpackError::Cancelled);
        }
        let mut entry = entry.map_err(not_tar)?;
        writer.entry(&mut entry)?;
    }
    Ok(writer.done)
}

/// The output directory and what has been written to it so far. Only this
/// writer touches the (new) directory, so `seen` is the truth about it and
/// no entry needs a `stat`.
struct Writer<'a> {
    dest: &'a Path,
    seen: HashMap<String, Kind>,
    done: Unpacked,
}

impl Writer<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        let raw = entry
            .path()
            .map_err(|e| UnpackError::Rejected(format!("an entry's path is unreadable: {e}")))?
            .into_owned();
        let shown = raw.display().to_string();
        let parts = relative_parts(&raw).map_err(|why| rejected(&shown, &why))?;
        if parts.is_empty() {
            // `./` itself: the directory we made.
            return match kind {
                EntryType::Directory | EntryType::XGlobalHeader => Ok(()),
                _ => Err(rejected(&shown, "has an empty path")),
            };
        }
        let key = parts.join("/");
        match kind {
            EntryType::XGlobalHeader => Ok(()),
            EntryType::Directory => {
                self.parents(&parts, &shown)?;
                match self.seen.get(&key) {
                    Some(Kind::Dir) => Ok(()),
                    Some(_) => Err(rejected(&shown, "appears twice, once not as a directory")),
                    None => {
                        fs::create_dir(self.dest.join(&key)).map_err(|e| self.io(&key, e))?;
                        self.seen.insert(key, Kind::Dir);
                        Ok(())
                    }
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                self.replaceable(&key, &parts, &shown)?;
                let mode = entry.header().mode().unwrap_or(0o644);
                let path = self.dest.join(&key);
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| self.io(&key, e))?;
                let mut out = BufWriter::with_capacity(64 << 10, file);
                let bytes = copy(entry, &mut out, &shown, &key)?;
                out.flush().map_err(|e| self.io(&key, e))?;
                drop(out);
                if mode & 0o111 != 0 {
                    crate::mode::make_executable(&path).map_err(|e| self.io(&key, e))?;
                    self.done.executables += 1;
                }
                self.seen.insert(key, Kind::File);
                self.done.files += 1;
                self.done.bytes += bytes;
                Ok(())
            }
            EntryType::Symlink => {
                let target = link_target(entry, &shown)?;
                check_symlink(&parts, &target).map_err(|why| rejected(&shown, &why))?;
                self.replaceable(&key, &parts, &shown)?;
                crate::link::symlink(&target, &self.dest.join(&key))
                    .map_err(|e| self.io(&key, e))?;
                self.seen.insert(key, Kind::Symlink);
                Ok(())
            }
            EntryType::Link => {
                let target = link_target(entry, &shown)?;
                let target_parts = relative_parts(Path::new(&target)).map_err(|why| {
                    rejected(
                        &shown,
                        &format!(
                            "is a hard link to {target:?}, outside the version directory: {why}"
                        ),
                    )
                })?;
                let target_key = target_parts.join("/");
                if self.seen.get(&target_key) != Some(&Kind::File) {
                    return Err(rejected(
                        &shown,
                        &format!("is a hard link to {target:?}, which is not a regular file unpacked before it"),
                    ));
                }
                self.replaceable(&key, &parts, &shown)?;
                fs::hard_link(self.dest.join(&target_key), self.dest.join(&key))
                    .map_err(|e| self.io(&key, e))?;
                self.seen.insert(key, Kind::File);
                self.done.files += 1;
                Ok(())
            }
            EntryType::Char | EntryType::Block => Err(rejected(&shown, "is a device file")),
            EntryType::Fifo => Err(rejected(&shown, "is a FIFO")),
            EntryType::GNUSparse => Err(rejected(&shown, "is a sparse file (not supported)")),
            other => Err(rejected(
                &shown,
                &format!(
                    "has an unsupported entry type {:?}",
                    other.as_byte() as char
                ),
            )),
        }
    }

    /// Makes the entry's parent directories, refusing to go through a
    /// symbolic link or a file.
    fn parents(&mut self, parts: &[String], shown: &str) -> Result<(), UnpackError> {
        for end in 1..parts.len() {
            let key = parts[..end].join("/");
            match self.seen.get(&key) {
                Some(Kind::Dir) => {}
                Some(Kind::Symlink) => {
                    return Err(rejected(
                        shown,
                        &format!("would be written through the symbolic link {key:?}"),
                    ))
                }
                Some(Kind::File) => {
                    return Err(rejected(
                        shown,
                        &format!("is inside {key:?}, which is a file"),
                    ))
                }
                None => {
                    fs::create_dir(self.dest.join(&key)).map_err(|e| self.io(&key, e))?;
                    self.seen.insert(key, Kind::Dir);
                }
            }
        }
        Ok(())
    }

    /// Prepares to write a non-directory at `key`: parents exist, and an
    /// earlier file or link of the same name is removed (in a tar file the
    /// later entry wins); a directory of that name is an error.
    fn replaceable(&mut self, key: &str, parts: &[String], shown: &str) -> Result<(), UnpackError> {
        self.parents(parts, shown)?;
        match self.seen.get(key) {
            None => Ok(()),
            Some(Kind::Dir) => Err(rejected(shown, "appears twice, once as a directory")),
            Some(_) => {
                // remove_file on a symbolic link removes the link itself.
                fs::remove_file(self.dest.join(key)).map_err(|e| self.io(key, e))?;
                self.seen.remove(key);
                Ok(())
            }
        }
    }

    fn io(&self, key: &str, e: io::Error) -> UnpackError {
        UnpackError::Io(format!("cannot write {}/{key}: {e}", self.dest.display()))
    }
}

fn rejected(entry: &str, why: &str) -> UnpackError {
    UnpackError::Rejected(format!("entry {entry:?} {why}"))
}

/// Copies an entry's content; a read error is the archive's fault (it is
/// sha256-pinned, so it will not change), a write error is ours.
fn copy<R: Read, W: Write>(
    from: &mut R,
    to: &mut W,
    shown: &str,
    key: &str,
) -> Result<u64, UnpackError> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(rejected(shown, &format!("cannot be read: {e}"))),
        };
        to.write_all(&buf[..n])
            .map_err(|e| UnpackError::Io(format!("cannot write {key}: {e}")))?;
        total += n as u64;
    }
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>, shown: &str) -> Result<String, UnpackError> {
    let target = entry
        .link_name()
        .map_err(|e| rejected(shown, &format!("has an unreadable link target: {e}")))?
        .ok_or_else(|| rejected(shown, "is a link without a target"))?;
    target
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| rejected(shown, "has a link target that is not UTF-8"))
}

/// The normal components of a relative path without `..`; `.` is dropped.
fn relative_parts(path: &Path) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => {
                return Err("is an absolute path".to_owned())
            }
            Component::ParentDir => return Err("contains `..`".to_owned()),
            Component::CurDir => {}
            Component::Normal(name) => parts.push(
                name.to_str()
                    .ok_or_else(|| "is not UTF-8".to_owned())?
                    .to_owned(),
            ),
        }
    }
    Ok(parts)
}

/// Checks that a symbolic link at `link` (its path's components) with
/// content `target` resolves inside the directory: relative, `..` only
/// before any name (so it climbs from the link's own, real directory), and
/// never above the top.
fn check_symlink(link: &[String], target: &str) -> Result<(), String> {
    let outside = |why: &str| Err(format!("is a symbolic link to {target:?}, {why}"));
    if target.is_empty() {
        return outside("which is empty");
    }
    let mut depth = link.len().saturating_sub(1);
    let mut named = false;
    for component in Path::new(target).components() {
        match component {
            Component::Prefix(_) | Component::RootDir => {
                return outside("an absolute path (only relative links are kept)")
            }
            Component::CurDir => {}
            Component::ParentDir if named => {
                return outside(
                    "which has `..` after a name (it could climb out through another link)",
                )
            }
            Component::ParentDir => {
                if depth == 0 {
                    return outside("outside the version directory");
                }
                depth -= 1;
            }
            Component::Normal(_) => named = true,
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
