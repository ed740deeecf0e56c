//! The agent's configuration: a TOML text parsed into `RawConfig` and
//! resolved by `Config::from_raw`, exactly what `Config::load` does after
//! reading the file. Relative paths resolve against a temporary directory
//! holding the files a config may name: `operator.pub` (the test key),
//! and the TLS files of the example.
//!
//! Inputs naming a file to read (TLS files, trust keys) outside that
//! directory are skipped, so the target never reads `/dev/zero` or the
//! machine's own files: that part of the input space is not fuzzed.
//!
//! Asserts: no panic; an accepted config has a valid thing name, a client
//! id, a keep-alive of 5-1200 s, absolute state and plugin directories,
//! and handler mappings that `check_handler_mapping` accepts; the config
//! is deterministic (a second resolution gives the same `Debug` output).
#![no_main]

use jobhost::config::{Config, RawConfig, EXAMPLE};
use jobhost::document::check_handler_mapping;
use jobhost_protocol::topics::is_valid_thing_name;
use libfuzzer_sys::fuzz_target;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory").keep();
        let key = jobhost_fuzz::test_public_key().to_bytes();
        std::fs::write(dir.join("operator.pub"), key).expect("write the key");
        for file in ["AmazonRootCA1.pem", "device.pem.crt", "private.pem.key"] {
            std::fs::write(dir.join(file), "-----BEGIN TEST-----\n").expect("write a TLS file");
        }
        dir
    })
}

/// Whether `path` resolves inside `base()` without climbing.
fn inside(path: &Path) -> bool {
    path.is_relative() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

fn reads_only_inside(raw: &RawConfig) -> bool {
    let tls = raw.broker.tls.iter().flat_map(|t| {
        std::iter::once(&t.ca)
            .chain(t.cert.iter())
            .chain(t.key.iter())
    });
    tls.chain(raw.trust.keys.iter()).all(|p| inside(p))
}

fuzz_target!(
    init: {
        jobhost_fuzz::seeds(make_seeds);
        base();
    },
    |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(raw) = toml::from_str::<RawConfig>(text) else {
            return;
        };
        if !reads_only_inside(&raw) {
            return;
        }
        let first = Config::from_raw(raw, base());
        let again = toml::from_str::<RawConfig>(text).expect("parsed once");
        let second = Config::from_raw(again, base());
        assert_eq!(format!("{first:?}"), format!("{second:?}"), "not deterministic");
        let Ok(config) = first else {
            return;
        };
        assert!(is_valid_thing_name(&config.thing_name));
        assert!(!config.broker.client_id.is_empty());
        assert!(
            (Duration::from_secs(5)..=Duration::from_secs(1200)).contains(&config.broker.keep_alive)
        );
        assert!(config.state_dir.is_absolute() && config.plugin_dir.is_absolute());
        for (handler, operation) in &config.device_client_handlers {
            check_handler_mapping(handler, operation).expect("an accepted handler mapping");
        }
    }
);

/// The shipped example; the same with every commented-out setting turned
/// on (paths it names exist in `base()`); and a few small configs from the
/// README's sections.
fn make_seeds() -> Vec<(String, Vec<u8>)> {
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with('[')
                    || rest
                        .split_once(" = ")
                        .is_some_and(|(k, _)| !k.contains(' ')) =>
            {
                rest
            }
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    let small = r#"thing_name = "dev-1"
state_dir = "/var/lib/jobhost"
plugin_dir = "plugins"
[broker]
host = "fleet.example.com"
port = 8883
keep_alive_secs = 60
[broker.tls]
ca = "AmazonRootCA1.pem"
cert = "device.pem.crt"
key = "private.pem.key"
[trust]
keys = ["operator.pub"]
revoked = ["0123456789abcdef01234567"]
[plugins.reboot]
reboot = true
[device]
reboot_command = ["/usr/bin/systemctl", "reboot"]
[device_client]
handlers = { "my-update.sh" = "my-update" }
"#;
    vec![
        ("example.toml".into(), EXAMPLE.as_bytes().to_vec()),
        ("example-everything.toml".into(), uncommented.into_bytes()),
        ("tls-trust-reboot.toml".into(), small.as_bytes().to_vec()),
    ]
}
