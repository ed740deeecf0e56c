//! Shipping a new operation as a signed plugin, end to end: the built-in
//! `install-plugin` job downloads it from the jobs service's artifact store
//! (presigned placeholder), the device verifies signature, trust,
//! revocation, version and capabilities before compiling anything, and the
//! NEXT job uses the operation. Every bad file is refused with a precise
//! reason (REJECTED) and the agent keeps serving.
//!
//! Real parts throughout: the service on the embedded broker, the agent
//! in-process, plugins built from this repository and signed with keys
//! generated here.

use crate::support;

use jobhost::trust::{Manifest, SecretKey};
use jobhost_fleet::artifacts::placeholder;
use jobhost_fleet::server::Server;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use sha2::{Digest, Sha256};
use std::path::Path;
use support::agent::Agent;
use support::plugins::{built, operator_key, signed};
use support::service::{create, detail, embedded, start_server, wait_terminal};

const THING: &str = "installer";

/// The operator's keys: `trusted` signs; `revoked` is listed but revoked;
/// `stranger` is not listed at all.
struct Keys {
    trusted: SecretKey,
    revoked: SecretKey,
    stranger: SecretKey,
}

/// An agent with NO plugins, trusting `trusted` (and `revoked`, revoked),
/// allowed to install from the service's HTTP server, with a 1 MiB plugin
/// size limit.
fn start_agent(dir: &Path, server: &Server) -> Agent {
    let revoked_id = jobhost::trust::PublicKey::read_file(&dir.join("agent/revoked.key.pub"))
        .unwrap()
        .id();
    start_agent_trusting(
        dir,
        server,
        &format!(
            "keys = [\"trusted.key.pub\", \"revoked.key.pub\"]\nrevoked = [\"{revoked_id}\"]\n\
             max_plugin_mib = 1\n"
        ),
    )
}

/// An agent with NO plugins, allowed to install from the service's HTTP
/// server, whose `[trust]` table starts with `trust` (the rest of the
/// config may follow it).
fn start_agent_trusting(dir: &Path, server: &Server, trust: &str) -> Agent {
    let agent = dir.join("agent");
    std::fs::create_dir_all(&agent).unwrap();
    let config = agent.join("jobhost.toml");
    std::fs::write(
        &config,
        format!(
            r#"thing_name = "{THING}"
state_dir = "state"
plugin_dir = "plugins"
[broker]
host = "127.0.0.1"
port = {}
[trust]
install_hosts = ["127.0.0.1:{}"]
install_allow_http = true
{trust}"#,
            server.mqtt_addr.port(),
            server.http_addr.port(),
        ),
    )
    .unwrap();
    Agent::start(&config)
}

fn keys(dir: &Path) -> Keys {
    let agent = dir.join("agent");
    std::fs::create_dir_all(&agent).unwrap();
    Keys {
        trusted: operator_key(&agent, "trusted.key").0,
        revoked: operator_key(&agent, "revoked.key").0,
        stranger: operator_key(dir, "stranger.key").0,
    }
}

/// Uploads `bytes` as an artifact and runs an install-plugin job for it
/// (with `sha256` overriding the real digest when given).
async fn install(
    server: &Server,
    job_id: &str,
    bytes: &[u8],
    sha256: Option<&str>,
) -> JobExecution {
    let info = server
        .artifacts
        .put(&format!("{job_id}.wasm"), bytes)
        .unwrap();
    let digest = sha256.map_or(info.sha256.clone(), str::to_owned);
    create(
        server,
        THING,
        job_id,
        serde_json::json!({
            "operation": "install-plugin",
            "url": placeholder(&info.url),
            "sha256": digest,
        }),
    );
    wait_terminal(server, THING, job_id).await
}

async fn run(server: &Server, job_id: &str, document: serde_json::Value) -> JobExecution {
    create(server, THING, job_id, document);
    wait_terminal(server, THING, job_id).await
}

async fn echo(server: &Server, job_id: &str) -> JobExecution {
    run(
        server,
        job_id,
        serde_json::json!({"operation": "echo", "message": job_id}),
    )
    .await
}

fn version(v: &str) -> impl FnOnce(&mut Manifest) + '_ {
    move |m: &mut Manifest| m.version = semver::Version::parse(v).unwrap()
}

fn assert_succeeded(e: &JobExecution) {
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{}: {:?}",
        e.job_id,
        e.status_details
    );
}

fn assert_rejected(e: &JobExecution, why: &str) {
    assert_eq!(
        e.status,
        JobExecutionStatus::Rejected,
        "{}: {:?}",
        e.job_id,
        e.status_details
    );
    let reason = detail(e, "reason").unwrap_or_default();
    assert!(
        reason.contains(why),
        "{}: reason {reason:?} does not say {why:?}",
        e.job_id
    );
}

/// Offset of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

/// End offset of the first section after the 8-byte preamble (the
/// signature section in a signed file).
fn first_section_end(bytes: &[u8]) -> usize {
    let (mut size, mut shift, mut at) = (0usize, 0, 9);
    loop {
        let b = bytes[at];
        size |= usize::from(b & 0x7f) << shift;
        at += 1;
        if b & 0x80 == 0 {
            return at + size;
        }
        shift += 7;
    }
}

/// A custom section `name` holding `len` zero bytes.
fn custom_section(name: &str, len: usize) -> Vec<u8> {
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name.as_bytes());
    payload.resize(payload.len() + len, 0);
    let mut out = vec![0u8];
    let mut size = payload.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&payload);
    out
}

fn flip(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    bytes[at] ^= 0x01;
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_operation_ships_as_a_signed_plugin_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let server = start_server(dir.path(), embedded()).await;
    let agent = start_agent(dir.path(), &server);

    // The device has no plugin: the operation does not exist yet.
    assert_rejected(
        &echo(&server, "echo-before").await,
        "unknown operation `echo`",
    );

    // Ship it: the next job can use it, and the report says what is there.
    let good = signed("echo", &keys.trusted, version("1.2.0"));
    let e = install(&server, "install-echo", &good, None).await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    let digest = hex::encode(Sha256::digest(&good));
    let key_id = keys.trusted.public_key().id().to_string();
    assert_eq!(detail(&e, "plugin"), Some("echo"));
    assert_eq!(detail(&e, "version"), Some("1.2.0"));
    assert_eq!(detail(&e, "sha256"), Some(digest.as_str()));
    assert_eq!(detail(&e, "keyId"), Some(key_id.as_str()));
    let inventory = format!("1.2.0 sha256:{digest} key:{key_id}");
    assert_eq!(detail(&e, "plugin:echo"), Some(inventory.as_str()));
    let e = echo(&server, "echo-after").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "message"), Some("echo-after"));

    // Every bad file: refused before compiling, with the reason.
    let (raw, _) = built("echo");
    let manifest_at = find(&good, b"\"version\":\"1.2.0\"") + 12;
    let sig_end = first_section_end(&good);
    let mut oversized_manifest = built("echo").1;
    oversized_manifest.version = semver::Version::new(1, 3, 0);
    let mut padded = raw.clone();
    padded.extend(custom_section("padding", 1 << 20));
    let oversized = jobhost::trust::sign(&padded, &oversized_manifest, &keys.trusted).unwrap();
    let mut changed = good.clone();
    changed[manifest_at] = b'9'; // "1.2.0" → "9.2.0": a valid manifest, unsigned content
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "code-flipped",
            flip(good.clone(), good.len() / 2),
            "changed after key",
        ),
        (
            "manifest-flipped",
            flip(good.clone(), manifest_at + 2),
            "changed after key",
        ),
        ("manifest-changed", changed, "changed after key"),
        (
            "signature-flipped",
            flip(good.clone(), sig_end - 10),
            "does not verify",
        ),
        ("unsigned", raw.clone(), "unsigned"),
        (
            "unknown-key",
            signed("echo", &keys.stranger, version("1.3.0")),
            "unknown key",
        ),
        (
            "revoked-key",
            signed("echo", &keys.revoked, version("1.3.0")),
            "revoked key",
        ),
        (
            "older",
            signed("echo", &keys.trusted, version("1.1.0")),
            "anti-rollback",
        ),
        (
            "same-version-other-bytes",
            signed("echo", &keys.trusted, |m| {
                m.version = semver::Version::new(1, 2, 0);
                m.operations.push("echo-too".into());
            }),
            "already installed with different content",
        ),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("oversized", oversized, "size limit"),
        (
            "ungranted",
            signed("download-file", &keys.trusted, |_| {}),
            "does not grant",
        ),
    ];
    for (name, bytes, why) in &cases {
        let e = install(&server, &format!("bad-{name}"), bytes, None).await;
        assert_rejected(&e, why);
        // The report still lists what IS installed, unchanged.
        assert_eq!(
            detail(&e, "plugin:echo"),
            Some(inventory.as_str()),
            "{name}"
        );
    }
    let e = install(&server, "bad-sha256", &good, Some(&"0".repeat(64))).await;
    assert_rejected(&e, "sha256 mismatch");
    let e = run(
        &server,
        "bad-document",
        serde_json::json!({"operation": "install-plugin", "url": "https://x/p.wasm"}),
    )
    .await;
    assert_rejected(&e, "missing field `sha256`");

    // Still serving, still the same plugin; nothing stray in the plugin dir.
    let e = echo(&server, "echo-still").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(plugin_files(dir.path()), vec!["echo.wasm".to_owned()]);

    // Installing the same file again is a no-op, not an error.
    let e = install(&server, "install-echo-again", &good, None).await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "result"), Some("already installed"));

    // An upgrade replaces it and says from what.
    let newer = signed("echo", &keys.trusted, version("1.3.0"));
    let e = install(&server, "upgrade-echo", &newer, None).await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "previousVersion"), Some("1.2.0"));

    // Removal: the operation is gone, the anti-rollback floor is not.
    let e = run(
        &server,
        "remove-echo",
        serde_json::json!({"operation": "remove-plugin", "name": "echo"}),
    )
    .await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "plugin:echo"), None);
    assert_rejected(
        &echo(&server, "echo-removed").await,
        "unknown operation `echo`",
    );
    assert_rejected(
        &install(&server, "reinstall-older", &good, None).await,
        "anti-rollback",
    );

    // After a restart the floor still holds, and an installed plugin is
    // verified again and serves.
    let e = install(&server, "install-newer-again", &newer, None).await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    agent.stop().await;
    let agent = start_agent(dir.path(), &server);
    let e = echo(&server, "echo-after-restart").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_rejected(
        &install(&server, "older-after-restart", &good, None).await,
        "anti-rollback",
    );
    agent.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_tampered_with_on_disk_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let plugins = dir.path().join("agent/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    // Installed by provisioning, then modified on the device.
    let good = signed("echo", &keys.trusted, |_| {});
    let at = good.len() / 2;
    std::fs::write(plugins.join("echo.wasm"), flip(good, at)).unwrap();
    let server = start_server(dir.path(), embedded()).await;
    let agent = start_agent(dir.path(), &server);
    assert_rejected(
        &echo(&server, "echo-tampered").await,
        "unknown operation `echo`",
    );
    agent.stop().await;
    server.stop().await;
}

fn plugin_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("agent/plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// SECURITY.md, M7 (a name's grants must not go to whoever signs a plugin
/// of that name): a name is not an identity. Once a key has signed the
/// `echo` this device runs, another trusted key cannot replace it by
/// install, not even after a remove-plugin; the first key still can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_key_cannot_take_over_an_installed_name() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let (vendor, _) = operator_key(&dir.path().join("agent"), "vendor.key");
    let vendor_id = vendor.public_key().id().to_string();
    let trusted_id = keys.trusted.public_key().id().to_string();
    let server = start_server(dir.path(), embedded()).await;
    // The vendor's key is trusted, and scoped to nothing of its own.
    let agent = start_agent_trusting(
        dir.path(),
        &server,
        &format!("keys = [\"trusted.key.pub\", \"vendor.key.pub\"]\n[signers.{vendor_id}]\n"),
    );

    let e = install(
        &server,
        "own",
        &signed("echo", &keys.trusted, version("1.0.0")),
        None,
    )
    .await;
    assert_succeeded(&e);
    let squat = signed("echo", &vendor, version("9.9.9"));
    let why = format!(
        "echo was signed by key {trusted_id} on this device, and this copy by key {vendor_id}"
    );
    assert_rejected(&install(&server, "squat", &squat, None).await, &why);
    assert_succeeded(&echo(&server, "still-own").await);

    let e = run(
        &server,
        "remove",
        serde_json::json!({"operation": "remove-plugin", "name": "echo"}),
    )
    .await;
    assert_succeeded(&e);
    assert_rejected(&install(&server, "squat-again", &squat, None).await, &why);

    let e = install(
        &server,
        "own-again",
        &signed("echo", &keys.trusted, version("2.0.0")),
        None,
    )
    .await;
    assert_succeeded(&e);
    assert_succeeded(&echo(&server, "echo-own").await);
    agent.stop().await;
    server.stop().await;
}
