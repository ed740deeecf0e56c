//! The host side of each WIT interface the `operation-plugin` world
//! imports, one module per capability (spin's factors, wasmtime-wasi's
//! per-interface host modules).
//!
//! Each module holds, for its capability: the grant (what the operator
//! allows, e.g. [`download::DownloadGrant`]), how a config table becomes
//! that grant, the policy that intersects it with what a plugin's signed
//! manifest requests, the per-job context the host calls work with, the
//! `impl <iface>::Host` and its tests.
//!
//! Capabilities are deny-by-default: a call succeeds only when the operator
//! granted that capability to the plugin (the `Sandbox`); otherwise it is
//! refused with a `not-permitted` error naming the capability, and the
//! attempt is logged. `host` (log, progress, checkpoint) and `types` are
//! always there; `files` acts only inside the granted directories.
//!
//! # Per-job state
//!
//! A run's store holds one [`JobCtx`] (what every capability shares: the
//! job's identity, its stop signal, its observer, the granted directories)
//! and one context per capability ([`Capabilities`]). Each interface is
//! linked with its own projection of the store, a [`CapView`] borrowing
//! its context and the shared part, as wasmtime-wasi links each WASI
//! interface with its own view: a capability cannot touch another's state.
//!
//! # Layout
//!
//! - `host`: `jobhost:plugin/host`: log (rate and size limits),
//!   progress, checkpoint, cancelled.
//! - `files`: the granted directories ([`files::DirGrant`], WASI preopens)
//!   and `files.set-executable`.
//! - `download`: HTTP(S) downloads into a granted directory (`transfer`:
//!   resume and retries; `refresh`: a fresh presigned URL).
//! - `upload`: HTTP PUT of a file from a granted directory.
//! - `command`: running an allow-listed program (`process`: its
//!   supervision).
//! - `device`: asking for a reboot.
//! - `certificates`: rotating the device's MQTT client certificate.
//! - `diagnostics`: a snapshot of the agent.
//! - `http`: the HTTP client, URL allow-list rule and log redaction that
//!   download, upload and certificates share.
//!
//! # Adding a capability
//!
//! - its interface in `wit/operation.wit` (and its wrapper in `sdk/`);
//! - a module here: grant, `grant_from_config`, `intersect`, context,
//!   `impl <iface>::Host for CapView<'_, XCtx>`, `add_to_linker`, tests;
//! - here: its `mod` line, its [`Capabilities`] field and its line in
//!   [`add_to_linker`];
//! - its grant in `Sandbox` and its context in `Sandbox::contexts`
//!   (`super::sandbox`);
//! - the wiring of what stays where it is: its keys in
//!   `config::RawPluginGrants` (one flat, `deny_unknown_fields` table, which
//!   serde cannot assemble from per-capability parts) and one call in
//!   `config/grants.rs`; its request in `trust::Manifest` (the signed
//!   format) and one `intersect` call in `plugins/policy.rs`.

pub(crate) mod certificates;
pub(crate) mod command;
pub(crate) mod device;
pub(crate) mod diagnostics;
pub(crate) mod download;
pub(crate) mod files;
pub(crate) mod host;
pub(crate) mod http;
pub(crate) mod upload;

use super::bindings::types;
use super::{CancelToken, Observer};
use jobhost_protocol::StatusDetails;
use std::marker::PhantomData;
use std::time::Instant;
use wasmtime::component::{HasData, HasSelf, Linker};

/// Identity of the execution, for log lines and the plugin's `job` record.
#[derive(Debug, Clone)]
pub(crate) struct JobTag {
    pub plugin: String,
    pub job_id: String,
    pub execution_number: u64,
}

/// What every capability of one run shares.
pub(crate) struct JobCtx {
    pub tag: JobTag,
    pub observer: Box<dyn Observer>,
    pub cancel: CancelToken,
    pub deadline: Instant,
    /// The directories granted to the plugin, which `files`, `download`
    /// and `upload` act in.
    pub dirs: files::Dirs,
    /// The statusDetails size limit (`ExecutionLimits::max_details_bytes`).
    pub max_details_bytes: usize,
    /// What the plugin last reported through `host.progress`; a download
    /// adds its percentage on top rather than replacing it.
    pub last_progress: StatusDetails,
}

impl JobCtx {
    /// Whether the plugin should stop: cancelled or past its deadline.
    pub fn should_stop(&self) -> bool {
        self.stop_signal().is_set()
    }

    /// The same question, detached from the store.
    pub fn stop_signal(&self) -> StopSignal {
        StopSignal {
            cancel: self.cancel.clone(),
            deadline: self.deadline,
        }
    }

    /// Refuses a capability call, and says so in the agent log: a plugin
    /// asking for something it was not granted is worth an operator's
    /// attention.
    pub fn not_granted(&self, capability: &str) -> types::HostError {
        let tag = &self.tag;
        tracing::warn!(
            target: "plugin",
            plugin = %tag.plugin,
            job_id = %tag.job_id,
            "refused: the `{capability}` capability is not granted to this plugin"
        );
        types::HostError::NotPermitted(format!(
            "the `{capability}` capability is not granted to plugin {}",
            tag.plugin
        ))
    }
}

/// Whether a run should stop (cancelled or past its deadline), apart from
/// the store: a host future or a blocking-pool thread can own one.
#[derive(Debug, Clone)]
pub(crate) struct StopSignal {
    cancel: CancelToken,
    deadline: Instant,
}

impl StopSignal {
    /// Cancelled, or past the deadline.
    pub fn is_set(&self) -> bool {
        self.is_cancelled() || Instant::now() >= self.deadline
    }

    /// Cancelled (as opposed to out of time).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// When the run's time is up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// One context per capability: what its host calls keep between calls,
/// and its grant.
pub(crate) struct Capabilities {
    pub host: host::HostCtx,
    pub download: download::DownloadCtx,
    pub upload: upload::UploadCtx,
    pub command: command::CommandCtx,
    pub device: device::DeviceCtx,
    pub certificates: certificates::CertificatesCtx,
    pub diagnostics: diagnostics::DiagnosticsCtx,
}

/// What one interface's host calls see: its capability's context `C` and
/// the shared [`JobCtx`] (wasmtime-wasi's `WasiCtxView`).
pub(crate) struct CapView<'a, C> {
    pub ctx: &'a mut C,
    pub job: &'a mut JobCtx,
}

/// The [`HasData`] of an interface linked with a [`CapView`] of `C`.
pub(crate) struct Cap<C>(PhantomData<C>);

impl<C: 'static> HasData for Cap<C> {
    type Data<'a> = CapView<'a, C>;
}

/// How the store's data hands out the shared part and the capability
/// contexts (wasmtime-wasi's `WasiView`).
pub(crate) trait JobView: Send + 'static {
    fn job(&mut self) -> (&mut JobCtx, &mut Capabilities);
}

/// The getter one interface is linked with: a [`CapView`] of the
/// capability context in the [`Capabilities`] field `$field`. A macro, not
/// a function, because bindgen's `add_to_linker` takes a plain function
/// pointer, which a closure capturing the field choice cannot be.
macro_rules! view {
    ($field:ident) => {
        |t| {
            let (job, caps) = $crate::runtime::capabilities::JobView::job(t);
            $crate::runtime::capabilities::CapView {
                ctx: &mut caps.$field,
                job,
            }
        }
    };
}
pub(crate) use view;

impl types::Host for JobCtx {}

/// Registers every jobhost import: one line per capability.
pub(crate) fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasSelf<JobCtx>>(linker, |t| t.job().0)?;
    host::add_to_linker(linker)?;
    files::add_to_linker(linker)?;
    download::add_to_linker(linker)?;
    upload::add_to_linker(linker)?;
    command::add_to_linker(linker)?;
    device::add_to_linker(linker)?;
    certificates::add_to_linker(linker)?;
    diagnostics::add_to_linker(linker)?;
    Ok(())
}

/// The grant, when the manifest requests the capability too: the policy
/// of every capability that is one grant, requested or not. A request
/// without a grant adds `refusal()` to `denied`.
pub(crate) fn requested_and_granted<G: Clone>(
    requested: bool,
    granted: Option<&G>,
    denied: &mut Vec<String>,
    refusal: impl FnOnce() -> String,
) -> Option<G> {
    if requested && granted.is_none() {
        denied.push(refusal());
    }
    granted.filter(|_| requested).cloned()
}

/// A value in a `[plugins.<name>]` table a capability cannot use: the key
/// and why, e.g. `command_timeout_secs` and ` = 0: must be 1-86400`. The
/// config names the table in front of it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{key}{why}")]
pub struct BadGrant {
    /// The key, without its table.
    pub key: &'static str,
    /// What is wrong, as it follows the key.
    pub why: String,
}
