//! The TOML file exactly as written: what `serde` reads, before any path
//! is resolved or value checked (see [`super::Config::from_raw`]).

use crate::runtime::RawGrants;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

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
    #[serde(default, deserialize_with = "plugin_tables")]
    pub plugins: BTreeMap<String, RawPluginGrants>,
    /// What every plugin signed by a key may use, by key id, for plugins
    /// without a `[plugins.<name>]` table (same keys, no `limits`).
    #[serde(default, deserialize_with = "signer_tables")]
    pub signers: BTreeMap<String, RawPluginGrants>,
    /// Device-level actions: how to reboot, how to tell a reboot happened.
    #[serde(default)]
    pub device: RawDevice,
    /// AWS IoT Device Client job documents (AWS managed templates).
    #[serde(default)]
    pub device_client: RawDeviceClient,
}

/// `[device_client]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeviceClient {
    /// Device Client handler names (`runHandler` steps) → the operation
    /// that runs them, beyond the built-in table (`crate::document`); the
    /// plugin gets `{"operation": …, "args": [...]}`.
    #[serde(default)]
    pub handlers: BTreeMap<String, String>,
}

/// `[device]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    /// The command (argv, no shell) that reboots the device, e.g.
    /// `["/usr/bin/systemctl", "reboot"]`. Without it no plugin can be
    /// granted `reboot`.
    pub reboot_command: Option<Vec<String>>,
    /// The command (argv, no shell) that shuts the device down, e.g.
    /// `["/usr/bin/systemctl", "poweroff"]`, which the built-in `shutdown`
    /// operation (jobs-agent.js's) runs once its SUCCEEDED is accepted.
    /// Without it `shutdown` jobs are REJECTED.
    pub shutdown_command: Option<Vec<String>>,
    /// A file whose content changes at every boot (default
    /// `/proc/sys/kernel/random/boot_id`): how the agent knows a reboot
    /// really happened.
    pub boot_id_file: Option<PathBuf>,
    /// How long to wait, after the reboot command succeeded, for the
    /// device to go down before reporting FAILED (default 300).
    pub reboot_timeout_secs: Option<u64>,
    /// The device's certificate store, offered to plugins granted
    /// `certificates` as the directory `/certificates`. Certificates only:
    /// `[broker.tls] key` inside it is refused (its private key would be
    /// readable by those plugins); the key lives in a host-only directory.
    pub certificate_dir: Option<PathBuf>,
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
    /// Device private key (PEM), for mutual TLS. In a directory of its own
    /// that no grant reaches (rotation keeps `.next`/`.prev` beside it).
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
    /// Minimum seconds between two progress updates (default 5; global
    /// only).
    pub progress_interval_secs: Option<u64>,
    /// Log bytes accepted per run, KiB (default 1024).
    pub max_log_kib: Option<usize>,
    /// Log lines per second (default 100, bursts of twice that).
    pub max_log_lines_per_sec: Option<u32>,
    /// Largest statusDetails map per update, KiB of JSON (default 16, at
    /// most 100: the whole update must fit a 128 KiB MQTT packet).
    pub max_details_kib: Option<usize>,
    /// Open handles (files, directories, streams) at once (default 256).
    pub max_handles: Option<usize>,
    /// WebAssembly stack, KiB (default 512; global only: it is a property
    /// of the engine, shared by every plugin).
    pub max_stack_kib: Option<usize>,
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
    /// Plugin names that `install-plugin` may replace with a copy signed
    /// by another key than the one this device recorded for the name (the
    /// name-takeover override; a key listed in `[plugins.<name>] signer`
    /// is allowed without it).
    #[serde(default)]
    pub allow_signer_change: Vec<String>,
    /// Refuse every download a job document does not bind a `codesign`
    /// to (an artifact signature by one of `keys`): REJECTED before the
    /// run for `download-file` and `install-application`, FAILED at the
    /// download for any other plugin. A codesign that is present is
    /// verified either way. Default false.
    #[serde(default)]
    pub require_artifact_signatures: bool,
}

/// A key id, or several (`signer = "id"` or `signer = ["id1", "id2"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One key id.
    One(String),
    /// Several, e.g. the old and the new key while rotating.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The ids, as written.
    pub fn ids(&self) -> &[String] {
        match self {
            OneOrMany::One(id) => std::slice::from_ref(id),
            OneOrMany::Many(ids) => ids,
        }
    }
}

/// `[plugins.<name>]`: what the operator grants that plugin.
#[derive(Debug, Clone, Default)]
pub struct RawPluginGrants {
    /// `[plugins.<name>]` only: the key id (or ids) whose plugin of that
    /// name this table applies to. May be left out while `[trust]` has one
    /// key; with several it is required, so that a table never applies to
    /// a plugin another key signed under the same name.
    pub signer: Option<OneOrMany>,
    /// Limits for this plugin's runs, overriding `[limits]` key by key.
    pub limits: Option<RawLimits>,
    /// Every other key: each capability's own (`dirs`, `download_hosts`,
    /// `run_commands`, ...; see `crate::runtime::capabilities`).
    pub grants: RawGrants,
}

/// The keys of a grant table that are not a capability's.
const TABLE_KEYS: [&str; 2] = ["signer", "limits"];

fn plugin_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, RawPluginGrants>, D::Error> {
    d.deserialize_map(GrantTables { prefix: "plugins" })
}

fn signer_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, RawPluginGrants>, D::Error> {
    d.deserialize_map(GrantTables { prefix: "signers" })
}

/// `[plugins]` or `[signers]`: grant tables by name, each told its name
/// for its errors.
struct GrantTables {
    prefix: &'static str,
}

impl<'de> Visitor<'de> for GrantTables {
    type Value = BTreeMap<String, RawPluginGrants>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a table of [{}.<name>] tables", self.prefix)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut tables = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let table = format!("{}.{name}", self.prefix);
            let grants = map.next_value_seed(GrantTable { table: &table })?;
            tables.insert(name, grants);
        }
        Ok(tables)
    }
}

/// One grant table: `signer` and `limits` read here, every other key
/// handed to the capability that declares it, and a key no one declares
/// refused, naming the table and every key it may hold (serde's
/// `deny_unknown_fields` message, with the table's name).
struct GrantTable<'a> {
    table: &'a str,
}

impl<'de> DeserializeSeed<'de> for GrantTable<'_> {
    type Value = RawPluginGrants;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for GrantTable<'_> {
    type Value = RawPluginGrants;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the [{}] table", self.table)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = RawPluginGrants::default();
        let mut capability_keys = toml::Table::new();
        while let Some(key) = map.next_key_seed(KnownKey { table: self.table })? {
            match key.as_str() {
                "signer" => out.signer = Some(map.next_value()?),
                "limits" => out.limits = Some(map.next_value()?),
                _ => {
                    let value = map.next_value_seed(CapabilityValue { key: &key })?;
                    capability_keys.insert(key, value);
                }
            }
        }
        out.grants = RawGrants::from_table(capability_keys)
            .map_err(|e| de::Error::custom(e.to_string().trim_end()))?;
        Ok(out)
    }
}

/// A key of a grant table, refused (where it is written) unless the table
/// or a capability declares it.
struct KnownKey<'a> {
    table: &'a str,
}

impl<'de> DeserializeSeed<'de> for KnownKey<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        let key = String::deserialize(d)?;
        if TABLE_KEYS.contains(&key.as_str()) || RawGrants::keys().contains(&key.as_str()) {
            return Ok(key);
        }
        let known: Vec<String> = TABLE_KEYS
            .iter()
            .chain(RawGrants::keys())
            .map(|k| format!("`{k}`"))
            .collect();
        Err(de::Error::custom(format_args!(
            "unknown field `{key}` in [{}], expected one of {}",
            self.table,
            known.join(", ")
        )))
    }
}

/// A capability key's value, its type checked against the capability's
/// config where it is written.
struct CapabilityValue<'a> {
    key: &'a str,
}

impl<'de> DeserializeSeed<'de> for CapabilityValue<'_> {
    type Value = toml::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<toml::Value, D::Error> {
        let value = toml::Value::deserialize(d)?;
        match RawGrants::check(self.key, &value) {
            Some(Ok(())) => Ok(value),
            Some(Err(e)) => Err(de::Error::custom(e.to_string().trim_end())),
            None => Err(de::Error::custom(format_args!(
                "`{}` is no capability's key",
                self.key
            ))),
        }
    }
}
