//! Certificate rotation end to end, through the embedded broker in mTLS
//! mode with a test CA: the real agent runs the real `rotate-certificate`
//! plugin, which has the agent make a key pair, sends the CSR to the
//! fleet's CA endpoint (`${jobhost:csr-url}`), and has the agent switch to
//! the new certificate and reconnect. When the fleet signs with a CA the
//! broker does not trust, the reconnect is refused and the agent goes back
//! to its previous certificate. Either way a next job runs.

use crate::support;

use jobhost_fleet::broker::{install_crypto_provider, BrokerTls};
use jobhost_fleet::certificates::DEFAULT_VALIDITY;
use jobhost_fleet::server::{BrokerChoice, CaFiles, Server};
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::json;
use std::path::{Path, PathBuf};
use support::agent::Agent;
use support::plugins::probe_key;
use support::service::{create, detail, start_server_with_ca, wait_terminal};
use support::tls::TestPki;

/// The service in mTLS mode trusting `pki`'s CA for clients, and signing
/// CSRs with `signer` (None: no CA configured).
async fn start(dir: &Path, pki: &TestPki, signer: Option<&TestPki>) -> Server {
    install_crypto_provider();
    let broker = BrokerChoice::EmbeddedTls {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: BrokerTls {
            cert: pki.server_cert(),
            key: pki.server_key(),
            client_ca: pki.ca(),
        },
    };
    let ca = signer.map(|s| CaFiles {
        cert: s.ca(),
        key: s.ca_key_file(),
        validity: DEFAULT_VALIDITY,
    });
    start_server_with_ca(dir, broker, ca).await
}

fn new_pki(dir: &Path, name: &str) -> TestPki {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    TestPki::generate(&d)
}

/// Where the device keeps its pair: the certificate in the store plugins
/// may be granted (`certificate_dir`), the private key in a host-only
/// directory no grant can reach, so no plugin can read the device's
/// private key (SECURITY.md, H2).
struct Layout {
    certs: PathBuf,
    keys: PathBuf,
}

/// The device: its certificate for `t1` in `agent/certs` and its key in
/// `agent/private`, the echo and rotate-certificate plugins, rotation
/// granted with the fleet's HTTP address as the CSR endpoint's host.
fn start_agent(dir: &Path, pki: &TestPki, server: &Server) -> (Agent, Layout) {
    start_agent_with_probe(dir, pki, server, "ro")
}

/// [`start_agent`] with the test-probe too, its manifest asking for the
/// certificate store read-write, granted `probe_access` (`"ro"`/`"rw"`).
fn start_agent_with_probe(
    dir: &Path,
    pki: &TestPki,
    server: &Server,
    probe_access: &str,
) -> (Agent, Layout) {
    let agent = dir.join("agent");
    let certs = agent.join("certs");
    let keys = agent.join("private");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::create_dir_all(&keys).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let (key, public) = support::plugins::operator_key(&agent, "operator.key");
    support::plugins::provision(
        &agent.join("plugins"),
        &key,
        &["echo", "rotate-certificate"],
    );
    let probe = support::plugins::signed("test-probe", &key, |m| {
        m.capabilities.certificates = Some(jobhost::trust::Access::Rw)
    });
    std::fs::write(agent.join("plugins/test-probe.wasm"), probe).unwrap();
    let (cert_pem, key_pem) = pki.client("t1");
    std::fs::write(certs.join("device.pem"), cert_pem).unwrap();
    std::fs::write(keys.join("device.key"), key_pem).unwrap();
    let config = agent.join("jobhost.toml");
    std::fs::write(
        &config,
        format!(
            r#"thing_name = "t1"
state_dir = "state"
plugin_dir = "plugins"
[broker]
host = "127.0.0.1"
port = {port}
keep_alive_secs = 5
[broker.tls]
ca = "{ca}"
cert = "certs/device.pem"
key = "private/device.key"
[trust]
keys = ["{public}"]
[device]
certificate_dir = "certs"
[plugins.rotate-certificate]
certificates = "rw"
download_hosts = ["{http}"]
allow_http = true
[plugins.test-probe]
certificates = "{probe_access}"
"#,
            port = server.mqtt_addr.port(),
            ca = pki.ca().display(),
            public = public.display(),
            http = server.http_addr,
        ),
    )
    .unwrap();
    (Agent::start(&config), Layout { certs, keys })
}

/// The raw public key of the first certificate in `path`.
fn public_key(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).unwrap();
    let block = x509_parser::pem::Pem::iter_from_buffer(&pem)
        .next()
        .unwrap()
        .unwrap();
    let cert = block.parse_x509().unwrap();
    cert.public_key().subject_public_key.data.to_vec()
}

fn rotate_job() -> serde_json::Value {
    json!({"operation": "rotate-certificate", "csrUrl": "${jobhost:csr-url}"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_rotates_to_a_certificate_from_the_brokers_ca_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let pki = new_pki(dir.path(), "pki");
    let server = start(dir.path(), &pki, Some(&pki)).await;
    let (agent, Layout { certs, keys }) = start_agent(dir.path(), &pki, &server);
    let old_cert = std::fs::read_to_string(certs.join("device.pem")).unwrap();
    let old_public = public_key(&certs.join("device.pem"));

    create(&server, "t1", "rotate-1", rotate_job());
    let e = wait_terminal(&server, "t1", "rotate-1").await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");
    assert_eq!(detail(&e, "subject"), Some("CN=t1"));
    assert_eq!(detail(&e, "fingerprint").map(str::len), Some(64));
    assert!(detail(&e, "notAfter").is_some(), "{e:?}");

    // On disk: a new certificate for a new key, the old pair kept.
    let new_public = public_key(&certs.join("device.pem"));
    assert_ne!(new_public, old_public, "the key pair is new");
    assert_eq!(
        std::fs::read_to_string(certs.join("device.pem.prev")).unwrap(),
        old_cert
    );
    assert!(!keys.join("device.key.next").exists());
    assert!(!certs.join("device.pem.next").exists());
    // No key material ever was in the certificate store.
    for entry in std::fs::read_dir(&certs).unwrap() {
        let name = entry.unwrap().file_name();
        let text = std::fs::read_to_string(certs.join(&name)).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{name:?} holds a key");
    }
    assert!(
        keys.join("device.key.prev").exists(),
        "the old key kept, beside the key"
    );
    // The new private key never left the device: nothing reported holds it.
    let key = std::fs::read_to_string(keys.join("device.key")).unwrap();
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let reported = serde_json::to_string(&e.status_details).unwrap();
    assert!(!reported.contains("PRIVATE"), "{reported}");
    assert!(!reported.contains(&body[..32]), "{reported}");

    // The connection now runs on the new certificate: a next job works.
    create(
        &server,
        "t1",
        "after-rotation",
        json!({"operation": "echo", "message": "still here"}),
    );
    let e = wait_terminal(&server, "t1", "after-rotation").await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");
    assert_eq!(detail(&e, "message"), Some("still here"));

    // SECURITY.md, M3 (a CSR URL must not mint certificates for whoever
    // reads it), reflection: echo reports its document back, so a CSR URL
    // in it would be readable by whoever reads executions. Only rotation
    // documents get one; here the placeholder comes back as written.
    create(
        &server,
        "t1",
        "reflect",
        json!({"operation": "echo", "u": "${jobhost:csr-url}"}),
    );
    let e = wait_terminal(&server, "t1", "reflect").await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");
    assert_eq!(detail(&e, "u"), Some("${jobhost:csr-url}"), "{e:?}");
    agent.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_the_broker_refuses_is_rolled_back_and_reported_failed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = new_pki(dir.path(), "pki");
    let rogue = new_pki(dir.path(), "rogue");
    let server = start(dir.path(), &pki, Some(&rogue)).await;
    let (agent, Layout { certs, keys }) = start_agent(dir.path(), &pki, &server);
    let old_cert = std::fs::read_to_string(certs.join("device.pem")).unwrap();
    let old_key = std::fs::read_to_string(keys.join("device.key")).unwrap();

    create(&server, "t1", "rotate-rogue", rotate_job());
    let e = wait_terminal(&server, "t1", "rotate-rogue").await;
    assert_eq!(e.status, JobExecutionStatus::Failed, "{e:?}");
    let reason = detail(&e, "reason").unwrap();
    assert!(
        reason.contains("the broker refused the new certificate")
            && reason.contains("the previous certificate is back in use"),
        "{reason}"
    );
    assert_eq!(
        std::fs::read_to_string(certs.join("device.pem")).unwrap(),
        old_cert
    );
    assert_eq!(
        std::fs::read_to_string(keys.join("device.key")).unwrap(),
        old_key
    );

    // Back on the old certificate, the device keeps taking jobs.
    create(
        &server,
        "t1",
        "after-rollback",
        json!({"operation": "echo", "message": "old cert"}),
    );
    let e = wait_terminal(&server, "t1", "after-rollback").await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");
    agent.stop().await;
    server.stop().await;
}

/// The CSR endpoint over real HTTP: presigned URLs only, CSRs only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csr_endpoint_refuses_forged_expired_and_malformed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let pki = new_pki(dir.path(), "pki");
    let server = start(dir.path(), &pki, Some(&pki)).await;
    let ca = server.ca.clone().unwrap();
    let now = support::service::clock()();
    let http = crate::support::http();
    let post = |url: String, body: &'static str| http.post(url).body(body).send();
    let base = format!("http://{}", server.http_addr);

    let valid = ca
        .presign("t1", "job-1", 1, now)
        .unwrap()
        .replace("http://", "")
        .split_once('/')
        .map(|(_, path)| format!("{base}/{path}"))
        .unwrap();
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(post(valid.clone(), "not a csr").await.unwrap()), 400);
    let other_thing = valid.replace("/t1/", "/t2/");
    assert_eq!(status(post(other_thing, "x").await.unwrap()), 403);
    let unsigned = format!("{base}/certificates/t1/job-1/1");
    assert_eq!(status(post(unsigned, "x").await.unwrap()), 403);
    let expired_url = ca.presign("t1", "job-1", 1, now - 10_000).unwrap();
    let expired = format!(
        "{base}/{}",
        expired_url
            .split_once("//")
            .unwrap()
            .1
            .split_once('/')
            .unwrap()
            .1
    );
    let response = post(expired, "x").await.unwrap();
    assert_eq!(status(response), 403);
    server.stop().await;

    // Without --ca-cert/--ca-key: 501 saying so.
    let dir = tempfile::tempdir().unwrap();
    let pki = new_pki(dir.path(), "pki");
    let server = start(dir.path(), &pki, None).await;
    let response = http
        .post(format!(
            "http://{}/certificates/t1/job-1/1?expires=1&signature=00",
            server.http_addr
        ))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 501);
    assert!(response.text().await.unwrap().contains("--ca-cert"));
    server.stop().await;
}

/// Runs `document` in the test-probe, then checks an echo job still runs.
async fn probe(server: &Server, job: &str, document: serde_json::Value) -> JobExecution {
    let mut document = document;
    document["operation"] = json!("test-probe");
    create(server, "t1", job, document);
    let e = wait_terminal(server, "t1", job).await;
    let next = format!("{job}-next");
    create(
        server,
        "t1",
        &next,
        json!({"operation": "echo", "message": "next"}),
    );
    let after = wait_terminal(server, "t1", &next).await;
    assert_eq!(after.status, JobExecutionStatus::Succeeded, "{after:?}");
    e
}

/// SECURITY.md, H2 (a `certificates` grant must not expose the device's
/// private key): in the documented layout the private key is not in
/// the certificate store, so a plugin granted the store cannot read it;
/// the certificate is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_granted_the_certificate_store_cannot_read_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let pki = new_pki(dir.path(), "pki");
    let server = start(dir.path(), &pki, Some(&pki)).await;
    let (agent, Layout { keys, .. }) = start_agent_with_probe(dir.path(), &pki, &server, "ro");
    let key = std::fs::read_to_string(keys.join("device.key")).unwrap();
    let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();

    let e = probe(
        &server,
        "read-key",
        json!({"read": ["/certificates/device.key", "/certificates/../private/device.key",
                        "/certificates/device.pem"],
               "list": ["/certificates"]}),
    )
    .await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");
    assert!(
        detail(&e, &probe_key("read:/certificates/device.key"))
            .is_some_and(|v| v.starts_with("err:")),
        "{e:?}"
    );
    assert!(
        detail(&e, &probe_key("read:/certificates/../private/device.key"))
            .is_some_and(|v| v.starts_with("err:")),
        "{e:?}"
    );
    assert!(
        detail(&e, &probe_key("read:/certificates/device.pem"))
            .is_some_and(|v| v.contains("BEGIN CERTIFICATE")),
        "{e:?}"
    );
    assert_eq!(
        detail(&e, &probe_key("list:/certificates")),
        Some("ok:device.pem")
    );
    let reported = serde_json::to_string(&e.status_details).unwrap();
    assert!(!reported.contains("PRIVATE KEY"), "{reported}");
    assert!(!reported.contains(&key_body[..32]), "{reported}");
    agent.stop().await;
    server.stop().await;
}

/// SECURITY.md, H3 (the rotation must not read a host file through a
/// symlink a plugin planted in the store), end to end: a plugin with the
/// store read-write replaces the certificate by a symlink to a host file
/// (through WASI, which allows creating a relative link); the rotation
/// that follows refuses to read through it, copies nothing, reports
/// FAILED, and the agent keeps serving on its certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_symlink_does_not_leak_its_target_through_the_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let pki = new_pki(dir.path(), "pki");
    let server = start(dir.path(), &pki, Some(&pki)).await;
    let (agent, Layout { certs, .. }) = start_agent_with_probe(dir.path(), &pki, &server, "rw");
    let outside = dir.path().join("agent/outside");
    std::fs::create_dir_all(&outside).unwrap();
    const SECRET: &str = "root:the-shadow-file";
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();

    let e = probe(
        &server,
        "plant",
        json!({"symlink": [{"path": "/certificates/device.pem", "target": "../outside/secret.txt"}]}),
    )
    .await;
    assert_eq!(
        detail(&e, &probe_key("symlink:/certificates/device.pem")),
        Some("ok:linked"),
        "{e:?}"
    );
    assert!(
        std::fs::symlink_metadata(certs.join("device.pem"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the plugin planted the link"
    );

    create(&server, "t1", "rotate-planted", rotate_job());
    let e = wait_terminal(&server, "t1", "rotate-planted").await;
    assert_eq!(e.status, JobExecutionStatus::Failed, "{e:?}");
    let reason = detail(&e, "reason").unwrap();
    assert!(reason.contains("symbolic link"), "{reason}");
    let reported = serde_json::to_string(&e.status_details).unwrap();
    assert!(!reported.contains(SECRET), "{reported}");
    for entry in std::fs::read_dir(&certs).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::symlink_metadata(&path).unwrap().is_file() {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                !text.contains(SECRET),
                "{} holds the secret",
                path.display()
            );
        }
    }

    // And the plugin finds nothing of it either.
    let e = probe(
        &server,
        "look",
        json!({"read": ["/certificates/device.pem.prev"]}),
    )
    .await;
    assert!(
        detail(&e, &probe_key("read:/certificates/device.pem.prev"))
            .is_some_and(|v| v.starts_with("err:")),
        "{e:?}"
    );
    agent.stop().await;
    server.stop().await;
}
