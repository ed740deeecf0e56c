//! What a plugin can see of the device: the capabilities granted to it
//! ([`Sandbox`]), and the WASI context made of its directory grants.
//!
//! Everything else WASI could offer is closed: no sockets, no name lookup,
//! no environment variables, no arguments, no stdin; stdout and stderr are
//! discarded (plugins log through the `host.log` import). Each grant type
//! lives with its capability (`super::capabilities`).

use super::capabilities::certificates::{CertificateTarget, CertificatesCtx};
use super::capabilities::command::{CommandCtx, CommandGrant};
use super::capabilities::device::DeviceCtx;
use super::capabilities::diagnostics::DiagnosticsCtx;
use super::capabilities::download::{DownloadCtx, DownloadGrant};
use super::capabilities::files::DirGrant;
use super::capabilities::host::HostCtx;
use super::capabilities::upload::{UploadCtx, UploadGrant};
use super::capabilities::Capabilities;
use super::limits::ExecutionLimits;
use std::path::PathBuf;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

/// The sandbox of one execution.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Directories the plugin may open; nothing else exists for it.
    pub dirs: Vec<DirGrant>,
    /// Servers it may download from; `None`: no `download` capability.
    pub download: Option<DownloadGrant>,
    /// Programs it may run; `None`: no `run-command` capability.
    pub command: Option<CommandGrant>,
    /// Whether it may ask for a reboot (`device.request-reboot`).
    pub reboot: bool,
    /// Whether it may take a snapshot of the agent (`diagnostics`).
    pub diagnostics: bool,
    /// Servers it may upload to; `None`: no `upload` capability.
    pub upload: Option<UploadGrant>,
    /// Whether it may rotate the device's MQTT certificate (the
    /// `certificates` interface): `certificates = "rw"` requested AND
    /// granted.
    pub certificates: bool,
    /// The files that rotation acts on, filled in by the agent from
    /// `[broker.tls]`; `None` without a client certificate (or under
    /// `jobhost run`), where the `certificates` calls fail.
    pub certificate_target: Option<CertificateTarget>,
}

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

    /// The per-capability contexts of one run under this sandbox.
    pub(crate) fn contexts(&self, limits: &ExecutionLimits) -> Capabilities {
        Capabilities {
            host: HostCtx::new(limits),
            download: DownloadCtx::new(self.download.clone()),
            upload: UploadCtx {
                grant: self.upload.clone(),
            },
            command: CommandCtx {
                grant: self.command.clone(),
            },
            device: DeviceCtx {
                granted: self.reboot,
                reboot_requested: None,
            },
            certificates: CertificatesCtx {
                granted: self.certificates,
                target: self.certificate_target.clone(),
                download: self.download.clone(),
                install: false,
            },
            diagnostics: DiagnosticsCtx {
                granted: self.diagnostics,
                source: None,
            },
        }
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
