//! download-file through the broker when the network is not kind, against
//! jobhost-fleet's own artifact server (which validates with Last-Modified
//! and sends no ETag, `fleet/src/api/if_range.rs`):
//!
//! - a presigned URL that expired before the device got to use it is
//!   replaced by a fresh one from the job document fetched again;
//! - a body cut short is resumed with `Range` + `If-Range: <Last-Modified>`
//!   (206), also after the URL expired and a fresh one (another query
//!   string) came from the service;
//! - an artifact replaced between the cut and the retry comes back whole
//!   (200), never spliced onto the old bytes;
//! - a fresh URL is held to the codesign beside the expired one.
//!
//! The artifact server sits behind a proxy (`support::proxy`) and the
//! service runs on a clock the test moves. The proxy holds requests until
//! the test has changed what it needs to (the clock, the artifact), so the
//! order of events is forced, not timed.

use crate::support;

use jobhost_fleet::artifacts::placeholder;
use jobhost_fleet::server::{Server, ServerConfig};
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::agent::Agent;
use support::proxy::{Exchange, GatedProxy, HttpTap, Tamper};
use support::service::{assert_reason, clock, create, detail, embedded, wait_terminal};

const THING: &str = "field-unit";

/// How long presigned URLs live in this test.
const TTL: Duration = Duration::from_secs(600);

/// The artifact the resume tests download, and where its first body is cut.
const SIZE: usize = 256 << 10;
const CUT: u64 = 128 << 10;

/// The service (its artifact URLs pointing at a proxy), and an agent with
/// download-file allowed to fetch from that proxy into `downloads`.
struct Fleet {
    root: tempfile::TempDir,
    /// Added to the wall clock to make the service's clock.
    skew: Arc<AtomicI64>,
    server: Server,
    downloads: PathBuf,
    agent: Agent,
}

impl Fleet {
    /// Starts both behind an [`HttpTap`] that cuts the first response's
    /// body after [`CUT`] bytes (and, with `hold_after_first`, holds later
    /// requests until released).
    async fn start_cut(hold_after_first: bool) -> (Fleet, HttpTap) {
        let tap = GatedProxy::listen().await;
        let fleet = Fleet::start(tap.addr()).await;
        let tamper = Tamper {
            cut_first_body_after: Some(CUT),
            hold_after_first,
        };
        let tap = tap.tap(fleet.server.http_addr, tamper);
        (fleet, tap)
    }

    /// Starts both; `front` is where devices reach the artifact server.
    async fn start(front: SocketAddr) -> Fleet {
        let root = tempfile::tempdir().unwrap();
        let skew = Arc::new(AtomicI64::new(0));
        let wall = clock();
        let now = {
            let skew = skew.clone();
            Arc::new(move || wall() + skew.load(Ordering::SeqCst))
        };
        let server = Server::start(ServerConfig {
            data_dir: root.path().join("fleet"),
            broker: embedded(),
            http: "127.0.0.1:0".parse().unwrap(),
            public_url: Some(format!("http://{front}")),
            url_ttl: TTL,
            token: None,
            clock: now,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let dir = root.path().join("agent");
        let downloads = root.path().join("downloads");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&downloads).unwrap();
        let (key, _) = support::plugins::operator_key(&dir, "operator.key");
        support::plugins::provision(&dir.join("plugins"), &key, &["download-file"]);
        let config = support::agent::write_config(
            &dir,
            THING,
            server.mqtt_addr.port(),
            &format!(
                "[plugins.download-file]\ndirs = [\"{}:/downloads\"]\n\
                 download_hosts = [\"{front}\"]\nallow_http = true\n",
                downloads.display(),
            ),
        );
        let agent = Agent::start(&config);
        Fleet {
            root,
            skew,
            server,
            downloads,
            agent,
        }
    }

    /// Moves the service's clock past the presigned URLs' expiry.
    fn expire_urls(&self) {
        self.skew.store(TTL.as_secs() as i64 + 60, Ordering::SeqCst);
    }

    /// Stores artifact `name` and dates it `age` ago. Dating it explicitly
    /// keeps If-Range meaningful: an HTTP date has whole seconds, so the
    /// server trusts Last-Modified only for a file modified at least a
    /// second before the request (`if_range.rs`), and a file uploaded just
    /// now would come back whole on resume no matter what the agent sent.
    fn put(&self, name: &str, bytes: &[u8], age: Duration) -> String {
        self.server.artifacts.put(name, bytes).unwrap();
        let path = self.server.artifacts.path_of(name).unwrap();
        let modified = SystemTime::now() - age;
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        httpdate::fmt_http_date(modified)
    }

    /// Creates a download-file job for artifact `name`, with the URL as
    /// the service delivers it (a presigned-URL placeholder).
    fn download(&self, job: &str, name: &str, sha256: Option<&str>) {
        let mut document = json!({
            "operation": "download-file",
            "url": placeholder(&self.server.artifacts.url_of(name)),
            "destination": format!("/downloads/{name}"),
        });
        match sha256 {
            Some(sha) => document["sha256"] = json!(sha),
            None => document["allowUnverified"] = json!(true),
        }
        create(&self.server, THING, job, document);
    }

    async fn succeeded(&self, job: &str) -> JobExecution {
        let e = wait_terminal(&self.server, THING, job).await;
        assert_eq!(
            e.status,
            JobExecutionStatus::Succeeded,
            "{job}: {:?}",
            e.status_details
        );
        e
    }

    async fn stop(self) {
        self.agent.stop().await;
        self.server.stop().await;
        drop(self.root);
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `SIZE` bytes in a pattern that depends on `seed`, so that two artifacts
/// differ in both halves (a splice of the two matches neither).
fn artifact(seed: u32) -> Vec<u8> {
    (0..SIZE as u32)
        .map(|i| (i.wrapping_mul(seed) % 251) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_presigned_url_is_replaced_by_a_fresh_one() {
    expired_url_is_refreshed(|url, sha| {
        json!({
            "operation": "download-file",
            "url": url,
            "destination": "/downloads/fw.bin",
            "sha256": sha,
        })
    })
    .await;
}

/// The same through an AWS IoT Device Client document (AWS-Download-File):
/// the document fetched again is translated like the first one was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_url_in_a_device_client_document_is_refreshed_too() {
    expired_url_is_refreshed(|url, sha| {
        json!({
            "version": "1.0",
            "steps": [{"action": {
                "name": "Download-File",
                "type": "runHandler",
                "input": {"handler": "download-file.sh", "args": [url, "/downloads/fw.bin", sha]},
                "runAsUser": "root"
            }}]
        })
    })
    .await;
}

/// Runs a download job whose document `make(url, sha256)` builds, with the
/// URL expiring between delivery and the device's first request.
async fn expired_url_is_refreshed(make: impl Fn(&str, &str) -> serde_json::Value) {
    let proxy = GatedProxy::listen().await;
    let fleet = Fleet::start(proxy.addr()).await;
    let proxy = proxy.forward_to(fleet.server.http_addr);

    let firmware: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    fleet.server.artifacts.put("fw.bin", &firmware).unwrap();
    let sha = sha256(&firmware);

    create(
        &fleet.server,
        THING,
        "fw-expired",
        make(&placeholder(&fleet.server.artifacts.url_of("fw.bin")), &sha),
    );
    // The device has its URL and is asking for the file; before the
    // request gets through, the URL expires.
    proxy.connection_arrived().await;
    fleet.expire_urls();
    proxy.open();

    let e = fleet.succeeded("fw-expired").await;
    assert_eq!(detail(&e, "sha256"), Some(sha.as_str()));
    assert_eq!(
        std::fs::read(fleet.downloads.join("fw.bin")).unwrap(),
        firmware
    );
    fleet.stop().await;
}

/// The codesign beside a URL binds the file at that place in the
/// document, whatever the URL's string: after a 403, the fresh URL from the
/// document fetched again is held to it. The file on the server changed
/// after it was signed and the document allows an unverified download, so
/// only the codesign refuses it; its reason (not "HTTP 403") says the
/// refusal came after the refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_url_is_held_to_the_codesign_beside_the_expired_one() {
    use jobhost::trust::artifact::sign_artifact;
    use jobhost::trust::SecretKey;
    let proxy = GatedProxy::listen().await;
    let fleet = Fleet::start(proxy.addr()).await;
    let proxy = proxy.forward_to(fleet.server.http_addr);
    let key = SecretKey::read_file(&fleet.root.path().join("agent/operator.key")).unwrap();
    let signed = artifact(7);
    let sha: [u8; 32] = Sha256::digest(&signed).into();
    let codesign = sign_artifact(&key, "fw.bin", SIZE as u64, sha).unwrap();
    let served = artifact(13);
    fleet.server.artifacts.put("fw.bin", &served).unwrap();
    create(
        &fleet.server,
        THING,
        "fw-signed-refresh",
        json!({
            "operation": "download-file",
            "url": placeholder(&fleet.server.artifacts.url_of("fw.bin")),
            "codesign": codesign.to_json(),
            "destination": "/downloads/fw.bin",
            "allowUnverified": true,
        }),
    );
    proxy.connection_arrived().await;
    fleet.expire_urls();
    proxy.open();

    let e = wait_terminal(&fleet.server, THING, "fw-signed-refresh").await;
    let expected = format!(
        "the file is {SIZE} bytes with sha256 {}, but the signature by key {} is for {SIZE} bytes",
        sha256(&served),
        key.public_key().id()
    );
    assert_reason(&e, JobExecutionStatus::Failed, &expected);
    let left: Vec<_> = std::fs::read_dir(&fleet.downloads).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    fleet.stop().await;
}

/// Asserts the first exchange is the whole artifact (200, validated by
/// `last_modified`, no ETag) cut after [`CUT`] body bytes.
fn assert_cut_first(first: &Exchange, last_modified: &str) {
    assert_eq!(first.method, "GET", "{first:?}");
    assert_eq!((&first.range, &first.if_range), (&None, &None), "{first:?}");
    assert_eq!(first.status, Some(200), "{first:?}");
    assert_eq!(
        first.last_modified.as_deref(),
        Some(last_modified),
        "{first:?}"
    );
    assert_eq!(
        first.etag, None,
        "the artifact server validates by date only"
    );
    assert_eq!(first.body_bytes, CUT, "{first:?}");
}

/// Asserts `retry` asked to resume at [`CUT`], valid only while the file
/// still has the first response's date.
fn assert_asks_to_resume(retry: &Exchange, last_modified: &str) {
    assert_eq!(
        retry.range.as_deref(),
        Some(format!("bytes={CUT}-").as_str()),
        "{retry:?}"
    );
    assert_eq!(retry.if_range.as_deref(), Some(last_modified), "{retry:?}");
}

/// Asserts `retry` resumed at [`CUT`] with the first response's date and
/// got the rest of a [`SIZE`]-byte file.
fn assert_resumed(retry: &Exchange, last_modified: &str) {
    assert_asks_to_resume(retry, last_modified);
    assert_eq!(retry.status, Some(206), "{retry:?}");
    assert_eq!(
        retry.content_range.as_deref(),
        Some(format!("bytes {CUT}-{}/{SIZE}", SIZE - 1).as_str()),
        "{retry:?}"
    );
    assert_eq!(retry.body_bytes, SIZE as u64 - CUT, "{retry:?}");
}

/// A body cut halfway is resumed from jobhost-fleet's own server: the
/// retry asks for the rest with `If-Range: <Last-Modified>` (there is no
/// ETag to use), gets 206, and the file assembled from both is the
/// artifact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_download_resumes_with_if_range_on_last_modified() {
    let (fleet, tap) = Fleet::start_cut(false).await;
    let firmware = artifact(7);
    let date = fleet.put("fw.bin", &firmware, Duration::from_secs(3600));
    let sha = sha256(&firmware);

    fleet.download("fw-resume", "fw.bin", Some(&sha));
    let e = fleet.succeeded("fw-resume").await;
    assert_eq!(detail(&e, "sha256"), Some(sha.as_str()));
    assert_eq!(
        sha256(&std::fs::read(fleet.downloads.join("fw.bin")).unwrap()),
        sha
    );

    let seen = tap.exchanges();
    assert_eq!(seen.len(), 2, "one cut request and one resume: {seen:#?}");
    assert_cut_first(&seen[0], &date);
    assert_eq!(seen[1].target, seen[0].target, "the same URL: {seen:#?}");
    assert_resumed(&seen[1], &date);
    fleet.stop().await;
}

/// The artifact is replaced (same size, other bytes, a later date) between
/// the cut and the retry: the retry still asks to resume with the old
/// date, and the server must answer with the whole new file (200), not the
/// new file's second half (which the agent would splice onto the old first
/// half). The document carries no sha256 (`allowUnverified`), so a splice
/// would not be caught by the agent's hash check and would reach the disk:
/// the file's content is the assertion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_replaced_between_attempts_comes_back_whole() {
    let (fleet, tap) = Fleet::start_cut(true).await;
    let old = artifact(7);
    let old_date = fleet.put("fw.bin", &old, Duration::from_secs(7200));

    fleet.download("fw-replaced", "fw.bin", None);
    // The retry is at the proxy, asking to resume the old file...
    let seen = tap.requests(2).await;
    assert_cut_first(&seen[0], &old_date);
    assert_asks_to_resume(&seen[1], &old_date);
    // ...when the operator uploads a new one under the same name.
    let new = artifact(13);
    assert_ne!(old[..CUT as usize], new[..CUT as usize]);
    let new_date = fleet.put("fw.bin", &new, Duration::from_secs(3600));
    assert_ne!(old_date, new_date);
    tap.release();

    let e = fleet.succeeded("fw-replaced").await;
    let on_disk = std::fs::read(fleet.downloads.join("fw.bin")).unwrap();
    assert!(
        on_disk == new,
        "the device holds {} bytes that are not the new artifact (a splice of old and new?)",
        on_disk.len()
    );
    assert_eq!(detail(&e, "sha256"), Some(sha256(&new).as_str()));
    let seen = tap.exchanges();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(seen[1].status, Some(200), "{seen:#?}");
    assert_eq!(seen[1].last_modified.as_deref(), Some(new_date.as_str()));
    assert_eq!(seen[1].body_bytes, SIZE as u64, "{seen:#?}");
    fleet.stop().await;
}

/// The body is cut, and by the time the agent retries its presigned URL
/// has expired (403). The fresh URL from the job document fetched again
/// has another query string (expiry and signature) but names the same
/// artifact, and the agent resumes with it instead of starting over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_download_resumes_across_a_fresh_presigned_url() {
    let (fleet, tap) = Fleet::start_cut(true).await;
    let firmware = artifact(7);
    let date = fleet.put("fw.bin", &firmware, Duration::from_secs(3600));
    let sha = sha256(&firmware);

    fleet.download("fw-fresh-url", "fw.bin", Some(&sha));
    // The retry (same URL) is at the proxy; before it gets through, the
    // URL expires.
    let seen = tap.requests(2).await;
    assert_eq!(seen[1].target, seen[0].target);
    fleet.expire_urls();
    tap.release();

    let e = fleet.succeeded("fw-fresh-url").await;
    assert_eq!(detail(&e, "sha256"), Some(sha.as_str()));
    assert_eq!(
        sha256(&std::fs::read(fleet.downloads.join("fw.bin")).unwrap()),
        sha
    );
    let seen = tap.exchanges();
    assert_eq!(
        seen.len(),
        3,
        "cut, refused as expired, resumed with a fresh URL: {seen:#?}"
    );
    assert_cut_first(&seen[0], &date);
    assert_eq!(seen[1].status, Some(403), "{seen:#?}");
    let fresh = &seen[2];
    assert_eq!(fresh.path(), seen[0].path(), "{seen:#?}");
    assert!(
        fresh.query().is_some() && fresh.query() != seen[0].query(),
        "the retry uses a fresh presigned URL: {seen:#?}"
    );
    assert_resumed(fresh, &date);
    fleet.stop().await;
}
