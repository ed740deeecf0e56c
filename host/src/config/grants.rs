//! `[plugins.<name>]` resolved: what the operator grants each plugin. A
//! plugin gets the intersection of this and what its signed manifest
//! requests (`crate::plugins::resolve_capabilities`). How each
//! capability's keys become its grant is the capability's own
//! (`crate::runtime::capabilities`); this file only names the table.

use super::raw::RawPluginGrants;
use super::ConfigError;
use crate::runtime::capabilities::{certificates, command, download, upload};
use crate::runtime::{BadGrant, CommandGrant, DirGrant, DownloadGrant, UploadGrant};
use std::path::{Path, PathBuf};

/// Resolves one grant table (`[plugins.<name>]` or `[signers.<key id>]`,
/// named by `table` in errors); `resolve` anchors relative directories.
pub(super) fn resolve_grants(
    table: &str,
    g: &RawPluginGrants,
    resolve: &dyn Fn(&Path) -> PathBuf,
    certificate_dir: Option<&Path>,
) -> Result<Grants, ConfigError> {
    let bad = |e: BadGrant| ConfigError::Invalid(format!("{table}.{e}"));
    let certificates =
        certificates::grant_from_config(g.certificates, certificate_dir).map_err(bad)?;
    let dirs = g
        .dirs
        .iter()
        .map(|d| {
            let mut grant: DirGrant = d
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("{table}.dirs: {e}")))?;
            grant.host = resolve(&grant.host);
            Ok(grant)
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    Ok(Grants {
        dirs,
        download: download::grant_from_config(&g.download_hosts, g.allow_http),
        command: command::grant_from_config(
            &g.run_commands,
            g.command_timeout_secs,
            g.command_output_bytes,
        )
        .map_err(bad)?,
        reboot: g.reboot,
        certificates,
        diagnostics: g.diagnostics,
        upload: upload::grant_from_config(&g.upload_hosts, g.upload_allow_http, g.upload_max_mib)
            .map_err(bad)?,
    })
}

/// What one plugin is granted.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Preopened directories.
    pub dirs: Vec<DirGrant>,
    /// Download allow-list; `None` means no download capability.
    pub download: Option<DownloadGrant>,
    /// Program allow-list and caps; `None` means no `run-command`
    /// capability.
    pub command: Option<CommandGrant>,
    /// The `reboot` capability (needs `[device] reboot_command`).
    pub reboot: bool,
    /// `[device] certificate_dir` as `/certificates`, read-only unless
    /// granted `"rw"`.
    pub certificates: Option<DirGrant>,
    /// The `diagnostics` capability.
    pub diagnostics: bool,
    /// Upload allow-list and size cap; `None` means no `upload`
    /// capability.
    pub upload: Option<UploadGrant>,
}
