//! The `download` capability through the real `download-file` plugin, a
//! real HTTP server on loopback and real files.

use crate::support;

mod scripted;

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
    let sandbox = Sandbox {
        dirs: vec![format!("{}:/downloads", downloads.path().display())
            .parse::<DirGrant>()
            .unwrap()],
        download: Some(DownloadGrant {
            hosts: vec![format!("127.0.0.1:{}", addr.port())],
            allow_http: true,
        }),
        command: None,
        reboot: false,
        ..Sandbox::empty()
    };
    Setup {
        addr,
        downloads,
        sandbox,
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

// ----- a network that is not kind (resume, retries, progress) -----

fn file(len: usize, seed: u8, etag: &str) -> File {
    File {
        body: (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect(),
        etag: format!("\"{etag}\""),
    }
}

/// A download grant for `server` and a fresh directory for /downloads.
fn grant(server: &Scripted) -> (tempfile::TempDir, Sandbox) {
    let downloads = tempfile::tempdir().unwrap();
    let sandbox = Sandbox {
        dirs: vec![format!("{}:/downloads", downloads.path().display())
            .parse::<DirGrant>()
            .unwrap()],
        download: Some(DownloadGrant {
            hosts: vec![server.addr.to_string()],
            allow_http: true,
        }),
        command: None,
        reboot: false,
        ..Sandbox::empty()
    };
    (downloads, sandbox)
}

fn fetch(
    server: &Scripted,
    sandbox: &Sandbox,
    expected: &[u8],
    observer: Box<dyn Observer>,
) -> jobhost::executor::Report {
    let doc = serde_json::json!({
        "operation": "download-file",
        "url": format!("http://{}/fw.bin?X-Signature=secret", server.addr),
        "destination": "/downloads/fw.bin",
        "sha256": sha(expected),
    });
    run_with(
        &load("download-file"),
        &execution(&doc.to_string()),
        sandbox,
        &ExecutionLimits::default(),
        observer,
    )
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let fw = file(100_000, 1, "v1");
    let server = Scripted::start(fw.clone(), vec![Answer::CutAfter(40_000)]);
    let (downloads, sandbox) = grant(&server);
    let report = fetch(
        &server,
        &sandbox,
        &fw.body,
        Box::new(NullObserver::default()),
    );
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    assert_eq!(
        std::fs::read(downloads.path().join("fw.bin")).unwrap(),
        fw.body
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(!requests[0].contains("range:"), "{}", requests[0]);
    assert!(
        requests[1].contains("range: bytes=40000-"),
        "{}",
        requests[1]
    );
    assert!(requests[1].contains("if-range: \"v1\""), "{}", requests[1]);
    assert_eq!(files_in(downloads.path()), ["fw.bin"], "no part file left");
}

#[test]
fn a_download_a_failed_run_broke_off_resumes_in_the_next_run() {
    let fw = file(100_000, 2, "v1");
    // Half the file, then a 404: final, so the run fails without retrying
    // and leaves its part for the next run (as a power cut would).
    let server = Scripted::start(
        fw.clone(),
        vec![Answer::CutAfter(30_000), Answer::Status(404)],
    );
    let (downloads, sandbox) = grant(&server);
    let report = fetch(
        &server,
        &sandbox,
        &fw.body,
        Box::new(NullObserver::default()),
    );
    assert_eq!(report.status, TerminalStatus::Failed, "{report:?}");
    let reason = report.reason().unwrap();
    assert!(
        reason.contains("HTTP 404") && reason.contains("not retried"),
        "{reason}"
    );
    assert!(
        !reason.contains("secret"),
        "presigned queries stay out: {reason}"
    );
    assert_eq!(server.requests().len(), 2, "a 4xx is not retried");

    let report = fetch(
        &server,
        &sandbox,
        &fw.body,
        Box::new(NullObserver::default()),
    );
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    let requests = server.requests();
    assert!(
        requests[2].contains("range: bytes=30000-"),
        "{}",
        requests[2]
    );
    assert_eq!(
        std::fs::read(downloads.path().join("fw.bin")).unwrap(),
        fw.body
    );
    assert_eq!(files_in(downloads.path()), ["fw.bin"]);
}

#[test]
fn a_file_that_changed_on_the_server_comes_whole_not_spliced() {
    let old = file(100_000, 3, "v1");
    let server = Scripted::start(
        old.clone(),
        vec![Answer::CutAfter(30_000), Answer::Status(404)],
    );
    let (downloads, sandbox) = grant(&server);
    let report = fetch(
        &server,
        &sandbox,
        &old.body,
        Box::new(NullObserver::default()),
    );
    assert_eq!(report.status, TerminalStatus::Failed, "{report:?}");

    // A new release under the same URL; the job now names its sha256.
    let new = file(80_000, 4, "v2");
    server.replace(new.clone(), vec![]);
    let report = fetch(
        &server,
        &sandbox,
        &new.body,
        Box::new(NullObserver::default()),
    );
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    assert_eq!(
        std::fs::read(downloads.path().join("fw.bin")).unwrap(),
        new.body
    );
    // The part was for another sha256: not even offered for resuming.
    assert!(!server.requests()[2].contains("range:"));
}

#[test]
fn a_file_replaced_between_attempts_comes_whole_not_spliced() {
    let old = file(100_000, 5, "v1");
    let new = file(100_000, 6, "v2");
    // Half of the old file, then the server has the new release: the
    // retry's If-Range names the old version, so the server sends the new
    // one whole, and no old byte survives.
    let server = Scripted::start(old, vec![Answer::CutThenRelease(30_000, new.clone())]);
    let (downloads, sandbox) = grant(&server);
    let report = fetch(
        &server,
        &sandbox,
        &new.body,
        Box::new(NullObserver::default()),
    );
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    assert_eq!(
        std::fs::read(downloads.path().join("fw.bin")).unwrap(),
        new.body
    );
    let requests = server.requests();
    assert!(requests[1].contains("if-range: \"v1\""), "{}", requests[1]);
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let fw = file(10_000, 7, "v1");
    let server = Scripted::start(fw.clone(), vec![Answer::Status(503), Answer::Status(429)]);
    let (downloads, sandbox) = grant(&server);
    let report = fetch(
        &server,
        &sandbox,
        &fw.body,
        Box::new(NullObserver::default()),
    );
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    assert_eq!(server.requests().len(), 3);
    assert_eq!(
        std::fs::read(downloads.path().join("fw.bin")).unwrap(),
        fw.body
    );
    assert_backoff(&server.arrivals());
}

/// The delay before the first retry (host `FIRST_RETRY_DELAY`); it doubles
/// for each further retry, and jitter takes off at most a quarter.
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Asserts that retry i (1-based) came at least ¾ × 2^(i-1) ×
/// [`FIRST_RETRY_DELAY`] after the attempt before it: doubling, jittered
/// delays as docs/agent.md promises. Lower bounds only (a loaded machine
/// only makes gaps longer); a retry without a pause, or with a pause that
/// does not grow, fails.
fn assert_backoff(arrivals: &[Instant]) {
    for (i, pair) in arrivals.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let least = FIRST_RETRY_DELAY.mul_f64(0.75 * f64::from(1u32 << i));
        assert!(
            gap >= least,
            "retry {} came {gap:?} after the attempt before it; the backoff is at least {least:?}",
            i + 1
        );
    }
}

#[test]
fn retries_are_bounded() {
    let fw = file(10_000, 8, "v1");
    let server = Scripted::start(fw.clone(), vec![Answer::Status(503); 10]);
    let (_downloads, sandbox) = grant(&server);
    let report = fetch(
        &server,
        &sandbox,
        &fw.body,
        Box::new(NullObserver::default()),
    );
    assert_eq!(report.status, TerminalStatus::Failed, "{report:?}");
    assert!(
        report
            .reason()
            .unwrap()
            .contains("gave up after 5 attempts"),
        "{report:?}"
    );
    assert_eq!(server.requests().len(), 5);
    assert_backoff(&server.arrivals());
}

/// Keeps every progress report, with when it was made.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<(Instant, StatusDetails)>>>);

impl Recorder {
    fn reports(&self) -> Vec<StatusDetails> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, d)| d.clone())
            .collect()
    }
}

impl Observer for Recorder {
    fn progress(&mut self, details: &StatusDetails) {
        self.0
            .lock()
            .unwrap()
            .push((Instant::now(), details.clone()));
    }

    fn checkpoint(&mut self, _state: &str) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn progress_is_reported_in_percent_on_top_of_the_plugins_own_details() {
    let fw = file(300_000, 9, "v1");
    let server = Scripted::start(fw.clone(), vec![Answer::Full]);
    let (_downloads, sandbox) = grant(&server);
    let recorder = Recorder::default();
    let report = fetch(&server, &sandbox, &fw.body, Box::new(recorder.clone()));
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    let reports = recorder.reports();
    let percents: Vec<u64> = reports
        .iter()
        .filter_map(|d| d.get("downloadProgress"))
        .map(|p| p.trim_end_matches('%').parse().unwrap())
        .collect();
    assert_eq!(percents.first(), Some(&0), "{reports:?}");
    assert_eq!(percents.last(), Some(&100), "{reports:?}");
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "{percents:?}");
    let last = reports.last().unwrap();
    assert_eq!(last.get("downloadedBytes"), Some("300000"));
    // The plugin said "step: downloading" before fetching; it stays.
    assert_eq!(last.get("step"), Some("downloading"), "{last:?}");
}

#[test]
fn download_progress_is_reported_at_most_once_a_second() {
    // 20 pieces 150 ms apart: the body takes at least 2.85 s, each piece
    // is 5 %, so without a limit there would be a report every 150 ms.
    let recorder = trickled(10, |pieces, pause| Answer::Trickle { pieces, pause });
    let reports: Vec<(Instant, String)> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(at, d)| d.get("downloadProgress").map(|p| (*at, p.to_owned())))
        .collect();
    let shown: Vec<&str> = reports.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(
        reports.last().map(|(_, p)| p.as_str()),
        Some("100%"),
        "{shown:?}"
    );
    // 100 % is sent as soon as it is reached; every report before it comes
    // a second after the one before. The host measures the second just
    // before it calls the observer, so allow for that call being delayed.
    let limited = &reports[..reports.len() - 1];
    assert!(
        limited.len() >= 2,
        "a {:?} download made no report between 0 % and 100 %: {shown:?}",
        Duration::from_millis(150 * 19)
    );
    for pair in limited.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(900),
            "{} then {} only {gap:?} later: {shown:?}",
            pair[0].1,
            pair[1].1
        );
    }
}

#[test]
fn a_body_of_unknown_size_reports_the_bytes_downloaded() {
    // No Content-Length: no percent, but the byte count must keep moving
    // (20 pieces 150 ms apart: the body takes at least 2.85 s).
    let recorder = trickled(11, |pieces, pause| Answer::TrickleUnsized { pieces, pause });
    let reports = recorder.reports();
    assert!(
        reports.iter().all(|d| d.get("downloadProgress").is_none()),
        "a percent of an unknown size: {reports:?}"
    );
    let bytes: Vec<u64> = reports
        .iter()
        .filter_map(|d| d.get("downloadedBytes"))
        .map(|b| b.parse().unwrap())
        .collect();
    assert!(
        bytes.len() >= 2 && bytes.windows(2).all(|w| w[0] < w[1]),
        "the byte count never moved: {bytes:?}"
    );
}

/// Downloads a 300 kB file (its bytes made from `seed`) that the server
/// trickles out as `answer(20 pieces, 150 ms apart)`, to SUCCEEDED; returns
/// the progress it reported.
fn trickled(seed: u8, answer: fn(usize, Duration) -> Answer) -> Recorder {
    let fw = file(300_000, seed, "v1");
    let server = Scripted::start(fw.clone(), vec![answer(20, Duration::from_millis(150))]);
    let (_downloads, sandbox) = grant(&server);
    let recorder = Recorder::default();
    let report = fetch(&server, &sandbox, &fw.body, Box::new(recorder.clone()));
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    recorder
}
