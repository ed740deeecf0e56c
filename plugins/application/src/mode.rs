//! Making unpacked executables executable. WASI cannot set file modes, so
//! on the device the host does it (`jobhost:plugin/files`, only inside the
//! writable grant, only `x` bits); native builds (unit tests) use std.

use std::io;
use std::path::Path;

/// `chmod +x path` (an `x` wherever there is an `r`).
#[cfg(target_os = "wasi")]
pub fn make_executable(path: &Path) -> io::Result<()> {
    let path = path
        .to_str()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path is not UTF-8"))?;
    jobhost_sdk::files::set_executable(path, true)
        .map_err(|e| io::Error::other(jobhost_sdk::host::describe(&e)))
}

/// `chmod +x path` (an `x` wherever there is an `r`).
#[cfg(not(target_os = "wasi"))]
pub fn make_executable(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(mode | ((mode & 0o444) >> 2)),
    )
}
