//! The agent's plugin directory at start-up: only verified plugins load,
//! each named after its signed manifest, operations owned by one plugin,
//! anti-rollback floors enforced (and lifted only by the local override),
//! capabilities = manifest requests ∩ config grants. Real components from
//! target/plugins, signed here with real keys; real files in temporary
//! directories. (`install-plugin` over MQTT is fleet/tests/all/install.rs.)

use crate::support;

use jobhost::config::{Config, RawConfig};
use jobhost::plugins::{InstallRequest, Installed, Plugins};
use jobhost::runtime::{EngineConfig, Runtime};
use jobhost::trust::{inspect, sign, Manifest, SecretKey};
use jobhost_protocol::TerminalStatus;
use sha2::{Digest, Sha256};
use std::path::Path;
use support::{plugin_path, runtime, serve};

/// A device directory: config pieces, a key, a plugin dir.
struct Device {
    dir: tempfile::TempDir,
    key: SecretKey,
}

impl Device {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        key.write_files(&dir.path().join("operator.key")).unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        Self { dir, key }
    }

    /// Signs the built plugin `name` with the manifest edited by `edit` and
    /// writes it to `plugins/<file>`.
    fn install(&self, name: &str, file: &str, key: &SecretKey, edit: impl FnOnce(&mut Manifest)) {
        let wasm = std::fs::read(plugin_path(name)).unwrap();
        let toml = std::fs::read_to_string(plugin_path(name).with_extension("toml")).unwrap();
        let mut manifest = Manifest::from_toml(&toml).unwrap();
        edit(&mut manifest);
        let signed = sign(&wasm, &manifest, key).unwrap();
        std::fs::write(self.dir.path().join("plugins").join(file), signed).unwrap();
    }

    /// The agent's view of the plugin directory with `extra` config lines
    /// (`[trust]` keys are always the operator key).
    fn open(&self, trust: &str, extra: &str) -> std::io::Result<Plugins> {
        self.open_in(&runtime(), trust, extra)
    }

    /// [`Device::open`] on `runtime` (the tests' shared one by default).
    fn open_in(&self, runtime: &Runtime, trust: &str, extra: &str) -> std::io::Result<Plugins> {
        let text = format!(
            "thing_name = \"t\"\nstate_dir = \"state\"\nplugin_dir = \"plugins\"\n\
             [broker]\nhost = \"127.0.0.1\"\nport = 1883\n\
             [trust]\nkeys = [\"operator.key.pub\"]\n{trust}\n{extra}"
        );
        let raw: RawConfig = toml::from_str(&text).unwrap();
        let config = Config::from_raw(raw, self.dir.path()).unwrap();
        Plugins::open(&config, runtime)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The reason the file `name` in the plugin dir was refused.
fn refusal(plugins: &Plugins, name: &str) -> String {
    plugins
        .refused()
        .iter()
        .find(|(path, _)| path.file_name().is_some_and(|f| f == name))
        .map(|(_, why)| why.clone())
        .unwrap_or_else(|| panic!("{name} was not refused: {:?}", plugins.refused()))
}

fn version(v: &str) -> impl FnOnce(&mut Manifest) + '_ {
    move |m| m.version = semver::Version::parse(v).unwrap()
}

#[test]
fn only_verified_plugins_named_after_their_manifest_load() {
    let d = Device::new();
    let stranger = SecretKey::generate().unwrap();
    d.install("echo", "echo.wasm", &d.key, |_| {});
    d.install("test-probe", "probe.wasm", &d.key, |_| {}); // wrong file name
    d.install("download-file", "download-file.wasm", &stranger, |_| {});
    std::fs::write(d.path().join("plugins/garbage.wasm"), b"\0asm junk").unwrap();
    let plugins = d.open("", "").unwrap();
    assert_eq!(plugins.operations(), vec!["echo".to_owned()]);
    assert!(plugins.route("test-probe").is_none());
    assert!(plugins.route("download-file").is_none());
    assert!(refusal(&plugins, "probe.wasm").contains("rename it to test-probe.wasm"));
    assert!(refusal(&plugins, "download-file.wasm").contains("unknown key"));
    assert!(refusal(&plugins, "garbage.wasm").contains("verification failed"));
}

#[test]
fn an_operation_belongs_to_one_plugin() {
    let d = Device::new();
    d.install("echo", "echo.wasm", &d.key, |_| {});
    // A second plugin claiming `echo` too: refused, the first keeps it.
    d.install("test-probe", "test-probe.wasm", &d.key, |m| {
        m.operations = vec!["echo".into(), "probe".into()]
    });
    let plugins = d.open("", "").unwrap();
    assert_eq!(plugins.route("echo").unwrap().manifest.name, "echo");
    assert!(plugins.route("probe").is_none());
    assert_eq!(plugins.names(), vec!["echo".to_owned()]);
    assert!(refusal(&plugins, "test-probe.wasm").contains("already handled by plugin echo"));
}

#[test]
fn a_rolled_back_file_is_refused_unless_the_operator_allows_it() {
    let d = Device::new();
    d.install("echo", "echo.wasm", &d.key, version("2.0.0"));
    drop(d.open("", "").unwrap()); // the device has now run 2.0.0
    d.install("echo", "echo.wasm", &d.key, version("1.0.0"));
    let plugins = d.open("", "").unwrap();
    assert!(plugins.route("echo").is_none(), "1.0.0 must not load");
    assert!(refusal(&plugins, "echo.wasm").contains("anti-rollback"));
    drop(plugins);
    // The local override: it loads, and the floor follows it down.
    let plugins = d.open("allow_downgrade = [\"echo\"]", "").unwrap();
    assert_eq!(
        plugins.route("echo").unwrap().manifest.version.to_string(),
        "1.0.0"
    );
    drop(plugins);
    assert!(d.open("", "").unwrap().route("echo").is_some());
}

#[test]
fn revoked_keys_are_refused_at_load() {
    let d = Device::new();
    d.install("echo", "echo.wasm", &d.key, |_| {});
    let id = d.key.public_key().id();
    let plugins = d.open(&format!("revoked = [\"{id}\"]"), "").unwrap();
    assert!(plugins.route("echo").is_none());
    assert!(refusal(&plugins, "echo.wasm").contains(&format!("revoked key {id}")));
}

#[test]
fn capabilities_are_the_manifest_requests_the_config_grants() {
    let d = Device::new();
    std::fs::create_dir_all(d.path().join("dl")).unwrap();
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    d.install("download-file", "download-file.wasm", &d.key, |_| {});
    // Granted: /downloads read-write, downloads from one host, and /etc
    // which the manifest does not request.
    let plugins = d
        .open(
            "",
            "[plugins.download-file]\ndirs = [\"dl:/downloads\", \"etc:/etc:ro\"]\n\
             download_hosts = [\"updates.example.com\"]\n",
        )
        .unwrap();
    let p = plugins.route("download-file").unwrap();
    assert_eq!(p.sandbox.dirs.len(), 1, "{:?}", p.sandbox.dirs);
    assert_eq!(p.sandbox.dirs[0].guest, "/downloads");
    assert!(!p.sandbox.dirs[0].read_only);
    assert_eq!(
        p.sandbox.download.as_ref().unwrap().hosts,
        vec!["updates.example.com".to_owned()]
    );
    // Nothing granted: it loads (a provisioned plugin), but gets nothing.
    let plugins = d.open("", "").unwrap();
    let p = plugins.route("download-file").unwrap();
    assert!(p.sandbox.dirs.is_empty() && p.sandbox.download.is_none());
}

#[test]
fn a_damaged_floor_file_stops_the_agent_instead_of_forgetting() {
    let d = Device::new();
    std::fs::create_dir_all(d.path().join("state")).unwrap();
    std::fs::write(d.path().join("state/plugin-floors.json"), b"{not json").unwrap();
    let err = d.open("", "").unwrap_err().to_string();
    assert!(err.contains("anti-rollback"), "{err}");
}

#[test]
fn a_signing_key_can_be_granted_what_its_plugins_may_use() {
    let d = Device::new();
    std::fs::create_dir_all(d.path().join("dl")).unwrap();
    std::fs::create_dir_all(d.path().join("other")).unwrap();
    d.install("download-file", "download-file.wasm", &d.key, |_| {});
    let id = d.key.public_key().id();
    let signer = format!(
        "[signers.{id}]\ndirs = [\"dl:/downloads\"]\ndownload_hosts = [\"updates.example.com\"]\n"
    );
    let plugins = d.open("", &signer).unwrap();
    let p = plugins.route("download-file").unwrap();
    assert_eq!(p.sandbox.dirs[0].host, d.path().join("dl"));
    assert!(p.sandbox.download.is_some());

    // The plugin's own table is more specific: it replaces the signer's.
    let own = format!("{signer}[plugins.download-file]\ndirs = [\"other:/downloads\"]\n");
    let plugins = d.open("", &own).unwrap();
    let p = plugins.route("download-file").unwrap();
    assert_eq!(p.sandbox.dirs[0].host, d.path().join("other"));
    assert!(
        p.sandbox.download.is_none(),
        "not in the plugin's own table"
    );

    // Another key's table grants nothing.
    let other = SecretKey::generate().unwrap().public_key().id();
    let plugins = d
        .open(
            "",
            &format!("[signers.{other}]\ndirs = [\"dl:/downloads\"]\n"),
        )
        .unwrap();
    assert!(plugins
        .route("download-file")
        .unwrap()
        .sandbox
        .dirs
        .is_empty());
}

#[test]
fn the_certificate_store_is_offered_only_as_granted() {
    use jobhost::trust::Access;
    let d = Device::new();
    std::fs::create_dir_all(d.path().join("certs")).unwrap();
    d.install("echo", "echo.wasm", &d.key, |m| {
        m.capabilities.certificates = Some(Access::Rw)
    });
    let device = "[device]\ncertificate_dir = \"certs\"\n";

    // Asked read-write, granted read-only: read-only, never more.
    let plugins = d
        .open(
            "",
            &format!("{device}[plugins.echo]\ncertificates = \"ro\"\n"),
        )
        .unwrap();
    let p = plugins.route("echo").unwrap();
    let certs = p
        .sandbox
        .dirs
        .iter()
        .find(|g| g.guest == "/certificates")
        .unwrap();
    assert_eq!(certs.host, d.path().join("certs"));
    assert!(certs.read_only);

    // Not granted: not there.
    let plugins = d.open("", device).unwrap();
    assert!(plugins.route("echo").unwrap().sandbox.dirs.is_empty());
}

#[test]
fn a_certificates_grant_needs_the_certificate_dir() {
    let d = Device::new();
    let text = "thing_name = \"t\"\nstate_dir = \"s\"\nplugin_dir = \"p\"\n\
                [broker]\nhost = \"h\"\nport = 1\n[plugins.x]\ncertificates = \"ro\"\n";
    let raw: RawConfig = toml::from_str(text).unwrap();
    let err = Config::from_raw(raw, d.path()).unwrap_err().to_string();
    assert!(
        err.contains("plugins.x.certificates needs [device] certificate_dir"),
        "{err}"
    );
}

/// `signed` with a second signature by `key`, added by the wasmsign2
/// library (without a key id): another file over the same content.
fn with_another_signature(signed: &[u8], key: &SecretKey) -> Vec<u8> {
    let sk = wasmsign2::SecretKey::from_bytes(&key.to_bytes()).unwrap();
    let module = wasmsign2::Module::deserialize(&mut std::io::Cursor::new(signed)).unwrap();
    let (module, _) = sk.sign_multi(module, None, false, false).unwrap();
    let mut out = Vec::new();
    module.serialize(&mut out).unwrap();
    out
}

#[test]
fn the_same_content_signed_again_is_not_a_reused_version() {
    // SECURITY.md, L2 (a malleable signature section must not make the
    // same content look like a new version): the signature section is not
    // signed, so the same plugin has many whole-file digests; a version is
    // reused only when the signed content (code or manifest) differs.
    let d = Device::new();
    d.install("echo", "echo.wasm", &d.key, |_| {});
    let installed = std::fs::read(d.path().join("plugins/echo.wasm")).unwrap();
    let resigned = with_another_signature(&installed, &d.key);
    assert_ne!(resigned, installed);
    assert_eq!(
        inspect(&resigned).unwrap().content_digest,
        inspect(&installed).unwrap().content_digest
    );
    let wasm = std::fs::read(plugin_path("echo")).unwrap();
    let toml = std::fs::read_to_string(plugin_path("echo").with_extension("toml")).unwrap();
    let mut manifest = Manifest::from_toml(&toml).unwrap();
    manifest.operations.push("echo-too".into());
    let changed = sign(&wasm, &manifest, &d.key).unwrap();
    let files = [
        ("/resigned.wasm", resigned.clone()),
        ("/changed.wasm", changed.clone()),
    ];
    let app = files
        .into_iter()
        .fold(axum::Router::new(), |app, (path, bytes)| {
            app.route(
                path,
                axum::routing::get(move || std::future::ready(bytes.clone())),
            )
        });
    let server = serve(app);
    let base = format!("http://{server}");
    let plugins = d
        .open(
            &format!("install_hosts = [\"{server}\"]\ninstall_allow_http = true"),
            "",
        )
        .unwrap();
    let install = |file: &str, bytes: &[u8]| {
        let request = InstallRequest {
            url: format!("{base}/{file}").parse().unwrap(),
            sha256: hex::encode(Sha256::digest(bytes)),
        };
        plugins.install(&runtime(), &request, &|| false)
    };

    let report = install("resigned.wasm", &resigned).unwrap();
    assert!(!report.unchanged, "another file: installed, not skipped");
    assert_eq!(
        report.installed.digest,
        hex::encode(Sha256::digest(&resigned))
    );
    let e = install("changed.wasm", &changed).err().unwrap().to_string();
    assert!(
        e.contains("already installed with different content"),
        "{e}"
    );
}

/// The compiled cache keeps the entries of the installed plugins only:
/// replacing or removing a plugin does not leave its native code behind
/// (so the cache does not grow without bound; SECURITY.md, L7), whatever
/// number of times it happens.
#[test]
fn the_compiled_cache_keeps_only_installed_plugins() {
    let d = Device::new();
    let cache = d.path().join("state/compiled");
    let rt = Runtime::new(&EngineConfig {
        cache_dir: Some(cache.clone()),
        ..EngineConfig::default()
    })
    .unwrap();
    let entries = || {
        let mut names: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".cwasm"))
            .collect();
        names.sort();
        names
    };
    let digest_prefixes = |plugins: &Plugins| {
        let mut digests: Vec<String> = plugins
            .inventory()
            .iter()
            .map(|p| format!("{}-", p.digest))
            .collect();
        digests.sort();
        digests
    };
    d.install("echo", "echo.wasm", &d.key, |_| {});
    d.install("download-file", "download-file.wasm", &d.key, |_| {});
    let plugins = d.open_in(&rt, "", "").unwrap();
    plugins.prune_cache(&rt);
    assert_eq!(entries().len(), 2);

    // Each new signed copy is a new digest, so a new entry: the old one
    // goes at the next prune.
    for v in ["1.1.0", "1.2.0", "1.3.0"] {
        d.install("echo", "echo.wasm", &d.key, version(v));
        let plugins = d.open_in(&rt, "", "").unwrap();
        assert_eq!(entries().len(), 3, "before pruning: {:?}", entries());
        plugins.prune_cache(&rt);
        let kept = entries();
        let wanted = digest_prefixes(&plugins);
        assert_eq!(kept.len(), 2, "{kept:?}");
        for (entry, digest) in kept.iter().zip(&wanted) {
            assert!(
                entry.starts_with(digest.as_str()),
                "{entry} is not {digest}"
            );
        }
    }

    std::fs::remove_file(d.path().join("plugins/download-file.wasm")).unwrap();
    let plugins = d.open_in(&rt, "", "").unwrap();
    plugins.prune_cache(&rt);
    assert_eq!(entries().len(), 1);
    assert!(entries()[0].starts_with(&digest_prefixes(&plugins)[0]));
}

/// At start every plugin is verified, compiled and linked (so one that
/// cannot run is refused then), and then released: an idle agent holds no
/// plugin's code; its first job maps it again.
#[test]
fn plugins_are_released_until_a_job_needs_them() {
    let d = Device::new();
    let rt = Runtime::new(&EngineConfig {
        cache_dir: Some(d.path().join("state/compiled")),
        ..EngineConfig::default()
    })
    .unwrap();
    d.install("echo", "echo.wasm", &d.key, |_| {});
    d.install("download-file", "download-file.wasm", &d.key, |_| {});
    let plugins = d.open_in(&rt, "", "").unwrap();
    assert!(plugins.refused().is_empty(), "{:?}", plugins.refused());
    assert!(plugins.inventory().iter().all(|p| !p.plugin.is_mapped()));

    let echo = plugins.route("echo").unwrap();
    assert_eq!(run(&rt, &echo), TerminalStatus::Succeeded);
    assert!(echo.plugin.is_mapped());
    assert!(!plugins.route("download-file").unwrap().plugin.is_mapped());

    // An agent idle a while releases what its jobs mapped: the next job
    // maps it again from its file's verified entry.
    assert_eq!(plugins.release_all(), 1);
    assert!(!echo.plugin.is_mapped());
    assert_eq!(plugins.release_all(), 0);
    assert_eq!(run(&rt, &echo), TerminalStatus::Succeeded);
}

/// One `echo` job on `installed`, as the agent would run it.
fn run(rt: &Runtime, installed: &Installed) -> TerminalStatus {
    use jobhost::executor::{self, CancelToken, Conclusion, NullObserver};
    let conclusion = support::block_on(executor::execute(
        rt,
        &installed.plugin,
        &support::execution(r#"{"operation":"echo","message":"hi"}"#),
        &installed.sandbox,
        &installed.limits,
        Box::new(NullObserver::default()),
        CancelToken::new(),
    ));
    match conclusion {
        Conclusion::Report(report) => report.status,
        other => panic!("{other:?}"),
    }
}

/// SECURITY.md, M7 (a name's grants must not go to whoever signs a plugin
/// of that name): `[plugins.application]` is the operator's grant to
/// the operator's `application`. A second trusted key (a vendor's, scoped
/// by `[signers.<vendor>]`) that signs a plugin of that name gets its own
/// scope, not the name's table; and with several keys a table must say
/// which key it is for.
#[test]
fn a_name_table_applies_only_to_the_key_it_names() {
    let d = Device::new();
    let vendor = SecretKey::generate().unwrap();
    vendor.write_files(&d.path().join("vendor.key")).unwrap();
    let (operator_id, vendor_id) = (d.key.public_key().id(), vendor.public_key().id());
    let open = |signer: &str| {
        let text = format!(
            "thing_name = \"t\"\nstate_dir = \"state\"\nplugin_dir = \"plugins\"\n\
             [broker]\nhost = \"127.0.0.1\"\nport = 1883\n\
             [trust]\nkeys = [\"operator.key.pub\", \"vendor.key.pub\"]\n\
             [plugins.application]\n{signer}run_commands = [\"/usr/bin/apt-get\"]\n\
             [signers.{vendor_id}]\ndirs = []\n"
        );
        let raw: RawConfig = toml::from_str(&text).unwrap();
        Config::from_raw(raw, d.path()).map(|c| Plugins::open(&c, &runtime()).unwrap())
    };
    let squat = |m: &mut Manifest| {
        m.name = "application".into();
        m.operations = vec!["application".into()];
        m.capabilities.run_command = vec!["*".into()];
    };

    d.install("echo", "application.wasm", &vendor, squat);
    let plugins = open(&format!("signer = \"{operator_id}\"\n")).unwrap();
    let p = plugins.route("application").unwrap();
    assert_eq!(p.key_id, vendor_id);
    assert!(
        p.sandbox.command.is_none(),
        "the vendor's copy inherited the operator's table: {:?}",
        p.sandbox.command
    );

    // The operator's own copy gets the table.
    d.install("echo", "application.wasm", &d.key, squat);
    let plugins = open(&format!("signer = [\"{operator_id}\"]\n")).unwrap();
    let p = plugins.route("application").unwrap();
    assert_eq!(
        p.sandbox.command.as_ref().unwrap().programs,
        ["/usr/bin/apt-get"]
    );

    // Two keys and no `signer`: refused, naming what to add.
    let err = open("").err().unwrap().to_string();
    assert!(
        err.contains("[plugins.application] must name the key") && err.contains("signer ="),
        "{err}"
    );
    let stranger = SecretKey::generate().unwrap().public_key().id();
    let err = open(&format!("signer = \"{stranger}\"\n"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("is not a trusted key"), "{err}");
}
