//! Creating a symbolic link, the one file-system call std does not offer on
//! WASI yet (`std::os::wasi::fs::symlink_path` is unstable,
//! rust-lang/rust#71213). On the device it goes through wasi-libc, which
//! resolves the link's path against the preopened directories; the host
//! (wasmtime-wasi, cap-std) creates it only inside one of them. Native
//! builds (unit tests) use std's unix call.

use std::io;
use std::path::Path;

/// Creates `link` as a symbolic link whose content is `target` (written as
/// given, never resolved here).
#[cfg(target_os = "wasi")]
pub fn symlink(target: &str, link: &Path) -> io::Result<()> {
    use std::ffi::CString;
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let target = CString::new(target).map_err(|_| invalid("link target contains a NUL byte"))?;
    let link = link
        .to_str()
        .ok_or_else(|| invalid("link path is not UTF-8"))
        .and_then(|l| CString::new(l).map_err(|_| invalid("link path contains a NUL byte")))?;
    // SAFETY: both arguments are NUL-terminated strings that live until the
    // call returns; wasi-libc only reads them.
    let rc = unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Creates `link` as a symbolic link whose content is `target`.
#[cfg(not(target_os = "wasi"))]
pub fn symlink(target: &str, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}
