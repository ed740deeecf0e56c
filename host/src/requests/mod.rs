//! The capability registry, and what a plugin's signed manifest may ask
//! of each capability: plain data, below [`crate::trust`].
//!
//! A capability is one module in `runtime::capabilities` (its grant,
//! config keys, policy, per-run context and host calls) and one here (its
//! key in the manifest's `[capabilities]` table and the check of that
//! key's value). The manifest's half lives apart because the manifest is
//! parsed and checked in `trust`, right after its signature is verified
//! and before any other module sees the plugin; `trust` is below
//! `runtime`, so what it checks must be below it too. A malformed request
//! is therefore refused when the file is verified (and `jobhost plugin
//! sign` refuses to sign it), never later.
//!
//! # The registry
//!
//! `for_each_capability!` is the one list of capabilities. Everything
//! that has one part per capability is generated from it where it lives:
//! the manifest's `Capabilities` (`trust`), the config keys of a
//! `[plugins.<name>]` table, `Grants`, `Sandbox`, the per-run contexts,
//! the linker and the policy (`runtime::capabilities`). Adding a
//! capability is its two modules, its WIT interface and one line here.
//!
//! # Layout
//!
//! One module per capability, named like its WIT interface: `files`
//! (`dirs`, and the [`files::Access`] the certificate store shares),
//! `download`, `command` (`run_command`), `device` (`reboot`),
//! `certificates`, `diagnostics`, `upload`.

pub mod certificates;
pub mod command;
pub mod device;
pub mod diagnostics;
pub mod download;
pub mod files;
pub mod upload;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// The capability registry: calls the macro `$then` with every capability,
/// one line each, in the order their keys appear in a manifest's JSON.
///
/// A line is `module: Type => field, key;`:
/// - `module`: the WIT interface, and the capability's module here and in
///   `runtime::capabilities`;
/// - `Type`: the type in `runtime::capabilities::<module>` that implements
///   its `Capability` trait;
/// - `field`: its field in `Grants`, `Sandbox` and `RawGrants`;
/// - `key`: its key in the manifest's `[capabilities]` table.
///
/// The names differ from the module only where a key predates the
/// registry (`dirs`, `run_command`, `reboot`).
macro_rules! for_each_capability {
    ($then:ident) => {
        $then! {
            files: Files => dirs, dirs;
            download: Download => download, download;
            command: Command => command, run_command;
            device: Device => reboot, reboot;
            certificates: Certificates => certificates, certificates;
            diagnostics: Diagnostics => diagnostics, diagnostics;
            upload: Upload => upload, upload;
        }
    };
}
pub(crate) use for_each_capability;

/// Longest requested path or program.
const MAX_PATH_CHARS: usize = 1024;

/// One capability's key in a manifest's `[capabilities]` table.
pub trait RequestSpec {
    /// Its value as written; the default asks for nothing.
    type Request: Debug + Clone + Default + PartialEq + Eq + Serialize + DeserializeOwned;

    /// Whether the key is in the embedded JSON even when it asks for
    /// nothing. True only for the four keys manifests had from the start
    /// (`dirs`, `download`, `run_command`, `reboot`); later ones are left
    /// out then, so that signing the same TOML gives the same bytes as
    /// before they existed.
    const ALWAYS_WRITTEN: bool = false;

    /// Checks a value beyond its type; the first problem is the error.
    fn validate(_request: &Self::Request) -> Result<(), RequestError> {
        Ok(())
    }

    /// Whether the key goes into the embedded JSON.
    fn written(request: &Self::Request) -> bool {
        Self::ALWAYS_WRITTEN || *request != Self::Request::default()
    }
}

/// A requested value no device accepts, e.g. a relative directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capabilities.{key} {value:?}: {reason}")]
pub struct RequestError {
    /// The manifest key, e.g. `dirs`.
    pub key: &'static str,
    /// The entry refused, e.g. the guest path.
    pub value: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// The checks a requested path or program shares: not too long, no
/// control character.
fn check_text(key: &'static str, value: &str) -> Result<(), RequestError> {
    let bad = |reason| RequestError {
        key,
        value: value.to_owned(),
        reason,
    };
    if value.len() > MAX_PATH_CHARS {
        return Err(bad("is too long"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("contains a control character"));
    }
    Ok(())
}
