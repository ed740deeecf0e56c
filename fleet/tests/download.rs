//! download-file through the broker when the network is not kind: a
//! presigned URL that expired before the device got to use it is replaced
//! by a fresh one from the job document fetched again.
//!
//! The artifact server sits behind a gated proxy and the service runs on a
//! clock the test moves: the device's first request is held at the proxy
//! until the test has moved the clock past the URL's expiry, so the first
//! answer is certainly "expired" — no timing assumption.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod support;

use jobhost_fleet::artifacts::placeholder;
use jobhost_fleet::server::{Server, ServerConfig};
use jobhost_protocol::JobExecutionStatus;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::agent::Agent;
use support::proxy::GatedProxy;
use support::service::{clock, create, detail, embedded, wait_terminal};

const THING: &str = "field-unit";

/// How long presigned URLs live in this test.
const TTL: Duration = Duration::from_secs(600);

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
    let root = tempfile::tempdir().unwrap();
    // The service's clock: the wall clock plus what the test adds.
    let skew = Arc::new(AtomicI64::new(0));
    let wall = clock();
    let now = {
        let skew = skew.clone();
        Arc::new(move || wall() + skew.load(Ordering::SeqCst))
    };
    let proxy = GatedProxy::listen().await;
    let server = Server::start(
        ServerConfig {
            data_dir: root.path().join("fleet"),
            broker: embedded(),
            http: "127.0.0.1:0".parse().unwrap(),
            public_url: Some(format!("http://{}", proxy.addr())),
            url_ttl: TTL,
            token: None,
        },
        now,
    )
    .await
    .unwrap();
    let proxy = proxy.forward_to(server.http_addr);

    let firmware: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    server.artifacts.put("fw.bin", &firmware).unwrap();
    let sha = hex::encode(Sha256::digest(&firmware));

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
             download_hosts = [\"{}\"]\nallow_http = true\n",
            downloads.display(),
            proxy.addr()
        ),
    );
    let agent = Agent::start(&config);

    create(
        &server,
        THING,
        "fw-expired",
        make(&placeholder(&server.artifacts.url_of("fw.bin")), &sha),
    );
    // The device has its URL and is asking for the file; before the
    // request gets through, the URL expires.
    proxy.connection_arrived().await;
    skew.store(TTL.as_secs() as i64 + 60, Ordering::SeqCst);
    proxy.open();

    let e = wait_terminal(&server, THING, "fw-expired").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "sha256"), Some(sha.as_str()));
    assert_eq!(std::fs::read(downloads.join("fw.bin")).unwrap(), firmware);
    agent.stop().await;
}
