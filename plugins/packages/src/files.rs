//! The file operations an install is made of: back a file up to
//! `<file>.old`, put a backup back, write a record whole.
//!
//! Each ends in a rename, so a file is always either what it was or what
//! it becomes, never half of it: a power cut mid-backup leaves the old
//! `.old` or the new one, and the file itself untouched.
//!
//! A backup is a hard link where the filesystem allows it: the `.old` is
//! then the very file that was replaced (the host's download moves the new
//! file into place by a rename, which leaves the old inode to the link),
//! with its mode, so that an executable put back is still executable —
//! WASI cannot set modes. Where links fail, it is a copy.

use crate::paths::{backup_of, temp_beside};
use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Whether there is something at `path` to back up. A directory where a
/// file should be is an error: the install will not replace it.
pub fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io::Error::other(format!(
            "{} is a directory",
            path.display()
        ))),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Makes `<path>.old` the current `path`, replacing an older backup.
pub fn backup(path: &Path) -> io::Result<()> {
    replace_with_link(path, &backup_of(path))
}

/// Puts `<path>.old` back at `path`; the backup stays, as jobs-agent.js
/// leaves it.
pub fn restore(path: &Path) -> io::Result<()> {
    replace_with_link(&backup_of(path), path)
}

/// Removes `path`; absent is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_beside(path);
    let written = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    match written.and_then(|()| fs::rename(&temp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Makes `to` the same file as `from`: a link (or copy) under a
/// temporary name, renamed over `to`.
fn replace_with_link(from: &Path, to: &Path) -> io::Result<()> {
    let temp = temp_beside(to);
    remove(&temp)?;
    if fs::hard_link(from, &temp).is_err() {
        fs::copy(from, &temp)?;
        fs::File::open(&temp)?.sync_all()?;
    }
    fs::rename(&temp, to).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_backup_restores_the_file_it_was_taken_of_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("start.sh");
        fs::write(&file, "v1").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.path().join("start.sh.old"), "stale").unwrap();
        backup(&file).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("start.sh.old")).unwrap(),
            "v1"
        );
        // The download replaces the file by a rename, as the host does.
        let part = dir.path().join(".start.sh.part");
        fs::write(&part, "v2").unwrap();
        fs::rename(&part, &file).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("start.sh.old")).unwrap(),
            "v1"
        );
        restore(&file).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "v1");
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(
            dir.path().join("start.sh.old").is_file(),
            "the backup stays"
        );
        assert!(!temp_beside(&file).exists());
    }

    #[test]
    fn restoring_twice_is_the_same_as_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        fs::write(&file, "old").unwrap();
        backup(&file).unwrap();
        fs::remove_file(&file).unwrap();
        fs::write(&file, "new").unwrap();
        restore(&file).unwrap();
        restore(&file).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "old");
    }

    #[test]
    fn records_are_written_whole_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.json");
        write_atomically(&path, b"[1]").unwrap();
        write_atomically(&path, b"[1,2]").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "[1,2]");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn existence_refuses_a_directory_and_missing_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!exists(&dir.path().join("nothing")).unwrap());
        assert!(exists(dir.path()).is_err());
        fs::write(dir.path().join("f"), "").unwrap();
        assert!(exists(&dir.path().join("f")).unwrap());
        remove(&dir.path().join("f")).unwrap();
        remove(&dir.path().join("f")).unwrap();
    }
}
