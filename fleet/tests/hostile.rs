//! Hostile plugins, through the real agent and the real service: a signed
//! plugin (the `test-probe` fixture, built from source) that loops, bombs
//! memory, recurses, traps, floods logs and statusDetails, tries to escape
//! its directories, writes where it may only read, downloads and runs what
//! it was not granted, exhausts handles and blocks inside a host call. Each
//! case asserts it was contained, the job's status and reason, and that the
//! agent then runs the NEXT job normally.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod support;

use jobhost_fleet::server::Server;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::json;
use std::path::PathBuf;
use support::agent::Agent;
use support::service::{create, detail, embedded, start_server, wait_terminal};

const THING: &str = "hostile";
/// The probe's own wall-clock limit ([plugins.test-probe.limits]).
const PROBE_TIMEOUT_SECS: u64 = 3;
/// Its handle limit.
const PROBE_HANDLES: usize = 64;

struct Harness {
    server: Server,
    dir: tempfile::TempDir,
    _agent: Agent,
    _stall: tokio::task::JoinHandle<()>,
    /// A server that accepts connections and never answers.
    stall_port: u16,
    jobs: std::cell::Cell<u32>,
}

impl Harness {
    /// The service, a server that accepts connections and never answers
    /// (for the blocked host call), and an agent with the probe and echo.
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = start_server(dir.path(), embedded()).await;
        let (stall_port, stall) = stalling_server().await;
        let agent = dir.path().join("agent");
        for d in ["data", "config", "outside", "certs"] {
            std::fs::create_dir_all(agent.join(d)).unwrap();
        }
        std::fs::write(agent.join("config/device.conf"), "mode=prod").unwrap();
        std::fs::write(agent.join("certs/device.pem"), "CERT").unwrap();
        std::fs::write(agent.join("outside/secret"), "do not read").unwrap();
        // A symlink planted inside the granted directory, pointing out.
        std::os::unix::fs::symlink(agent.join("outside"), agent.join("data/link")).unwrap();
        let (key, _) = support::plugins::operator_key(&agent, "operator.key");
        support::plugins::provision(&agent.join("plugins"), &key, &["echo", "test-probe"]);
        let config = support::agent::write_config(
            &agent,
            THING,
            server.mqtt_addr.port(),
            &format!(
                r#"[limits]
progress_interval_secs = 1
[device]
certificate_dir = "certs"
[plugins.test-probe]
certificates = "ro"
dirs = ["data:/data", "config:/config:ro"]
download_hosts = ["127.0.0.1:{stall_port}"]
allow_http = true
run_commands = ["/bin/echo"]
[plugins.test-probe.limits]
timeout_secs = {PROBE_TIMEOUT_SECS}
memory_mib = 64
max_handles = {PROBE_HANDLES}
max_details_kib = 8
max_log_lines_per_sec = 50
"#
            ),
        );
        let agent = Agent::start(&config);
        Self {
            server,
            dir,
            _agent: agent,
            _stall: stall,
            stall_port,
            jobs: std::cell::Cell::new(0),
        }
    }

    fn agent_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    /// Runs a probe job, then checks the agent still runs an echo job.
    async fn probe(&self, document: serde_json::Value) -> JobExecution {
        let n = self.jobs.get() + 1;
        self.jobs.set(n);
        let mut doc = document;
        doc["operation"] = json!("test-probe");
        let job = format!("hostile-{n}");
        create(&self.server, THING, &job, doc);
        let e = wait_terminal(&self.server, THING, &job).await;
        let next = format!("next-{n}");
        create(
            &self.server,
            THING,
            &next,
            json!({"operation": "echo", "message": "still serving"}),
        );
        let after = wait_terminal(&self.server, THING, &next).await;
        assert_eq!(
            after.status,
            JobExecutionStatus::Succeeded,
            "the job after {job} ({:?}): {:?}",
            e.status_details,
            after.status_details
        );
        e
    }
}

/// A TCP server that accepts connections and never writes a byte.
async fn stalling_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

/// The probe reports `<verb>:<path>`; statusDetails keys allow only
/// `[a-zA-Z0-9:_-]`, so the path's other characters arrive as `_`.
fn probe_key(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn reason(e: &JobExecution) -> &str {
    detail(e, "reason").unwrap_or_default()
}

fn assert_failed(e: &JobExecution, why: &str) {
    assert_eq!(
        e.status,
        JobExecutionStatus::Failed,
        "{:?}",
        e.status_details
    );
    assert!(
        reason(e).contains(why),
        "reason {:?} lacks {why:?}",
        reason(e)
    );
}

fn assert_succeeded(e: &JobExecution) {
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_computation_is_stopped() {
    let h = Harness::start().await;
    let timed_out = format!("timed out after {PROBE_TIMEOUT_SECS} s");

    assert_failed(&h.probe(json!({"spin": true})).await, &timed_out);
    assert_failed(&h.probe(json!({"allocate_mib": 1024})).await, "memory");
    assert_failed(
        &h.probe(json!({"recurse": true})).await,
        "call stack exhausted",
    );
    assert_failed(&h.probe(json!({"trap": true})).await, "unreachable");
    let e = h.probe(json!({"panic": "hostile panic"})).await;
    assert_failed(&e, "plugin trapped");
    assert!(
        detail(&e, "lastError")
            .unwrap_or_default()
            .contains("hostile panic"),
        "{:?}",
        e.status_details
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_capped() {
    let h = Harness::start().await;

    // 20,000 log lines: dropped over the rate, the run is not slowed to a
    // crawl by the agent's own logging, and it completes.
    assert_succeeded(&h.probe(json!({"log_lines": 20000})).await);

    // 500 details of 1,000 characters: the report keeps under 8 KiB and
    // says how many entries it dropped (the update still fits MQTT).
    let e = h.probe(json!({"details": 500})).await;
    assert_succeeded(&e);
    let details = e.status_details.as_ref().unwrap();
    assert!(details.json_len() <= 8 << 10, "{}", details.json_len());
    let dropped = detail(&e, "detailsTruncated").unwrap_or_default();
    assert!(
        dropped.contains("entries dropped"),
        "{:?}",
        e.status_details
    );

    // 5,000 progress calls: rate-limited by the agent, each within limits.
    assert_succeeded(&h.probe(json!({"progress_updates": 5000})).await);
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filesystem_sandbox_holds() {
    let h = Harness::start().await;
    let agent = h.agent_dir();

    let e = h
        .probe(json!({
            "read": ["/data/../outside/secret", "/etc/passwd", "/data/link/secret",
                     "/config/device.conf", "/certificates/device.pem"],
            "write": [
                {"path": "/data/link/planted", "content": "x"},
                {"path": "/config/device.conf", "content": "mode=pwned"},
                {"path": "/certificates/device.pem", "content": "EVIL"},
                {"path": "/tmp/escape", "content": "x"},
                {"path": "/data/ok.txt", "content": "fine"}
            ],
        }))
        .await;
    assert_succeeded(&e);
    for key in [
        "read:/data/../outside/secret",
        "read:/etc/passwd",
        "read:/data/link/secret",
        "write:/data/link/planted",
        "write:/config/device.conf",
        "write:/certificates/device.pem",
        "write:/tmp/escape",
    ] {
        let v = detail(&e, &probe_key(key)).unwrap_or_default();
        assert!(
            v.starts_with("err:"),
            "{key} = {v:?}: the sandbox let it through"
        );
    }
    assert_eq!(
        detail(&e, &probe_key("read:/config/device.conf")),
        Some("ok:mode=prod")
    );
    assert_eq!(
        detail(&e, &probe_key("read:/certificates/device.pem")),
        Some("ok:CERT")
    );
    assert_eq!(
        std::fs::read_to_string(agent.join("certs/device.pem")).unwrap(),
        "CERT"
    );
    assert_eq!(
        detail(&e, &probe_key("write:/data/ok.txt")),
        Some("ok:written")
    );
    assert!(
        !agent.join("outside/planted").exists(),
        "written through the symlink"
    );
    assert_eq!(
        std::fs::read_to_string(agent.join("config/device.conf")).unwrap(),
        "mode=prod"
    );
    assert_eq!(
        std::fs::read_to_string(agent.join("data/ok.txt")).unwrap(),
        "fine"
    );
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ungranted_capabilities_are_refused() {
    let h = Harness::start().await;

    let e = h
        .probe(json!({"download": {"url": "https://evil.example.com/x", "destination": "/data/x"}}))
        .await;
    assert_succeeded(&e);
    let v = detail(&e, "download").unwrap_or_default();
    assert!(
        v.starts_with("err:not permitted") && v.contains("allow-list"),
        "{v}"
    );

    for program in ["/bin/sh", "sh", "ls; rm -rf /", "/bin/../bin/sh"] {
        let e = h
            .probe(json!({"command": {"program": program, "args": ["-c", "id"]}}))
            .await;
        let v = detail(&e, "command").unwrap_or_default();
        assert!(v.starts_with("err:not permitted"), "{program}: {v}");
    }
    // Allowed, and shell metacharacters in arguments stay literal text.
    let e = h
        .probe(json!({"command": {"program": "/bin/echo", "args": ["a;b", "$(id)", "`id`"]}}))
        .await;
    assert_eq!(detail(&e, "command"), Some("ok:0|a;b $(id) `id`|"));
    h.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhaustion_and_blocking_are_contained() {
    let h = Harness::start().await;

    // Opening handles without end: the run ends at the handle limit, not
    // at the agent's own descriptor limit; the files it made are its own.
    let e = h.probe(json!({"open_files": 10000})).await;
    assert_failed(
        &e,
        &format!("handle limit reached ({PROBE_HANDLES} open handles"),
    );
    let made = std::fs::read_dir(h.agent_dir().join("data"))
        .unwrap()
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("fd-")
        })
        .count();
    assert!(made < PROBE_HANDLES, "{made} files opened");

    // A host call that would block forever: the server accepts and never
    // answers. The deadline still ends the run.
    let url = format!("http://127.0.0.1:{}/never", h.stall_port);
    let e = h
        .probe(json!({"download": {"url": url, "destination": "/data/never"}}))
        .await;
    assert_failed(&e, &format!("timed out after {PROBE_TIMEOUT_SECS} s"));
    h.server.stop().await;
}
