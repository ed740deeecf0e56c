//! The agent's configuration file, in two phases (like ripgrep's low/high
//! args): [`RawConfig`] is the TOML exactly as written; [`Config`] is what
//! the agent runs with — paths resolved, files read, everything validated —
//! so a bad config fails at start with a message naming the key.

//!
//! # Layout
//!
//! - `raw`: the TOML structs ([`RawConfig`] and its tables).
//! - `broker`: `[broker]` and `[broker.tls]` (credentials, keep-alive, TLS
//!   material read from disk, the certificate checked against its key, AWS
//!   IoT Core's endpoint, port and ALPN rules).
//! - `device`: `[device]` (reboot command, boot id, certificate store).
//! - `trust`, `limits`, `grants`: resolving `[trust]`, `[limits]` and
//!   `[plugins.<name>]`.
//! - `overlap`: no grant reaches the key, the state, the plugins or the
//!   config itself.
//! - `example`: [`EXAMPLE`], what `jobhost init` writes, and
//!   [`render_example`], the same with `init`'s values (`--aws` among them).

mod broker;
mod device;
mod example;
mod grants;
mod limits;
mod overlap;
mod raw;
mod trust;

pub use crate::runtime::DownloadGrant;
pub use crate::runtime::Grants;
pub use crate::runtime::CERTIFICATES_GUEST;
pub use broker::{aws_endpoint, AwsEndpoint, Broker, Tls, AWS_ALPN, AWS_MQTT_PORT};
pub use device::{Device, DEFAULT_BOOT_ID_FILE};
pub use example::{render as render_example, AwsSetup, Setup, EXAMPLE};
pub use limits::DEFAULT_MAX_STACK_BYTES;
pub use raw::{
    RawBroker, RawConfig, RawDevice, RawDeviceClient, RawLimits, RawPluginGrants, RawTls, RawTrust,
};
pub use trust::{Trust, DEFAULT_MAX_PLUGIN_MIB};

use crate::runtime::ExecutionLimits;
use crate::trust::KeyId;
use grants::resolve_grants;
use jobhost_protocol::topics::is_valid_thing_name;
use limits::resolve_limits;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use trust::resolve_trust;

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Thing name.
    pub thing_name: String,
    /// State directory (created if missing).
    pub state_dir: PathBuf,
    /// Plugin directory.
    pub plugin_dir: PathBuf,
    /// Broker connection.
    pub broker: Broker,
    /// Signature trust and install policy.
    pub trust: Trust,
    /// Default limits.
    pub limits: ExecutionLimits,
    /// Limits by plugin name, where `[plugins.<name>.limits]` overrides.
    pub plugin_limits: BTreeMap<String, ExecutionLimits>,
    /// WebAssembly stack size for every plugin, bytes.
    pub max_stack_bytes: usize,
    /// How to reboot and how to tell a reboot happened.
    pub device: Device,
    /// Minimum interval between progress updates.
    pub progress_interval: Duration,
    /// Grants by plugin name; plugins not listed get nothing.
    pub grants: BTreeMap<String, Grants>,
    /// The keys each `[plugins.<name>]` table applies to: a plugin of that
    /// name signed by another key does not get it.
    pub grant_signers: BTreeMap<String, BTreeSet<KeyId>>,
    /// Grants by signing key, for plugins without a `[plugins.<name>]`
    /// table of their own (the more specific table wins).
    pub signer_grants: BTreeMap<KeyId, Grants>,
    /// `[device_client] handlers`: extra Device Client handlers → the
    /// operations that run them.
    pub device_client_handlers: crate::document::Handlers,
    /// Where plugins missing from the compiled cache are compiled. Not a
    /// setting of the file: `jobhost agent` compiles in a child of its own
    /// executable; a library user (a test) in its own process.
    pub compile_in: crate::runtime::CompileIn,
    /// Whether the agent gives memory back to the device: its executable's
    /// start-up pages once up ([`crate::image`]), and what jobs mapped once
    /// it has been idle a while (`agent::idle`). Not a setting of the
    /// file: `jobhost agent` does; a library user (a test) leaves its
    /// process alone.
    pub give_back_memory: bool,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML or unknown keys.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// A grant reaches something the agent keeps from plugins (the
    /// private key, its state, its plugins, its config), or two grants of
    /// one table nest.
    #[error("invalid config: {grant} overlaps {protected}: {why}")]
    Overlap {
        /// The grant: table, entry and host path.
        grant: String,
        /// What it reaches, and where.
        protected: String,
        /// What a plugin could do through it, and the fix.
        why: String,
    },
}

impl Config {
    /// Reads and resolves the file at `path`. Relative paths inside it are
    /// relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::resolve(raw, base, Some(path))
    }

    /// Resolves a parsed config; `base` anchors relative paths.
    pub fn from_raw(raw: RawConfig, base: &Path) -> Result<Self, ConfigError> {
        Self::resolve(raw, base, None)
    }

    /// [`Config::from_raw`], keeping grants off `file` (the config file)
    /// too when there is one.
    fn resolve(raw: RawConfig, base: &Path, file: Option<&Path>) -> Result<Self, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        if !is_valid_thing_name(&raw.thing_name) {
            return Err(invalid(format!(
                "thing_name {:?} must be 1-128 characters of [a-zA-Z0-9:_-]",
                raw.thing_name
            )));
        }
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let broker = broker::resolve_broker(&raw.broker, &raw.thing_name, &resolve)?;
        let limits = resolve_limits(&raw.limits, &ExecutionLimits::default(), "limits")?;
        let max_stack_bytes = match raw.limits.max_stack_kib {
            None => DEFAULT_MAX_STACK_BYTES,
            Some(k) if (64..=8192).contains(&k) => k << 10,
            Some(k) => {
                return Err(invalid(format!(
                    "limits.max_stack_kib = {k}: must be 64-8192"
                )))
            }
        };
        let mut plugin_limits = BTreeMap::new();
        let trust = resolve_trust(&raw.trust, &resolve)?;
        let protected_files = overlap::protected_files(&raw, &resolve, file);
        let device = device::resolve_device(&raw.device, &resolve)?;
        let mut grants = BTreeMap::new();
        let mut grant_signers = BTreeMap::new();
        for (name, g) in raw.plugins {
            let table = format!("plugins.{name}");
            let signers = trust::resolve_signers(&name, g.signer.as_ref(), &trust.store)?;
            grant_signers.insert(name.clone(), signers);
            if let Some(raw_limits) = &g.limits {
                let what = format!("{table}.limits");
                if raw_limits.progress_interval_secs.is_some() || raw_limits.max_stack_kib.is_some()
                {
                    return Err(invalid(format!(
                        "{what}: progress_interval_secs and max_stack_kib apply to every plugin; set them in [limits]"
                    )));
                }
                plugin_limits.insert(name.clone(), resolve_limits(raw_limits, &limits, &what)?);
            }
            grants.insert(name, resolve_grants(&table, &g, &resolve, &device)?);
        }
        let mut signer_grants = BTreeMap::new();
        for (id, g) in raw.signers {
            let table = format!("signers.{id}");
            let key_id = trust::parse_key_id(&format!("[{table}]"), &id)?;
            if g.limits.is_some() || g.signer.is_some() {
                return Err(invalid(format!(
                    "[{table}]: limits and signer are set per plugin ([plugins.<name>]), not per signer"
                )));
            }
            signer_grants.insert(key_id, resolve_grants(&table, &g, &resolve, &device)?);
        }
        for (handler, operation) in &raw.device_client.handlers {
            crate::document::check_handler_mapping(handler, operation)
                .map_err(|e| invalid(format!("[device_client] handlers: {e}")))?;
        }
        let state_dir = resolve(&raw.state_dir);
        let plugin_dir = resolve(&raw.plugin_dir);
        overlap::check_overlaps(
            protected_files,
            [&state_dir, &plugin_dir],
            device.certificate_dir.as_deref(),
            &grants,
            &signer_grants,
        )?;
        Ok(Self {
            device,
            thing_name: raw.thing_name.clone(),
            state_dir,
            plugin_dir,
            trust,
            broker,
            limits,
            plugin_limits,
            max_stack_bytes,
            progress_interval: Duration::from_secs(raw.limits.progress_interval_secs.unwrap_or(5)),
            grants,
            grant_signers,
            signer_grants,
            device_client_handlers: raw.device_client.handlers,
            compile_in: crate::runtime::CompileIn::ThisProcess,
            give_back_memory: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "t.toml".into(),
            message: e.to_string(),
        })?;
        Config::from_raw(raw, Path::new("/etc/jobhost"))
    }

    #[test]
    fn the_example_parses_and_resolves_relative_paths() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.thing_name, "my-device");
        assert_eq!(c.broker.client_id, "my-device");
        assert_eq!(c.state_dir, Path::new("/etc/jobhost/state"));
        assert_eq!(c.broker.keep_alive, Duration::from_secs(30));
        assert!(c.grants.is_empty());
    }

    #[test]
    fn grants_are_parsed_per_plugin() {
        let c = parse(
            r#"thing_name = "t"
state_dir = "/s"
plugin_dir = "/p"
[broker]
host = "h"
port = 1
[plugins.download-file]
dirs = ["dl:/downloads"]
download_hosts = ["127.0.0.1:8080"]
allow_http = true
"#,
        )
        .unwrap();
        let g = &c.grants["download-file"];
        assert_eq!(g.dirs[0].host, Path::new("/etc/jobhost/dl"));
        assert_eq!(g.dirs[0].guest, "/downloads");
        assert_eq!(
            g.download,
            Some(DownloadGrant {
                hosts: vec!["127.0.0.1:8080".into()],
                allow_http: true
            })
        );
    }

    #[test]
    fn diagnostics_and_upload_grants_are_parsed() {
        let head = "thing_name = \"t\"\nstate_dir = \"/s\"\nplugin_dir = \"/p\"\n\
                    [broker]\nhost = \"h\"\nport = 1\n[plugins.diagnostics]\n";
        let c = parse(&format!(
            "{head}diagnostics = true\nupload_hosts = [\"fleet.example.com\"]\nupload_max_mib = 8\n"
        ))
        .unwrap();
        let g = &c.grants["diagnostics"];
        assert!(g.diagnostics);
        let u = g.upload.as_ref().unwrap();
        assert_eq!(u.hosts, ["fleet.example.com"]);
        assert!(!u.allow_http, "https only unless upload_allow_http");
        assert_eq!(u.max_bytes, 8 << 20);

        let c = parse(&format!("{head}upload_allow_http = true\n")).unwrap();
        let g = &c.grants["diagnostics"];
        assert!(
            !g.diagnostics && g.upload.is_none(),
            "nothing granted by default"
        );

        let err = parse(&format!(
            "{head}upload_hosts = [\"h\"]\nupload_max_mib = 0\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("plugins.diagnostics.upload_max_mib"), "{err}");
    }

    #[test]
    fn run_commands_are_absolute_paths_with_caps() {
        let head = "thing_name = \"t\"\nstate_dir = \"/s\"\nplugin_dir = \"/p\"\n\
                    [broker]\nhost = \"h\"\nport = 1\n[plugins.svc]\n";
        let c = parse(&format!(
            "{head}run_commands = [\"/usr/bin/systemctl\", \"/bin/echo\", \"/bin/echo\"]\n"
        ))
        .unwrap();
        let g = c.grants["svc"].command.as_ref().unwrap();
        assert_eq!(g.programs, ["/usr/bin/systemctl", "/bin/echo"]);
        assert_eq!(g.timeout, crate::runtime::DEFAULT_COMMAND_TIMEOUT);
        assert_eq!(g.output_bytes, crate::runtime::DEFAULT_COMMAND_OUTPUT_BYTES);

        let c = parse(&format!(
            "{head}run_commands = [\"/bin/echo\"]\ncommand_timeout_secs = 5\ncommand_output_bytes = 0\n"
        ))
        .unwrap();
        let g = c.grants["svc"].command.as_ref().unwrap();
        assert_eq!((g.timeout, g.output_bytes), (Duration::from_secs(5), 0));

        let c = parse(&format!("{head}command_timeout_secs = 5\n")).unwrap();
        assert!(
            c.grants["svc"].command.is_none(),
            "caps alone grant nothing"
        );

        for (body, key) in [
            ("run_commands = [\"systemctl\"]", "plugins.svc.run_commands"),
            (
                "run_commands = [\"/usr/bin/../bin/sh\"]",
                "plugins.svc.run_commands",
            ),
            ("run_commands = [\"\"]", "plugins.svc.run_commands"),
            (
                "run_commands = [\"/bin/echo\"]\ncommand_timeout_secs = 0",
                "plugins.svc.command_timeout_secs",
            ),
            (
                "run_commands = [\"/bin/echo\"]\ncommand_output_bytes = 99999999",
                "plugins.svc.command_output_bytes",
            ),
        ] {
            let err = parse(&format!("{head}{body}\n")).unwrap_err().to_string();
            assert!(err.contains(key), "{body}: {err}");
        }
    }

    #[test]
    fn grant_tables_are_named_in_their_errors() {
        let base = "thing_name = \"t\"\nstate_dir = \"/s\"\nplugin_dir = \"/p\"\n\
                    [broker]\nhost = \"h\"\nport = 1\n";
        let err = |table: &str| parse(&format!("{base}{table}")).unwrap_err().to_string();
        let e = err("[plugins.p]\ndownload_host = [\"h\"]\n");
        assert!(
            e.contains("unknown field `download_host` in [plugins.p], expected one of `signer`, `limits`, `dirs`"),
            "{e}"
        );
        let e = err("[signers.0123456789abcdef01234567]\nbogus = 1\n");
        assert!(
            e.contains("unknown field `bogus` in [signers.0123456789abcdef01234567]"),
            "{e}"
        );
        let e = err("[plugins.p]\nallow_http = \"yes\"\n");
        assert!(
            e.contains("line 8")
                && e.contains("expected a boolean")
                && e.contains("in `allow_http`"),
            "the value's type is checked where it is written: {e}"
        );
        let e = err("[plugins.p.limits]\nbogus = 1\n");
        assert!(e.contains("unknown field `bogus`"), "{e}");
        let e = err("[plugins.r]\nreboot = true\n");
        assert!(
            e.contains("plugins.r.reboot = true needs [device] reboot_command"),
            "{e}"
        );
        let ok = parse(&format!(
            "{base}[device]\nreboot_command = [\"/sbin/reboot\"]\n[plugins.r]\nreboot = true\n"
        ))
        .unwrap();
        assert!(ok.grants["r"].reboot);
    }

    #[test]
    fn bad_values_are_named() {
        let base = "state_dir = \"/s\"\nplugin_dir = \"/p\"\n[broker]\nhost = \"h\"\nport = 1\n";
        let err = parse(&format!("thing_name = \"a/b\"\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("thing_name"), "{err}");
        let err = parse(&format!("thing_name = \"t\"\n{base}keep_alive_secs = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("keep_alive_secs"), "{err}");
        let err = parse(&format!("thing_name = \"t\"\nbogus = 1\n{base}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn plugin_limits_override_the_defaults_key_by_key() {
        let base = "thing_name = \"t\"\nstate_dir = \"/s\"\nplugin_dir = \"/p\"\n\
                    [broker]\nhost = \"h\"\nport = 1\n";
        let c = parse(&format!(
            "{base}[limits]\ntimeout_secs = 100\nmax_handles = 32\nmax_stack_kib = 256\n\
             [plugins.slow]\n[plugins.slow.limits]\ntimeout_secs = 3600\nmax_details_kib = 4\n"
        ))
        .unwrap();
        assert_eq!(c.limits.timeout, Duration::from_secs(100));
        assert_eq!(c.max_stack_bytes, 256 << 10);
        let slow = &c.plugin_limits["slow"];
        assert_eq!(slow.timeout, Duration::from_secs(3600));
        assert_eq!(slow.max_details_bytes, 4 << 10);
        assert_eq!(slow.max_handles, 32, "unset keys inherit [limits]");

        let err = parse(&format!("{base}[plugins.p.limits]\nmax_stack_kib = 64\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plugins.p.limits") && err.contains("[limits]"),
            "{err}"
        );
        let err = parse(&format!("{base}[limits]\nmax_details_kib = 1000\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("limits.max_details_kib = 1000: must be 1-100"),
            "{err}"
        );
    }
}
