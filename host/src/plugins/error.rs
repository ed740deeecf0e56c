//! Why a plugin was not installed or loaded.

use crate::runtime::LoadError;
use crate::trust::{KeyId, VerifyError};
use semver::Version;
use std::io;
use std::path::PathBuf;

/// Why a plugin was not installed or loaded. Every variant but
/// [`Refusal::Download`] and [`Refusal::Io`] is final: the same job would
/// be refused again (REJECTED); those two may succeed on retry (FAILED).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Signature, trust, revocation, format, size or manifest.
    #[error("verification failed: {0}")]
    Verify(#[from] VerifyError),
    /// The file is not named after its manifest.
    #[error("{file} holds plugin `{name}`; rename it to {name}.wasm")]
    FileName {
        /// The file.
        file: PathBuf,
        /// The manifest's name.
        name: String,
    },
    /// Older than the highest version this device has run.
    #[error(
        "{name} {version} is older than {floor}, the lowest version this device accepts \
         (anti-rollback); to downgrade, list {name} in [trust] allow_downgrade on the device"
    )]
    Rollback {
        /// Plugin name.
        name: String,
        /// The refused version.
        version: Version,
        /// The floor.
        floor: Version,
    },
    /// Same name and version as the installed plugin, different signed
    /// content (code or manifest). The same content signed again (another
    /// key, another signature section) is not refused: only the content
    /// digest is compared, because the signature section is not signed.
    #[error(
        "{name} {version} is already installed with different content (sha256 {installed}); \
         a changed plugin needs a new version"
    )]
    VersionReused {
        /// Plugin name.
        name: String,
        /// The version.
        version: Version,
        /// The installed file's sha256.
        installed: String,
    },
    /// Another key than the one recorded for the name signed it.
    #[error(
        "{name} was signed by key {recorded} on this device, and this copy by key {signer}; \
         to let the name change hands, list {signer} in [plugins.{name}] signer (or {name} in \
         [trust] allow_signer_change) on the device"
    )]
    SignerChanged {
        /// Plugin name.
        name: String,
        /// The key recorded for the name.
        recorded: KeyId,
        /// The key that signed the refused copy.
        signer: KeyId,
    },
    /// Another plugin already handles one of its operations.
    #[error("operation `{operation}` is already handled by plugin {owner}; remove it first")]
    Conflict {
        /// The contested operation.
        operation: String,
        /// The plugin that has it.
        owner: String,
    },
    /// It asks for capabilities the operator's policy does not grant.
    #[error("{name} requests capabilities this device does not grant: {}", denied.join("; "))]
    Denied {
        /// Plugin name.
        name: String,
        /// Each ungranted request.
        denied: Vec<String>,
    },
    /// Verified, but wasmtime refused it (invalid, wrong world).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// `install-plugin` is not enabled, or not from that host.
    #[error("{0}")]
    NotPermitted(String),
    /// The job's document is not an acceptable install or remove request.
    #[error("{0}")]
    BadRequest(String),
    /// The downloaded file's sha256 is not the document's.
    #[error("sha256 mismatch: the job says {expected}, the download is {actual}")]
    DigestMismatch {
        /// From the job document.
        expected: String,
        /// Of the downloaded bytes.
        actual: String,
    },
    /// The download is larger than `[trust] max_plugin_mib`.
    #[error("the plugin is over the {max}-byte size limit ([trust] max_plugin_mib)")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The job was cancelled before the plugin was installed.
    #[error("cancelled")]
    Cancelled,
    /// The download failed (network, HTTP status): may work on retry.
    #[error("download failed: {0}")]
    Download(String),
    /// A local file operation failed: may work on retry.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: io::Error,
    },
}

impl Refusal {
    /// Whether retrying the same job could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Refusal::Download(_) | Refusal::Io { .. })
    }
}
