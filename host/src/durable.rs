//! Crash-safe file replacement, shared by everything the agent must not
//! half-write: the journal, the anti-rollback floors, installed plugins.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `bytes` so that a crash or power cut leaves either
/// the old or the new content, never a mix: write a temporary file beside
/// it (`<name>.tmp`), fsync it, rename it over `path`, fsync the directory.
///
/// With a `mode`, the file has it from its creation, before the first byte
/// is written: a private key is never readable by others, not even for a
/// moment. Without, it is created as `File::create` does (0666 less the
/// umask).
pub fn write_atomically(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = with_suffix(path, ".tmp");
    // A leftover from a crash may have other permissions: start afresh.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode.unwrap_or(0o666))
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    sync_parent(path)
}

/// `path` with `suffix` appended to its file name (`device.key` →
/// `device.key.tmp`): unlike `Path::with_extension`, two files that differ
/// only in extension never get the same name.
pub fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path
        .file_name()
        .map(std::ffi::OsString::from)
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// Makes a rename or removal inside `path`'s directory durable: without it
/// a power cut can undo the rename even though the data was fsynced.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

/// Reads `path` only if it is a regular file, never following a symlink
/// in its last component and never waiting on a FIFO or device, and at
/// most `max_bytes` of it.
///
/// For files a plugin may have replaced (the certificate store it can
/// write): `std::fs::read` would follow a planted `device.pem ->
/// ../../etc/shadow` and hand the target to whoever copies the bytes on
/// (security review H3). cap-std refuses to *follow* such a link inside the
/// sandbox, but not to *create* one, so the host must not follow it either.
pub fn read_regular_file(path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular_file(path)?;
    let mut bytes = Vec::new();
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {max_bytes} bytes", path.display()),
        ));
    }
    Ok(bytes)
}

/// Opens `path` for reading only if it is a regular file, with
/// [`read_regular_file`]'s refusals (no symlink followed in the last
/// component, no FIFO or device waited on), for a caller that reads the
/// file in pieces or maps it.
pub fn open_regular_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is a symbolic link, not followed", path.display()),
                )
            } else {
                e
            }
        })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_whole_file_with_the_mode_asked_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("device.key");
        // A leftover from a crash, readable by all: not reused.
        fs::write(dir.path().join("device.key.tmp"), b"half").unwrap();
        fs::set_permissions(
            dir.path().join("device.key.tmp"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        write_atomically(&key, b"secret", Some(0o600)).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"secret");
        let mode = fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.path().join("device.key.tmp").exists());

        // Two files that differ only in extension never share a temporary.
        let pem = dir.path().join("device.pem");
        write_atomically(&pem, b"cert", None).unwrap();
        write_atomically(&key, b"key 2", Some(0o600)).unwrap();
        assert_eq!(fs::read(&pem).unwrap(), b"cert");
        assert_eq!(fs::read(&key).unwrap(), b"key 2");
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"content").unwrap();
        assert_eq!(read_regular_file(&file, 64).unwrap(), b"content");
        let err = read_regular_file(&file, 3).unwrap_err().to_string();
        assert!(err.contains("larger than 3 bytes"), "{err}");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink("f", &link).unwrap();
        let err = read_regular_file(&link, 64).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let err = read_regular_file(dir.path(), 64).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = read_regular_file(&fifo, 64).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let missing = read_regular_file(&dir.path().join("none"), 64).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
