//! `jobhost:plugin/files`: file modes, which WASI cannot set. An
//! application unpacked by a plugin must keep its executables executable.
//!
//! Only inside a writable grant, only regular files (checked without
//! following a symbolic link; cap-std keeps the change inside the granted
//! directory whatever the path holds), and only `x` bits: a plugin can make
//! its own files runnable, never set-user-id.

use crate::runtime::bindings::files::Host;
use crate::runtime::bindings::types::HostError;
use crate::runtime::store::HostState;
use cap_std::fs::{Dir, Permissions, PermissionsExt};

impl Host for HostState {
    async fn set_executable(&mut self, path: String, executable: bool) -> Result<(), HostError> {
        let (grant, relative) = self
            .job
            .sandbox
            .resolve_writable(&path)
            .map_err(HostError::InvalidArgument)?;
        let dir = Dir::open_ambient_dir(&grant.host, cap_std::ambient_authority())
            .map_err(|e| HostError::Failed(format!("cannot open {}: {e}", grant.guest)))?;
        let meta = dir
            .symlink_metadata(&relative)
            .map_err(|e| HostError::InvalidArgument(format!("{path}: {e}")))?;
        if !meta.is_file() {
            return Err(HostError::InvalidArgument(format!(
                "{path} is not a regular file"
            )));
        }
        let mode = meta.permissions().mode() & 0o777;
        let mode = if executable {
            mode | ((mode & 0o444) >> 2)
        } else {
            mode & !0o111
        };
        dir.set_permissions(&relative, Permissions::from_mode(mode))
            .map_err(|e| HostError::Failed(format!("cannot change the mode of {path}: {e}")))
    }
}
