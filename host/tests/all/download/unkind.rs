//! A network that is not kind: interrupted and changed files, server
//! errors, retries and their bound, progress while bytes trickle in.

use super::*;

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
    let sandbox = downloads_sandbox(server.addr.to_string(), downloads.path());
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
