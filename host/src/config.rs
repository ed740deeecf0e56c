//! The agent's configuration file, in two phases (like ripgrep's low/high
//! args): [`RawConfig`] is the TOML exactly as written; [`Config`] is what
//! the agent runs with — paths resolved, files read, everything validated —
//! so a bad config fails at start with a message naming the key.

pub use crate::runtime::DownloadGrant;
use crate::runtime::{DirGrant, ExecutionLimits};
use crate::trust::{KeyId, PublicKey, TrustStore};
use jobhost_protocol::topics::is_valid_thing_name;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The TOML file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The AWS IoT thing this device is (1–128 of `[a-zA-Z0-9:_-]`).
    pub thing_name: String,
    /// Journal and compiled cache live here.
    pub state_dir: PathBuf,
    /// Installed plugins (`<name>.wasm`, signed) live here.
    pub plugin_dir: PathBuf,
    /// How to reach the broker.
    pub broker: RawBroker,
    /// Which signatures this device accepts.
    #[serde(default)]
    pub trust: RawTrust,
    /// Default per-execution limits.
    #[serde(default)]
    pub limits: RawLimits,
    /// What each plugin may use, by plugin name.
    #[serde(default)]
    pub plugins: BTreeMap<String, RawPluginGrants>,
}

/// `[broker]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBroker {
    /// Host name (also the TLS server name).
    pub host: String,
    /// Port: 1883 plain, 8883 TLS, 443 with ALPN `x-amzn-mqtt-ca` on AWS.
    pub port: u16,
    /// MQTT client id; defaults to the thing name (AWS policies key on it).
    pub client_id: Option<String>,
    /// Optional MQTT username/password (not used by AWS IoT, which uses mTLS).
    pub username: Option<String>,
    /// See `username`.
    pub password: Option<String>,
    /// MQTT keep-alive in seconds (default 30: detects a dead link in ~45 s).
    pub keep_alive_secs: Option<u64>,
    /// `false` asks the broker to keep the session across reconnects (AWS
    /// keeps it one hour). Default `true`: the agent resubscribes and replays
    /// its own outbox either way.
    pub clean_session: Option<bool>,
    /// TLS settings; plain TCP when absent.
    pub tls: Option<RawTls>,
}

/// `[broker.tls]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// CA certificate(s) that sign the broker's certificate (PEM).
    pub ca: PathBuf,
    /// Device certificate (PEM), for mutual TLS.
    pub cert: Option<PathBuf>,
    /// Device private key (PEM), for mutual TLS.
    pub key: Option<PathBuf>,
    /// ALPN protocols, e.g. `["x-amzn-mqtt-ca"]` for AWS IoT on port 443.
    #[serde(default)]
    pub alpn: Vec<String>,
}

/// `[limits]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Wall-clock limit of one run, seconds (default 600).
    pub timeout_secs: Option<u64>,
    /// Memory limit of one run, MiB (default 128).
    pub memory_mib: Option<usize>,
    /// Minimum seconds between two progress updates (default 5).
    pub progress_interval_secs: Option<u64>,
}

/// `[trust]`: the keys whose signed plugins this device runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrust {
    /// Public key files (`KEY.pub` from `jobhost plugin keygen`). Several
    /// keys allow rotation: list the new key, re-sign, then drop the old.
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    /// Key ids (24 hex digits) refused even when their key is listed.
    #[serde(default)]
    pub revoked: Vec<String>,
    /// Largest plugin file accepted, MiB (default 64).
    pub max_plugin_mib: Option<u64>,
    /// Plugin names that may be installed at a LOWER version than the
    /// highest this device has run (the anti-rollback override).
    #[serde(default)]
    pub allow_downgrade: Vec<String>,
    /// Hosts (`name` or `name:port`) the built-in `install-plugin`
    /// operation may download from. Empty: `install-plugin` is refused.
    #[serde(default)]
    pub install_hosts: Vec<String>,
    /// Allow `http://` for `install-plugin` downloads (the signature is
    /// still checked; default: https only).
    #[serde(default)]
    pub install_allow_http: bool,
}

/// `[plugins.<name>]`: what the operator grants that plugin.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPluginGrants {
    /// Directories, `HOST[:GUEST][:ro]`, as for `jobhost run --grant-dir`.
    #[serde(default)]
    pub dirs: Vec<String>,
    /// Hosts (`name` or `name:port`) the plugin may download from.
    #[serde(default)]
    pub download_hosts: Vec<String>,
    /// Allow `http://` downloads from those hosts (default: https only).
    #[serde(default)]
    pub allow_http: bool,
}

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
    /// Minimum interval between progress updates.
    pub progress_interval: Duration,
    /// Grants by plugin name; plugins not listed get nothing.
    pub grants: BTreeMap<String, Grants>,
}

/// Broker connection settings.
#[derive(Debug, Clone)]
pub struct Broker {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Client id.
    pub client_id: String,
    /// Credentials.
    pub credentials: Option<(String, String)>,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// Clean session flag.
    pub clean_session: bool,
    /// TLS material, read from disk.
    pub tls: Option<Tls>,
}

/// TLS material, loaded.
#[derive(Clone)]
pub struct Tls {
    /// CA PEM.
    pub ca: Vec<u8>,
    /// Device certificate and key PEM.
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
    /// ALPN protocols.
    pub alpn: Vec<String>,
}

impl std::fmt::Debug for Tls {
    /// Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca", &format_args!("{} bytes", self.ca.len()))
            .field(
                "client_auth",
                &self.client_auth.as_ref().map(|_| "<redacted>"),
            )
            .field("alpn", &self.alpn)
            .finish()
    }
}

/// What the device trusts, resolved: keys read and checked.
#[derive(Debug, Clone)]
pub struct Trust {
    /// Trusted keys minus revoked ids.
    pub store: TrustStore,
    /// Largest plugin file accepted, bytes.
    pub max_plugin_bytes: u64,
    /// Plugins allowed to go below their anti-rollback floor.
    pub allow_downgrade: BTreeSet<String>,
    /// Where `install-plugin` may download from; `None`: it is refused.
    pub install_from: Option<DownloadGrant>,
}

impl Default for Trust {
    fn default() -> Self {
        Self {
            store: TrustStore::default(),
            max_plugin_bytes: DEFAULT_MAX_PLUGIN_MIB << 20,
            allow_downgrade: BTreeSet::new(),
            install_from: None,
        }
    }
}

/// Default `[trust] max_plugin_mib`: componentize-py output is ~18 MiB and
/// componentize-js ~12 MiB (shared/reference/wasm-toolchain.md); 64 MiB
/// leaves room without letting a bad file exhaust a small device.
pub const DEFAULT_MAX_PLUGIN_MIB: u64 = 64;

/// What one plugin is granted.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Preopened directories.
    pub dirs: Vec<DirGrant>,
    /// Download allow-list; `None` means no download capability.
    pub download: Option<DownloadGrant>,
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
        Self::from_raw(raw, base)
    }

    /// Resolves a parsed config; `base` anchors relative paths.
    pub fn from_raw(raw: RawConfig, base: &Path) -> Result<Self, ConfigError> {
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
        let tls = match &raw.broker.tls {
            None => None,
            Some(t) => {
                let read = |p: &Path| {
                    let p = resolve(p);
                    std::fs::read(&p).map_err(|source| ConfigError::Read { path: p, source })
                };
                let client_auth = match (&t.cert, &t.key) {
                    (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
                    (None, None) => None,
                    _ => {
                        return Err(invalid(
                            "broker.tls.cert and broker.tls.key go together".into(),
                        ))
                    }
                };
                Some(Tls {
                    ca: read(&t.ca)?,
                    client_auth,
                    alpn: t.alpn.clone(),
                })
            }
        };
        let credentials = match (&raw.broker.username, &raw.broker.password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
            (None, Some(_)) => return Err(invalid("broker.password needs broker.username".into())),
            (None, None) => None,
        };
        let keep_alive = raw.broker.keep_alive_secs.unwrap_or(30);
        if !(5..=1200).contains(&keep_alive) {
            return Err(invalid(format!(
                "broker.keep_alive_secs = {keep_alive}: must be 5-1200 (AWS allows 30-1200)"
            )));
        }
        let defaults = ExecutionLimits::default();
        let limits = ExecutionLimits {
            timeout: raw
                .limits
                .timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(defaults.timeout),
            memory_bytes: match raw.limits.memory_mib {
                Some(m) if m == 0 || m > 4096 => {
                    return Err(invalid(format!("limits.memory_mib = {m}: must be 1-4096")))
                }
                Some(m) => m << 20,
                None => defaults.memory_bytes,
            },
            ..defaults
        };
        let trust = resolve_trust(&raw.trust, &resolve)?;
        let mut grants = BTreeMap::new();
        for (name, g) in raw.plugins {
            let dirs = g
                .dirs
                .iter()
                .map(|d| {
                    let mut grant: DirGrant = d
                        .parse()
                        .map_err(|e| invalid(format!("plugins.{name}.dirs: {e}")))?;
                    grant.host = resolve(&grant.host);
                    Ok(grant)
                })
                .collect::<Result<Vec<_>, ConfigError>>()?;
            let download = (!g.download_hosts.is_empty()).then(|| DownloadGrant {
                hosts: g.download_hosts.clone(),
                allow_http: g.allow_http,
            });
            grants.insert(name, Grants { dirs, download });
        }
        Ok(Self {
            thing_name: raw.thing_name.clone(),
            state_dir: resolve(&raw.state_dir),
            plugin_dir: resolve(&raw.plugin_dir),
            trust,
            broker: Broker {
                host: raw.broker.host,
                port: raw.broker.port,
                client_id: raw.broker.client_id.unwrap_or(raw.thing_name),
                credentials,
                keep_alive: Duration::from_secs(keep_alive),
                clean_session: raw.broker.clean_session.unwrap_or(true),
                tls,
            },
            limits,
            progress_interval: Duration::from_secs(raw.limits.progress_interval_secs.unwrap_or(5)),
            grants,
        })
    }
}

fn resolve_trust(raw: &RawTrust, resolve: &dyn Fn(&Path) -> PathBuf) -> Result<Trust, ConfigError> {
    let invalid = |m: String| ConfigError::Invalid(m);
    let keys = raw
        .keys
        .iter()
        .map(|p| {
            let path = resolve(p);
            PublicKey::read_file(&path).map_err(|e| invalid(format!("trust.keys: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let revoked = raw
        .revoked
        .iter()
        .map(|id| {
            id.parse::<KeyId>().map_err(|_| {
                invalid(format!(
                    "trust.revoked: {id:?} is not a key id (24 hex digits, as `jobhost plugin inspect` shows)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mib = raw.max_plugin_mib.unwrap_or(DEFAULT_MAX_PLUGIN_MIB);
    if !(1..=1024).contains(&mib) {
        return Err(invalid(format!(
            "trust.max_plugin_mib = {mib}: must be 1-1024"
        )));
    }
    Ok(Trust {
        store: TrustStore::new(keys, revoked),
        max_plugin_bytes: mib << 20,
        allow_downgrade: raw.allow_downgrade.iter().cloned().collect(),
        install_from: (!raw.install_hosts.is_empty()).then(|| DownloadGrant {
            hosts: raw.install_hosts.clone(),
            allow_http: raw.install_allow_http,
        }),
    })
}

/// The commented example `jobhost init` writes.
pub const EXAMPLE: &str = r#"# jobhost agent configuration. Relative paths are relative to this file.

# The AWS IoT thing this device is: 1-128 characters of [a-zA-Z0-9:_-].
thing_name = "my-device"

# The journal (running execution, unsent statuses) and the compiled-plugin
# cache live here. Keep it on persistent storage.
state_dir = "state"

# Installed plugins: <name>.wasm, each signed by a key in [trust]. A job
# whose document says {"operation": "X"} runs in the plugin whose signed
# manifest lists operation X. The built-in `install-plugin` and
# `remove-plugin` operations manage this directory.
plugin_dir = "plugins"

[broker]
host = "127.0.0.1"
port = 1883
# client_id = "my-device"        # defaults to thing_name
# username = "..."               # plain MQTT credentials (not used by AWS IoT)
# password = "..."
# keep_alive_secs = 30
# clean_session = true

# For AWS IoT Core: port 8883, or 443 with ALPN.
# [broker.tls]
# ca = "AmazonRootCA1.pem"
# cert = "device.pem.crt"
# key = "private.pem.key"
# alpn = ["x-amzn-mqtt-ca"]      # only with port 443

# Only plugins signed by one of these keys are loaded or installed
# (`jobhost plugin keygen` makes a key pair; see "Publishing a plugin" in
# the README). With no key, no plugin runs.
[trust]
# keys = ["operator.pub"]
# revoked = ["0123456789abcdef01234567"]  # key ids refused even if listed
# max_plugin_mib = 64
# A plugin never goes back to an older version than this device has run,
# unless listed here:
# allow_downgrade = ["download-file"]
# Hosts the built-in install-plugin operation may download from (https
# only unless install_allow_http = true). Empty: install-plugin is refused.
# install_hosts = ["fleet.example.com"]

[limits]
# timeout_secs = 600             # per run; a run past it ends FAILED
# memory_mib = 128               # per run
# progress_interval_secs = 5     # at most one progress update this often

# What each plugin may use. Nothing is granted unless listed here.
# [plugins.download-file]
# dirs = ["/var/lib/jobhost/downloads:/downloads"]
# download_hosts = ["updates.example.com"]
# allow_http = false
"#;

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
}
