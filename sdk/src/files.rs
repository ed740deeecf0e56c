//! What a plugin needs of the file system that WASI does not offer.

use crate::bindings::jobhost::plugin::files as wit;
use crate::HostError;

/// Makes the regular file at `path` (a guest path in a writable grant)
/// executable, or not: `chmod +x` / `chmod -x`. Unpacking an application
/// needs it, since WASI cannot set file modes.
pub fn set_executable(path: &str, executable: bool) -> Result<(), HostError> {
    wit::set_executable(path, executable)
}
