//! The `download` capability through the real `download-file` plugin, a
//! real HTTP server on loopback and real files.

use crate::support;

mod codesign;
mod scripted;
mod unkind;

use axum::routing::get;
use jobhost::executor::NullObserver;
use jobhost::executor::Observer;
use jobhost::runtime::{DirGrant, DownloadGrant, ExecutionLimits, Sandbox};
use jobhost_protocol::StatusDetails;
use jobhost_protocol::TerminalStatus;
use scripted::{Answer, File, Scripted};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{execution, load, run_with};

const FIRMWARE: &[u8] = b"firmware image v1.4.2 \x00\x01\x02 (pretend this is large)";

/// Serves `/fw.bin`; returns its address. The server lives as long as the
/// test's runtime.
fn server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route("/fw.bin", get(|| async { FIRMWARE.to_vec() }));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

struct Setup {
    addr: SocketAddr,
    downloads: tempfile::TempDir,
    sandbox: Sandbox,
}

fn setup() -> Setup {
    let addr = server();
    let downloads = tempfile::tempdir().unwrap();
    let sandbox = downloads_sandbox(format!("127.0.0.1:{}", addr.port()), downloads.path());
    Setup {
        addr,
        downloads,
        sandbox,
    }
}

/// A sandbox that may download over http from `host` into `downloads`,
/// which the plugin sees as /downloads.
fn downloads_sandbox(host: String, downloads: &std::path::Path) -> Sandbox {
    Sandbox {
        dirs: vec![format!("{}:/downloads", downloads.display())
            .parse::<DirGrant>()
            .unwrap()],
        download: Some(DownloadGrant {
            hosts: vec![host],
            allow_http: true,
        }),
        ..Sandbox::empty()
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn run(s: &Setup, url: &str, destination: &str, sha256: &str) -> jobhost::executor::Report {
    let doc = serde_json::json!({"operation": "download-file", "url": url, "destination": destination, "sha256": sha256});
    run_with(
        &load("download-file"),
        &execution(&doc.to_string()),
        &s.sandbox,
        &ExecutionLimits::default(),
        Box::new(NullObserver::default()),
    )
}

#[test]
fn downloads_and_verifies_into_the_granted_directory() {
    let s = setup();
    let report = run(
        &s,
        &format!("http://{}/fw.bin", s.addr),
        "/downloads/fw/image.bin",
        &sha(FIRMWARE),
    );
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    assert_eq!(
        report.status_details.get("sha256"),
        Some(sha(FIRMWARE).as_str())
    );
    assert_eq!(
        report.status_details.get("bytes"),
        Some(FIRMWARE.len().to_string().as_str())
    );
    assert_eq!(
        std::fs::read(s.downloads.path().join("fw/image.bin")).unwrap(),
        FIRMWARE
    );
}

#[test]
fn sha256_mismatch_fails_and_leaves_nothing_behind() {
    let s = setup();
    let report = run(
        &s,
        &format!("http://{}/fw.bin", s.addr),
        "/downloads/image.bin",
        &sha(b"something else"),
    );
    assert_eq!(report.status, TerminalStatus::Failed, "{report:?}");
    assert!(
        report.reason().unwrap().contains("sha256 mismatch"),
        "{report:?}"
    );
    assert_eq!(
        std::fs::read_dir(s.downloads.path()).unwrap().count(),
        0,
        "no file, no .part"
    );
}

#[test]
fn an_allowed_name_that_resolves_to_the_device_itself_is_refused() {
    // `localhost` is on the allow-list, but names are resolved without
    // loopback and link-local results (DNS rebinding); the address itself
    // (127.0.0.1, as `setup` lists it) is how an operator allows loopback.
    let mut s = setup();
    let port = s.addr.port();
    s.sandbox.download = Some(DownloadGrant {
        hosts: vec![format!("localhost:{port}")],
        allow_http: true,
    });
    let report = run(
        &s,
        &format!("http://localhost:{port}/fw.bin"),
        "/downloads/image.bin",
        &sha(FIRMWARE),
    );
    assert_eq!(report.status, TerminalStatus::Failed, "{report:?}");
    assert!(
        report
            .reason()
            .unwrap()
            .contains("resolves only to loopback"),
        "{report:?}"
    );
    assert_eq!(std::fs::read_dir(s.downloads.path()).unwrap().count(), 0);
}

#[test]
fn a_host_off_the_allow_list_is_refused() {
    let s = setup();
    let report = run(
        &s,
        "http://127.0.0.2:9/fw.bin",
        "/downloads/image.bin",
        &sha(FIRMWARE),
    );
    assert_eq!(report.status, TerminalStatus::Rejected, "{report:?}");
    assert!(
        report.reason().unwrap().contains("allow-list"),
        "{report:?}"
    );
}

#[test]
fn http_errors_fail_retryably() {
    let s = setup();
    let report = run(
        &s,
        &format!("http://{}/missing.bin", s.addr),
        "/downloads/image.bin",
        &sha(FIRMWARE),
    );
    assert_eq!(report.status, TerminalStatus::Failed);
    assert!(report.reason().unwrap().contains("HTTP 404"), "{report:?}");
}

#[test]
fn destinations_outside_the_grant_are_refused() {
    let s = setup();
    for destination in ["/etc/passwd", "/downloads/../escape.bin", "/downloads"] {
        let report = run(
            &s,
            &format!("http://{}/fw.bin", s.addr),
            destination,
            &sha(FIRMWARE),
        );
        assert_eq!(
            report.status,
            TerminalStatus::Rejected,
            "{destination}: {report:?}"
        );
    }
}

#[test]
fn a_symlink_planted_in_the_grant_cannot_redirect_the_write() {
    let s = setup();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), s.downloads.path().join("link")).unwrap();
    let report = run(
        &s,
        &format!("http://{}/fw.bin", s.addr),
        "/downloads/link/image.bin",
        &sha(FIRMWARE),
    );
    assert_eq!(report.status, TerminalStatus::Failed, "{report:?}");
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing written outside the grant"
    );
}

#[test]
fn without_the_capability_the_plugin_is_refused() {
    let s = setup();
    let sandbox = Sandbox {
        download: None,
        ..s.sandbox.clone()
    };
    let doc = serde_json::json!({"url": format!("http://{}/fw.bin", s.addr), "destination": "/downloads/x", "sha256": sha(FIRMWARE)});
    let report = run_with(
        &load("download-file"),
        &execution(&doc.to_string()),
        &sandbox,
        &ExecutionLimits::default(),
        Box::new(NullObserver::default()),
    );
    assert_eq!(report.status, TerminalStatus::Rejected);
    assert!(
        report
            .reason()
            .unwrap()
            .contains("`download` capability is not granted"),
        "{report:?}"
    );
}
