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
//! # The registry
//!
//! Everything with one part per capability is generated here from the one
//! list (`crate::requests::for_each_capability!`), through the
//! [`Capability`] and [`CapabilityHost`] traits each module implements:
//!
//! - [`RawGrants`]: a `[plugins.<name>]` table's keys as written, each
//!   capability reading its own ([`Capability::Config`]);
//! - [`Grants`]: what the table grants ([`Capability::grant_from_config`]),
//!   and the host directories it reaches ([`Capability::reaches`]);
//! - [`Sandbox`]: what one plugin gets, its signed requests ∩ its grants
//!   ([`admit`], [`Capability::intersect`], [`Resolution`]);
//! - [`Capabilities`]: the contexts of one run ([`CapabilityHost::ctx`]);
//! - [`add_to_linker`]: each interface linked with its own view
//!   ([`CapabilityHost::add_to_linker`]).
//!
//! It lives in this parent module because it composes the children: each
//! capability module implements the traits, and this module's generated
//! code names each of them.
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
//! - `keys`: reading a capability's config keys from a grant table.
//!
//! # Adding a capability
//!
//! - its interface in `wit/operation.wit` (and its wrapper in `sdk/`);
//! - a module here: a unit type implementing [`Capability`]
//!   (config keys, grant, `intersect`, context, linking), the
//!   `impl <iface>::Host for CapView<'_, XCtx>`, tests; and its `mod` line;
//! - its manifest request in `crate::requests::<name>` (below `trust`,
//!   which checks a manifest when it verifies it);
//! - one line in `crate::requests::for_each_capability!`, from which the
//!   registry generates its place in the manifest, the config tables,
//!   `Grants`, `Sandbox`, the contexts, the linker and the policy.
//!
//! Nothing else names it (`super::bindings` re-exports every interface by
//! a glob). What a capability may need besides, agent behaviour rather
//! than registration (config outside its table, inputs the executor sets,
//! a result the agent acts on after the run), is listed in
//! docs/architecture.md, "The capability registry".

pub(crate) mod certificates;
pub(crate) mod command;
pub(crate) mod device;
pub(crate) mod diagnostics;
pub(crate) mod download;
pub(crate) mod files;
pub(crate) mod host;
pub(crate) mod http;
mod keys;
pub(crate) mod upload;

use super::bindings::types;
use super::{CancelToken, ExecutionLimits, Observer};
use crate::requests::for_each_capability;
use crate::trust::artifact::ArtifactTrust;
use certificates::CertificateTarget;
use files::DirGrant;
use host::HostCtx;
use jobhost_protocol::StatusDetails;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
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

/// One host capability, as the config and the policy see it: its config
/// keys and grant, and its policy against the signed request. Implemented
/// by a unit type in each capability module, e.g. `download::Download`,
/// which implements [`CapabilityHost`] too.
pub trait Capability {
    /// The manifest's request (`crate::requests::<module>::Spec`'s type).
    type Request;
    /// Its keys in a `[plugins.<name>]` or `[signers.<key id>]` table: a
    /// serde struct with `#[serde(default, deny_unknown_fields)]`, whose
    /// field names are the keys. No two capabilities share a key.
    type Config: Debug + Clone + Default + DeserializeOwned;
    /// What the operator grants, resolved from `Config`; the default
    /// grants nothing.
    type Grant: Debug + Clone + Default;
    /// What one plugin gets: its request ∩ the grant; its field in
    /// [`Sandbox`]. The default is nothing.
    type Granted: Debug + Clone + Default;

    /// The grant a table's keys make, or the key that is wrong.
    fn grant_from_config(
        config: &Self::Config,
        env: &GrantEnv<'_>,
    ) -> Result<Self::Grant, BadGrant>;

    /// The host directories the grant reaches (none for most), which the
    /// config keeps off the agent's own files (`config::overlap`).
    fn reaches(grant: &Self::Grant) -> Vec<Reach<'_>>;

    /// What the plugin gets when its manifest asks for `request` and the
    /// operator grants `grant`; each request not granted is refused in
    /// words through `admission`.
    fn intersect(
        request: &Self::Request,
        grant: &Self::Grant,
        admission: &mut Admission<'_>,
    ) -> Self::Granted;
}

/// The run-time half of a capability: its per-run context and its
/// interface's linking (apart from [`Capability`], whose types the
/// public `Sandbox` and `Grants` show, because these are the agent's own).
pub(crate) trait CapabilityHost: Capability {
    /// What its host calls keep during one run.
    type Ctx: Send + 'static;

    /// The context of one run under `sandbox`.
    fn ctx(sandbox: &Sandbox, limits: &ExecutionLimits) -> Self::Ctx;

    /// Links its interface, with a view of its own context.
    fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()>;
}

/// What a grant may depend on besides its own table's keys.
pub struct GrantEnv<'a> {
    /// Anchors a relative host path (at the config file's directory).
    pub resolve: &'a dyn Fn(&Path) -> PathBuf,
    /// `[device] certificate_dir`.
    pub certificate_dir: Option<&'a Path>,
    /// Whether `[device] reboot_command` is set.
    pub can_reboot: bool,
}

/// A host directory a grant reaches: how the table names it (e.g.
/// `dirs entry "/srv/d:/data:rw"`) and where it is.
#[derive(Debug)]
pub struct Reach<'a> {
    /// The entry, without its table.
    pub what: String,
    /// The directory on the device.
    pub host: &'a Path,
}

/// What admitting one plugin collects besides each capability's share:
/// the requests refused, and the directories a capability other than
/// `files` preopens (the certificate store).
pub struct Admission<'a> {
    plugin: &'a str,
    denied: Vec<String>,
    preopens: Vec<DirGrant>,
}

impl<'a> Admission<'a> {
    fn new(plugin: &'a str) -> Self {
        Self {
            plugin,
            denied: Vec::new(),
            preopens: Vec::new(),
        }
    }

    /// The plugin's name, for refusals that name its table.
    pub fn plugin(&self) -> &str {
        self.plugin
    }

    /// Records a request that is not granted, in words.
    pub fn deny(&mut self, why: String) {
        self.denied.push(why);
    }

    /// Adds a directory to the plugin's preopens.
    pub fn preopen(&mut self, dir: DirGrant) {
        self.preopens.push(dir);
    }

    /// The grant, when the request asks for it too: the policy of every
    /// capability that is one grant. A request without a grant is refused
    /// with `refusal(plugin)`.
    pub fn both<G: Clone>(
        &mut self,
        requested: bool,
        granted: Option<&G>,
        refusal: impl FnOnce(&str) -> String,
    ) -> Option<G> {
        if requested && granted.is_none() {
            self.deny(refusal(self.plugin));
        }
        granted.filter(|_| requested).cloned()
    }

    /// [`Admission::both`] for a capability that is a yes on both sides.
    pub fn flag(
        &mut self,
        requested: bool,
        granted: bool,
        refusal: impl FnOnce(&str) -> String,
    ) -> bool {
        self.both(requested, granted.then_some(&()), refusal)
            .is_some()
    }
}

/// What [`admit`] gives a plugin: the sandbox it runs in, and each request
/// the policy does not grant (in words, for the install refusal or the
/// load warning).
#[derive(Debug)]
pub struct Resolution {
    /// Requests ∩ grants.
    pub sandbox: Sandbox,
    /// What was requested but not granted, e.g.
    /// "directory /data (read-write): not granted".
    pub denied: Vec<String>,
}

/// How one capability's keys are read, for code that walks the registry
/// at run time (reading a grant table).
pub(crate) struct Entry {
    /// Its keys in a `[plugins.<name>]` table.
    pub config_keys: fn() -> &'static [&'static str],
    /// Whether `key = value` is a valid entry of its config.
    pub check: fn(&str, &toml::Value) -> Result<(), toml::de::Error>,
}

/// Generates the registry's types and functions from the list.
macro_rules! registry {
    ($($module:ident: $Type:ident => $field:ident, $key:ident;)*) => {
        use self::{$($module::$Type),*};

        /// The registry, in its order.
        pub(crate) const REGISTRY: &[Entry] = &[$(Entry {
            config_keys: keys::struct_fields::<<$Type as Capability>::Config>,
            check: keys::check_entry::<<$Type as Capability>::Config>,
        },)*];

        /// The sandbox of one execution: for each capability, what it
        /// grants this plugin (`None`, `false` or empty: nothing).
        #[derive(Debug, Clone, Default)]
        pub struct Sandbox {
            $(
                #[doc = concat!("The `", stringify!($module), "` capability: the manifest's `",
                    stringify!($key), "` ∩ the config's grant (`runtime::capabilities::",
                    stringify!($module), "`).")]
                pub $field: <$Type as Capability>::Granted,
            )*
            /// The files that rotation acts on, filled in by the agent
            /// from `[broker.tls]`; `None` without a client certificate
            /// (or under `jobhost run`), where the `certificates` calls
            /// fail.
            pub certificate_target: Option<CertificateTarget>,
            /// What the `download` capability checks artifact signatures
            /// (a job document's `codesign`) with: `[trust]`'s keys, filled
            /// in by the agent. The default trusts no key, so a codesign is
            /// refused rather than skipped where none is configured.
            pub artifacts: Arc<ArtifactTrust>,
        }

        /// What one `[plugins.<name>]` or `[signers.<key id>]` table grants.
        #[derive(Debug, Clone, Default)]
        pub struct Grants {
            $(
                #[doc = concat!("The `", stringify!($module), "` capability's grant.")]
                pub $field: <$Type as Capability>::Grant,
            )*
        }

        /// The capability keys of one `[plugins.<name>]` or
        /// `[signers.<key id>]` table, as written: each capability's own.
        #[derive(Debug, Clone, Default)]
        pub struct RawGrants {
            $(
                #[doc = concat!("The `", stringify!($module), "` capability's keys.")]
                pub $field: <$Type as Capability>::Config,
            )*
        }

        /// One context per capability, and the `host` interface's (which
        /// every plugin has). A capability whose calls keep nothing of
        /// their own (`files`) has `()` here, which nothing reads.
        #[allow(dead_code)]
        pub(crate) struct Capabilities {
            pub host: HostCtx,
            $(pub $module: <$Type as CapabilityHost>::Ctx,)*
        }

        impl RawGrants {
            /// Each capability's keys taken out of `table` (whose keys
            /// [`RawGrants::check`] said are capability keys); a key no
            /// capability takes is refused.
            pub fn from_table(mut table: toml::Table) -> Result<Self, toml::de::Error> {
                let raw = Self {
                    $($field: keys::take::<<$Type as Capability>::Config>(&mut table)?,)*
                };
                match table.keys().next() {
                    None => Ok(raw),
                    Some(key) => Err(serde::de::Error::custom(format_args!(
                        "`{key}` is no capability's key"
                    ))),
                }
            }
        }

        impl Grants {
            /// Resolves each capability's keys; the error is the first
            /// wrong key, in the registry's order.
            pub fn from_config(raw: &RawGrants, env: &GrantEnv<'_>) -> Result<Self, BadGrant> {
                Ok(Self {
                    $($field: <$Type as Capability>::grant_from_config(&raw.$field, env)?,)*
                })
            }

            /// Every host directory these grants reach.
            pub fn reaches(&self) -> Vec<Reach<'_>> {
                let mut all = Vec::new();
                $(all.extend(<$Type as Capability>::reaches(&self.$field));)*
                all
            }
        }

        /// Intersects a signed manifest's requests with the grants of
        /// plugin `plugin`, capability by capability.
        pub fn admit(requests: &crate::trust::Capabilities, grants: &Grants, plugin: &str) -> Resolution {
            let mut admission = Admission::new(plugin);
            let mut sandbox = Sandbox {
                $($field: <$Type as Capability>::intersect(&requests.$key, &grants.$field, &mut admission),)*
                certificate_target: None,
                artifacts: Arc::default(),
            };
            // The directories other capabilities preopen come after the
            // plugin's own `dirs`.
            sandbox.dirs.extend(admission.preopens);
            Resolution { sandbox, denied: admission.denied }
        }

        impl Sandbox {
            /// The per-capability contexts of one run under this sandbox.
            pub(crate) fn contexts(&self, limits: &ExecutionLimits) -> Capabilities {
                Capabilities {
                    host: HostCtx::new(limits),
                    $($module: <$Type as CapabilityHost>::ctx(self, limits),)*
                }
            }
        }

        /// Registers every jobhost import: `types` and `host`, which
        /// every plugin has, then each capability's interface.
        pub(crate) fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
            types::add_to_linker::<T, HasSelf<JobCtx>>(linker, |t| t.job().0)?;
            host::add_to_linker(linker)?;
            $(<$Type as CapabilityHost>::add_to_linker(linker)?;)*
            Ok(())
        }
    };
}
for_each_capability!(registry);

impl RawGrants {
    /// Every capability key, in the registry's order.
    pub fn keys() -> &'static [&'static str] {
        static KEYS: OnceLock<Vec<&'static str>> = OnceLock::new();
        KEYS.get_or_init(|| {
            REGISTRY
                .iter()
                .flat_map(|entry| (entry.config_keys)().iter().copied())
                .collect()
        })
    }

    /// Whether `key` is a capability's, and its value of the right type
    /// for it; `None` when no capability has the key.
    pub fn check(key: &str, value: &toml::Value) -> Option<Result<(), toml::de::Error>> {
        REGISTRY
            .iter()
            .find(|entry| (entry.config_keys)().contains(&key))
            .map(|entry| (entry.check)(key, value))
    }
}

#[cfg(test)]
mod tests;
