//! What a plugin can see of the device: the capabilities granted to it
//! ([`Sandbox`], one field per capability of the registry,
//! `capabilities`), and the WASI context made of its directory
//! grants.
//!
//! Everything else WASI could offer is closed: no sockets, no name lookup,
//! no environment variables, no arguments, no stdin; stdout and stderr are
//! discarded (plugins log through the `host.log` import). Each grant type
//! lives with its capability (`super::capabilities`).

pub use super::capabilities::Sandbox;
use std::path::PathBuf;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

impl Sandbox {
    /// A sandbox with no filesystem at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds the WASI context: the granted preopens and nothing else.
    pub(crate) fn wasi_ctx(&self) -> Result<WasiCtx, SandboxError> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for grant in &self.dirs {
            if !grant.host.is_dir() {
                return Err(SandboxError::NotADirectory(grant.host.clone()));
            }
            let perms = if grant.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            builder
                .preopened_dir(&grant.host, &grant.guest, perms)
                .map_err(|source| SandboxError::Open {
                    dir: grant.host.clone(),
                    source,
                })?;
        }
        Ok(builder.build())
    }
}

/// Why a sandbox cannot be set up on this device: the device's problem,
/// not the job's (a retry after fixing the device can succeed).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A granted directory is missing (or is a file).
    #[error("granted directory {} does not exist or is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// A granted directory cannot be opened.
    #[error("cannot open granted directory {}: {source:#}", dir.display())]
    Open {
        /// The directory on the device.
        dir: PathBuf,
        /// Why.
        source: wasmtime::Error,
    },
}
