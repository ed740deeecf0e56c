//! `[plugins.<name>]` resolved: what the operator grants each plugin. A
//! plugin gets the intersection of this and what its signed manifest
//! requests (`crate::plugins::resolve_capabilities`).

use super::raw::RawPluginGrants;
use super::ConfigError;
use crate::runtime::{DirGrant, DownloadGrant, UploadGrant};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Resolves one grant table (`[plugins.<name>]` or `[signers.<key id>]`,
/// named by `table` in errors); `resolve` anchors relative directories.
pub(super) fn resolve_grants(
    table: &str,
    g: &RawPluginGrants,
    resolve: &dyn Fn(&Path) -> PathBuf,
    certificate_dir: Option<&Path>,
) -> Result<Grants, ConfigError> {
    let certificates = match (g.certificates, certificate_dir) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(ConfigError::Invalid(format!(
                "{table}.certificates needs [device] certificate_dir (where the device's certificates are)"
            )))
        }
        (Some(access), Some(dir)) => Some(DirGrant {
            host: dir.to_path_buf(),
            guest: CERTIFICATES_GUEST.into(),
            read_only: access == crate::trust::Access::Ro,
        }),
    };
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
    let download = (!g.download_hosts.is_empty()).then(|| DownloadGrant {
        hosts: g.download_hosts.clone(),
        allow_http: g.allow_http,
    });
    let upload = resolve_upload_grant(table, g)?;
    Ok(Grants {
        dirs,
        download,
        command: resolve_command_grant(table, g)?,
        reboot: g.reboot,
        certificates,
        diagnostics: g.diagnostics,
        upload,
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
    pub command: Option<crate::runtime::CommandGrant>,
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

/// Most `upload_max_mib` (4 GiB): a device's uplink is the limit that
/// matters, and the run's time limit stops a slow upload anyway.
const MAX_UPLOAD_MIB: u64 = 4096;

/// `[plugins.<name>] upload_hosts` and its caps; `None` when no host is
/// listed (the caps alone grant nothing).
fn resolve_upload_grant(
    table: &str,
    g: &RawPluginGrants,
) -> Result<Option<UploadGrant>, ConfigError> {
    let max_mib = g
        .upload_max_mib
        .unwrap_or(crate::runtime::DEFAULT_UPLOAD_MAX_BYTES >> 20);
    if !(1..=MAX_UPLOAD_MIB).contains(&max_mib) {
        return Err(ConfigError::Invalid(format!(
            "{table}.upload_max_mib = {max_mib}: must be 1-{MAX_UPLOAD_MIB}"
        )));
    }
    Ok((!g.upload_hosts.is_empty()).then(|| UploadGrant {
        hosts: g.upload_hosts.clone(),
        allow_http: g.upload_allow_http,
        max_bytes: max_mib << 20,
    }))
}

/// Where a plugin granted `certificates` finds the certificate store.
pub const CERTIFICATES_GUEST: &str = "/certificates";

/// Most `command_timeout_secs` (a day): longer work belongs in the plugin,
/// which can checkpoint, not in one blocking call.
const MAX_COMMAND_TIMEOUT_SECS: u64 = 86_400;

/// Most `command_output_bytes` (1 MiB per stream): the tail is held in
/// memory and handed to the plugin.
const MAX_COMMAND_OUTPUT_BYTES: usize = 1 << 20;

/// `[plugins.<name>] run_commands` and its caps; `None` when no program is
/// listed. Programs must be absolute, normalised paths: they are compared
/// to the plugin's requests as written and never looked up in `PATH`.
fn resolve_command_grant(
    table: &str,
    g: &RawPluginGrants,
) -> Result<Option<crate::runtime::CommandGrant>, ConfigError> {
    let invalid = |m: String| ConfigError::Invalid(m);
    let mut programs = Vec::new();
    for program in &g.run_commands {
        crate::runtime::check_program_path(program)
            .map_err(|e| invalid(format!("{table}.run_commands: {e}")))?;
        if !programs.contains(program) {
            programs.push(program.clone());
        }
    }
    let timeout_secs = g
        .command_timeout_secs
        .unwrap_or(crate::runtime::DEFAULT_COMMAND_TIMEOUT.as_secs());
    if !(1..=MAX_COMMAND_TIMEOUT_SECS).contains(&timeout_secs) {
        return Err(invalid(format!(
            "{table}.command_timeout_secs = {timeout_secs}: must be 1-{MAX_COMMAND_TIMEOUT_SECS}"
        )));
    }
    let output_bytes = g
        .command_output_bytes
        .unwrap_or(crate::runtime::DEFAULT_COMMAND_OUTPUT_BYTES);
    if output_bytes > MAX_COMMAND_OUTPUT_BYTES {
        return Err(invalid(format!(
            "{table}.command_output_bytes = {output_bytes}: must be 0-{MAX_COMMAND_OUTPUT_BYTES}"
        )));
    }
    Ok(
        (!programs.is_empty()).then(|| crate::runtime::CommandGrant {
            programs,
            timeout: Duration::from_secs(timeout_secs),
            output_bytes,
        }),
    )
}
