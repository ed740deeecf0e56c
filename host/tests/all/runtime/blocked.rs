//! A plugin waiting inside a host call is still bound by its deadline and
//! its cancellation: a WASI sleep of an hour, the open of a FIFO nobody
//! writes to, a download whose server drips a byte at a time. Each ends
//! FAILED "timed out after 1 s" at its deadline (not the watchdog's
//! "abandoned" 10 s later), and a cancelled one ends `Cancelled` long
//! before its ten-minute deadline. After each, the same runtime runs the
//! next job normally.

use super::support::{self, execution, load, runtime};
use jobhost::executor::{self, CancelToken, Conclusion, Observer};
use jobhost::runtime::{DirGrant, DownloadGrant, ExecutionLimits, Sandbox};
use jobhost_protocol::{StatusDetails, TerminalStatus};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

/// How long a test waits for a result before it calls the run stuck: far
/// past the 1 s deadlines (a loaded machine), far short of what a blocked
/// run would take (an hour, or forever).
const GUARD: Duration = Duration::from_secs(60);

/// A granted `/data` holding a FIFO, and a download grant for a server
/// that answers with a 1 MB body sent one byte every 100 ms.
struct Blocker {
    data: tempfile::TempDir,
    drip: SocketAddr,
}

impl Blocker {
    fn new() -> Self {
        let data = tempfile::tempdir().unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(data.path().join("fifo"))
            .status()
            .unwrap();
        assert!(made.success());
        Self {
            data,
            drip: drip_server(),
        }
    }

    fn sandbox(&self) -> Sandbox {
        Sandbox {
            dirs: vec![format!("{}:/data", self.data.path().display())
                .parse::<DirGrant>()
                .unwrap()],
            download: Some(DownloadGrant {
                hosts: vec![self.drip.to_string()],
                allow_http: true,
            }),
            ..Sandbox::empty()
        }
    }

    /// The documents of the probe that block in each way; each saves a
    /// checkpoint first, which tells the test the plugin is running.
    fn documents(&self) -> Vec<String> {
        let download = serde_json::json!({
            "url": format!("http://{}/firmware.bin", self.drip),
            "destination": "/data/firmware.bin",
        });
        vec![
            r#"{"checkpoint": "started", "sleep_ms": 3600000}"#.into(),
            r#"{"checkpoint": "started", "read": ["/data/fifo"]}"#.into(),
            serde_json::json!({"checkpoint": "started", "download": download}).to_string(),
        ]
    }
}

/// Answers every request with headers for a 1 MB body, then one byte
/// every 100 ms until the client goes away.
fn drip_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request);
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
                // The server's pace, not synchronisation: this is the drip.
                while conn.write_all(b"x").is_ok() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    addr
}

/// Signals when the plugin saves its first checkpoint: proof that it runs.
struct Started(Option<mpsc::Sender<()>>);

impl Observer for Started {
    fn progress(&mut self, _details: &StatusDetails) {}
    fn checkpoint(&mut self, _state: &str) -> Result<(), String> {
        if let Some(started) = self.0.take() {
            let _ = started.send(());
        }
        Ok(())
    }
}

/// Runs `document` on a thread of its own; returns a receiver for its
/// start and one for its conclusion.
fn spawn_run(
    document: &str,
    sandbox: Sandbox,
    timeout: Duration,
    cancel: CancelToken,
) -> (mpsc::Receiver<()>, mpsc::Receiver<Conclusion>) {
    let (started, on_start) = mpsc::channel();
    let (done, on_done) = mpsc::channel();
    let document = document.to_owned();
    std::thread::spawn(move || {
        let limits = ExecutionLimits {
            timeout,
            ..ExecutionLimits::default()
        };
        let conclusion = support::block_on(executor::execute(
            &runtime(),
            &load("test-probe"),
            &execution(&document),
            &sandbox,
            &limits,
            Box::new(Started(Some(started))),
            cancel,
        ));
        let _ = done.send(conclusion);
    });
    (on_start, on_done)
}

/// The next job, on the same runtime: proof that nothing was left wedged.
fn next_job_runs() {
    let report = support::run(&load("echo"), r#"{"operation":"echo","message":"next"}"#);
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
}

#[test]
fn a_run_blocked_in_a_host_call_ends_at_its_deadline() {
    let blocker = Blocker::new();
    for document in blocker.documents() {
        let (_, done) = spawn_run(
            &document,
            blocker.sandbox(),
            Duration::from_secs(1),
            CancelToken::new(),
        );
        let conclusion = done
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("{document}: still running {GUARD:?} after a 1 s deadline"));
        let Conclusion::Report(report) = conclusion else {
            panic!("{document}: {conclusion:?}");
        };
        assert_eq!(
            (report.status, report.reason()),
            (TerminalStatus::Failed, Some("timed out after 1 s")),
            "{document}: {report:?}"
        );
        next_job_runs();
    }
}

#[test]
fn a_cancelled_run_blocked_in_a_host_call_stops_and_reports_nothing() {
    // Ten minutes of deadline: only the cancel can end these runs within
    // the guard.
    const DEADLINE: Duration = Duration::from_secs(600);
    let blocker = Blocker::new();
    for document in blocker.documents() {
        let cancel = CancelToken::new();
        let (started, done) = spawn_run(&document, blocker.sandbox(), DEADLINE, cancel.clone());
        started
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("{document}: the plugin never started"));
        cancel.cancel();
        let conclusion = done
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("{document}: still running {GUARD:?} after the cancel"));
        assert_eq!(conclusion, Conclusion::Cancelled, "{document}");
        next_job_runs();
    }
}
