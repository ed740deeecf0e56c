//! Code-signed artifacts end to end: the operator signs a file with the
//! plugin key (`jobhost artifact sign`, here its library function), puts it
//! with `jobhost-fleet artifact put --signature`, and creates a job whose
//! document asks for its signature (`${aws:iot:code-sign-signature:…}`)
//! through the HTTP API; the real agent's download capability verifies it
//! with its `[trust]` keys before anything is installed.
//!
//! Real parts: the service on the embedded broker with its HTTP API and
//! artifact server, the `jobhost-fleet` binary, the agent in-process, the
//! download-file and application plugins built from this repository and
//! signed here. The file altered on the server's disk stands in for a
//! compromised store or mirror.

use crate::support;

use jobhost::trust::artifact::sign_artifact;
use jobhost::trust::{KeyId, SecretKey};
use jobhost_fleet::artifacts::placeholder;
use jobhost_fleet::code_signing;
use jobhost_fleet::server::Server;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::agent::Agent;
use support::artifact_sig::sign;
use support::service::{assert_reason, detail, embedded, start_server, wait_terminal};

const BIN: &str = env!("CARGO_BIN_EXE_jobhost-fleet");

/// A guard against a hung child process, never a synchronisation point.
const PATIENCE: Duration = Duration::from_secs(60);

/// The keys of the story: the operator's (trusted, signs the plugins and
/// the artifacts), a stranger's (never trusted), and a retired key (listed
/// in `[trust] keys`, and revoked).
struct Keys {
    operator: SecretKey,
    stranger: SecretKey,
    retired: SecretKey,
}

impl Keys {
    fn new() -> Self {
        let key = || SecretKey::generate().unwrap();
        Self {
            operator: key(),
            stranger: key(),
            retired: key(),
        }
    }
}

fn id(key: &SecretKey) -> KeyId {
    key.public_key().id()
}

/// An agent for `thing` trusting the operator and (revoked) the retired
/// key, with download-file writing `<dir>/downloads` and application
/// `<dir>/apps`, both from the service; `extra_trust` is appended to
/// `[trust]`. Returns the agent and its directory.
fn start_agent(
    root: &Path,
    server: &Server,
    keys: &Keys,
    thing: &str,
    extra_trust: &str,
) -> (Agent, PathBuf) {
    let dir = root.join(thing);
    std::fs::create_dir_all(dir.join("downloads")).unwrap();
    std::fs::create_dir_all(dir.join("apps")).unwrap();
    keys.operator
        .write_files(&dir.join("operator.key"))
        .unwrap();
    keys.retired.write_files(&dir.join("retired.key")).unwrap();
    support::plugins::provision(
        &dir.join("plugins"),
        &keys.operator,
        &["download-file", "application"],
    );
    let hosts = format!(
        "download_hosts = [\"127.0.0.1:{}\"]\nallow_http = true\n",
        server.http_addr.port()
    );
    let config = support::agent::write_config(
        &dir,
        thing,
        server.mqtt_addr.port(),
        &format!(
            "{extra_trust}\n\
             [plugins.download-file]\ndirs = [\"{d}/downloads:/downloads\"]\n{hosts}\
             [plugins.application]\ndirs = [\"{d}/apps:/apps\"]\n{hosts}",
            d = dir.display(),
        ),
    );
    // `write_config` trusts operator.key.pub; the retired key is listed
    // and revoked.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "keys = [\"operator.key.pub\"]",
        &format!(
            "keys = [\"operator.key.pub\", \"retired.key.pub\"]\nrevoked = [\"{}\"]",
            id(&keys.retired)
        ),
    );
    std::fs::write(&config, text).unwrap();
    (Agent::start(&config), dir)
}

/// `jobhost-fleet artifact put --signature SIG FILE` against `server`.
async fn put(server: &Server, file: &Path, sig: &Path) {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["artifact", "put", "--signature"])
        .args([sig, file])
        .env("JOBHOST_FLEET_API", format!("http://{}", server.http_addr))
        .env_remove("JOBHOST_FLEET_TOKEN")
        .env("NO_PROXY", "*")
        .kill_on_drop(true);
    let out = tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .expect("the CLI finished")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CreateJob through the HTTP API (where the code-sign placeholder is
/// replaced), for `thing`; waits for the execution's end.
async fn run(server: &Server, thing: &str, job_id: &str, document: Value) -> JobExecution {
    let response = crate::support::http()
        .put(format!("http://{}/jobs/{job_id}", server.http_addr))
        .json(&json!({"targets": [thing], "document": document.to_string()}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{job_id}: {}",
        response.text().await.unwrap()
    );
    wait_terminal(server, thing, job_id).await
}

fn url(server: &Server, name: &str) -> String {
    server.artifacts.url_of(name)
}

/// download-file of artifact `name` to /downloads/`name`, pinned by its
/// signature alone (no `sha256` of its own).
fn download_document(server: &Server, name: &str) -> Value {
    json!({
        "operation": "download-file",
        "url": placeholder(&url(server, name)),
        "codesign": code_signing::placeholder(&url(server, name)),
        "destination": format!("/downloads/{name}"),
    })
}

/// install-application of artifact `name` as myapp `version`.
fn install_document(server: &Server, name: &str, version: &str) -> Value {
    json!({
        "operation": "install-application",
        "name": "myapp",
        "version": version,
        "url": placeholder(&url(server, name)),
        "codesign": code_signing::placeholder(&url(server, name)),
    })
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            // A link (`current`) is listed, not followed.
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

/// A tar.gz bundle for the application plugin.
fn bundle(version: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let data = format!("{version}\n");
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, "./VERSION", data.as_bytes())
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// A service and one device, and the operator's scratch directory.
struct Story {
    root: tempfile::TempDir,
    server: Server,
    keys: Keys,
    agent: Agent,
    thing: &'static str,
    dir: PathBuf,
}

impl Story {
    /// Starts the service and the agent of `thing` (`extra_trust` appended
    /// to its `[trust]`).
    async fn start(thing: &'static str, extra_trust: &str) -> Story {
        let root = tempfile::tempdir().unwrap();
        let server = start_server(root.path(), embedded()).await;
        let keys = Keys::new();
        let (agent, dir) = start_agent(root.path(), &server, &keys, thing, extra_trust);
        std::fs::create_dir_all(root.path().join("operator")).unwrap();
        Story {
            root,
            server,
            keys,
            agent,
            thing,
            dir,
        }
    }

    /// Signs `bytes` as `name` with `key` and puts both with
    /// `jobhost-fleet artifact put --signature`.
    async fn put_signed(&self, key: &SecretKey, name: &str, bytes: &[u8]) {
        let (file, sig) = sign(&self.root.path().join("operator"), key, name, bytes);
        put(&self.server, &file, &sig).await;
    }

    async fn run(&self, job_id: &str, document: Value) -> JobExecution {
        run(&self.server, self.thing, job_id, document).await
    }

    /// Installs signed myapp 1.0.0, the version a refused one must leave
    /// in place.
    async fn install_first_version(&self) -> JobExecution {
        let e = self.install(&self.keys.operator, "1.0.0").await;
        assert_eq!(
            e.status,
            JobExecutionStatus::Succeeded,
            "{:?}",
            e.status_details
        );
        e
    }

    /// Puts myapp `version` signed by `key`, and runs its
    /// install-application job.
    async fn install(&self, key: &SecretKey, version: &str) -> JobExecution {
        let name = format!("myapp-{version}.tar.gz");
        self.put_signed(key, &name, &bundle(version)).await;
        let document = install_document(&self.server, &name, version);
        self.run(&format!("app-{}", version.replace('.', "-")), document)
            .await
    }

    /// Asserts that `e` ended FAILED saying `why`, naming no verifying key,
    /// and that nothing of it is on the device.
    fn assert_refused(&self, e: &JobExecution, why: &str) {
        assert_reason(e, JobExecutionStatus::Failed, why);
        assert_eq!(detail(e, "codesignKeyId"), None, "{}", e.job_id);
        self.assert_only_the_first_version();
    }

    /// Asserts that only myapp 1.0.0 is on the device: nothing of a refused
    /// version, not even part of its download.
    fn assert_only_the_first_version(&self) {
        let apps = self.dir.join("apps");
        let left = files_under(&apps);
        assert!(
            left.iter()
                .all(|f| f.starts_with("myapp/versions/1.0.0/") || f == "myapp/current"),
            "{left:?}"
        );
        assert_eq!(
            std::fs::read_link(apps.join("myapp/current")).unwrap(),
            Path::new("versions/1.0.0")
        );
    }

    async fn stop(self) {
        self.agent.stop().await;
        self.server.stop().await;
        drop(self.root);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_artifact_is_verified_installed_and_its_key_reported() {
    let story = Story::start("signed-box", "").await;
    let operator = id(&story.keys.operator).to_string();

    // download-file, pinned by the signature alone (no sha256 of its own).
    let firmware: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    story
        .put_signed(&story.keys.operator, "fw-1.2.bin", &firmware)
        .await;
    let e = story
        .run("fw", download_document(&story.server, "fw-1.2.bin"))
        .await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "codesignKeyId"), Some(operator.as_str()));
    let downloads = story.dir.join("downloads");
    assert_eq!(
        std::fs::read(downloads.join("fw-1.2.bin")).unwrap(),
        firmware
    );
    assert_eq!(
        files_under(&downloads),
        ["fw-1.2.bin"],
        "no part file is left"
    );

    // install-application: unpacked and switched to.
    let e = story.install_first_version().await;
    assert_eq!(detail(&e, "codesignKeyId"), Some(operator.as_str()));
    story.assert_only_the_first_version();
    story.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flipped_byte_in_the_served_file_is_refused_before_it_is_installed() {
    let story = Story::start("flipped-box", "").await;
    story.install_first_version().await;
    story
        .put_signed(&story.keys.operator, "myapp-2.tar.gz", &bundle("2.0.0"))
        .await;
    // One byte of the file the server holds changes after it was signed
    // (and after the job pinned the signature it had).
    let stored = story.server.artifacts.path_of("myapp-2.tar.gz").unwrap();
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&stored, &bytes).unwrap();
    let e = story
        .run(
            "app-2",
            install_document(&story.server, "myapp-2.tar.gz", "2.0.0"),
        )
        .await;
    story.assert_refused(
        &e,
        &format!(
            "the file is {n} bytes with sha256 {}, but the signature by key {} is for {n} bytes",
            hex::encode(Sha256::digest(&bytes)),
            id(&story.keys.operator),
            n = bytes.len(),
        ),
    );
    story.stop().await;
}

/// The service stores a signature by any key (it holds no trust keys);
/// the device refuses one by a key it does not trust.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_by_an_unknown_key_is_refused_before_it_is_installed() {
    let story = Story::start("stranger-box", "").await;
    story.install_first_version().await;
    let e = story.install(&story.keys.stranger, "3.0.0").await;
    let why = format!("signed by unknown key id {}", id(&story.keys.stranger));
    story.assert_refused(&e, &why);
    story.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_by_a_revoked_key_is_refused_before_it_is_installed() {
    let story = Story::start("revoked-box", "").await;
    story.install_first_version().await;
    let e = story.install(&story.keys.retired, "4.0.0").await;
    let why = format!(
        "signed by key {}, which is revoked",
        id(&story.keys.retired)
    );
    story.assert_refused(&e, &why);
    story.stop().await;
}

/// A valid signature for another file, written into the document by
/// whoever writes jobs (the service would not pair them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_for_another_file_is_refused_before_it_is_installed() {
    let story = Story::start("other-file-box", "").await;
    story.install_first_version().await;
    story
        .put_signed(&story.keys.operator, "myapp-5.tar.gz", &bundle("5.0.0"))
        .await;
    let other = bundle("1.0.0-other");
    let sha: [u8; 32] = Sha256::digest(&other).into();
    let foreign = sign_artifact(
        &story.keys.operator,
        "other.tar.gz",
        other.len() as u64,
        sha,
    )
    .unwrap();
    let mut document = install_document(&story.server, "myapp-5.tar.gz", "5.0.0");
    document["codesign"] = foreign.to_json();
    let e = story.run("app-5", document).await;
    story.assert_refused(
        &e,
        &format!(
            "is for {} bytes with sha256 {} (\"other.tar.gz\")",
            other.len(),
            hex::encode(sha)
        ),
    );
    story.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_requires_signatures_rejects_a_document_without_one() {
    let story = Story::start("strict-box", "require_artifact_signatures = true").await;
    let firmware = b"strictly signed firmware".to_vec();
    story
        .put_signed(&story.keys.operator, "fw.bin", &firmware)
        .await;

    // The same file with a sha256 and no codesign: refused before it runs.
    let unsigned = json!({
        "operation": "download-file",
        "url": placeholder(&url(&story.server, "fw.bin")),
        "sha256": hex::encode(Sha256::digest(&firmware)),
        "destination": "/downloads/fw.bin",
    });
    let e = story.run("unsigned", unsigned).await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Rejected,
        "{:?}",
        e.status_details
    );
    assert_eq!(
        detail(&e, "reason"),
        Some(
            "this device requires signed artifacts ([trust] require_artifact_signatures) and \
             the job document has no codesign for this file (no `codesign` beside /url)"
        )
    );
    let downloads = story.dir.join("downloads");
    assert!(files_under(&downloads).is_empty());

    let e = story
        .run("signed", download_document(&story.server, "fw.bin"))
        .await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(std::fs::read(downloads.join("fw.bin")).unwrap(), firmware);
    story.stop().await;
}
