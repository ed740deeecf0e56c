//! `[device]` resolved: how a job reboots the device, how the agent knows
//! it did, and the certificate store plugins may be offered.

use super::raw::RawDevice;
use super::ConfigError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `[device]`, resolved.
#[derive(Debug, Clone)]
pub struct Device {
    /// argv of the reboot command; `None`: the device cannot be rebooted
    /// by a job.
    pub reboot_command: Option<Vec<String>>,
    /// argv of the shutdown command; `None`: the built-in `shutdown`
    /// operation is refused.
    pub shutdown_command: Option<Vec<String>>,
    /// Changes at every boot.
    pub boot_id_file: PathBuf,
    /// Longest wait for the device to go down after the reboot command.
    pub reboot_timeout: Duration,
    /// The device's certificate store (its MQTT certificate lives here,
    /// never its private key: a config with `[broker.tls] key` inside it is
    /// refused), for plugins granted `certificates`.
    pub certificate_dir: Option<PathBuf>,
}

/// The kernel's per-boot random id.
pub const DEFAULT_BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// A command of `[device]`: an argv whose program is an absolute path.
fn argv(
    argv: &Option<Vec<String>>,
    key: &str,
    example: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    match argv {
        Some(argv) if argv.is_empty() || !argv[0].starts_with('/') => {
            Err(ConfigError::Invalid(format!(
                "device.{key} must be an argv whose program is an absolute path, \
                 e.g. [\"/usr/bin/systemctl\", \"{example}\"]"
            )))
        }
        other => Ok(other.clone()),
    }
}

/// Resolves `[device]`; `resolve` anchors relative paths.
pub(super) fn resolve_device(
    raw: &RawDevice,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<Device, ConfigError> {
    Ok(Device {
        reboot_command: argv(&raw.reboot_command, "reboot_command", "reboot")?,
        shutdown_command: argv(&raw.shutdown_command, "shutdown_command", "poweroff")?,
        boot_id_file: raw
            .boot_id_file
            .as_deref()
            .map_or_else(|| PathBuf::from(DEFAULT_BOOT_ID_FILE), &resolve),
        reboot_timeout: Duration::from_secs(raw.reboot_timeout_secs.unwrap_or(300)),
        certificate_dir: raw.certificate_dir.as_deref().map(&resolve),
    })
}
