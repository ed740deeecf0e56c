//! `[plugins.<name>]` and `[signers.<key id>]` resolved: what the operator
//! grants. A plugin gets the intersection of this and what its signed
//! manifest requests (`crate::plugins::resolve_capabilities`). How each
//! capability's keys become its grant is the capability's own
//! (`crate::runtime::capabilities`, walked by the registry); this file
//! only says what the rest of the config tells them, and names the table
//! in errors.

use super::raw::RawPluginGrants;
use super::{ConfigError, Device};
use crate::runtime::{BadGrant, GrantEnv, Grants};
use std::path::{Path, PathBuf};

/// Resolves one grant table (`[plugins.<name>]` or `[signers.<key id>]`,
/// named by `table` in errors); `resolve` anchors relative directories.
pub(super) fn resolve_grants(
    table: &str,
    g: &RawPluginGrants,
    resolve: &dyn Fn(&Path) -> PathBuf,
    device: &Device,
) -> Result<Grants, ConfigError> {
    let env = GrantEnv {
        resolve,
        certificate_dir: device.certificate_dir.as_deref(),
        can_reboot: device.reboot_command.is_some(),
    };
    Grants::from_config(&g.grants, &env)
        .map_err(|e: BadGrant| ConfigError::Invalid(format!("{table}.{e}")))
}
