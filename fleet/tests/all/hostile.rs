//! Hostile plugins, through the real agent and the real service: a signed
//! plugin (the `test-probe` fixture, built from source) that loops, bombs
//! memory (also spread over many memories: `test-memories`, hand-written),
//! recurses, traps, floods logs and statusDetails, tries to escape
//! its directories, writes where it may only read, downloads and runs what
//! it was not granted, exhausts handles and blocks inside a host call. Each
//! case asserts it was contained, the job's status and reason, and that the
//! agent then runs the NEXT job normally.

use crate::support;

use jobhost_fleet::server::Server;
use jobhost_fleet::store::ExecutionChange;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use support::agent::Agent;
use support::logs::plugin_log;
use support::plugins::probe_key;
use support::service::{
    clock, create, detail, embedded, execution, start_server, wait_terminal, wait_until,
};

const THING: &str = "hostile";
/// The probe's own wall-clock limit ([plugins.test-probe.limits]) where a
/// test waits for it to strike (a loop, a blocked call): short, since
/// the test waits that long.
const PROBE_TIMEOUT_SECS: u64 = 3;
/// The limit where every run must complete (floods, sandbox probes): long,
/// so that a loaded 2-core machine (the host's runtime unoptimised in
/// test builds, five of these tests in parallel) cannot turn a slow run
/// into FAILED "timed out". What the runs must achieve is asserted
/// directly.
const COMPLETING_PROBE_TIMEOUT_SECS: u64 = 20;
/// Its log rate ([plugins.test-probe.limits] max_log_lines_per_sec).
const PROBE_LOG_LINES_PER_SEC: u64 = 50;
/// Its log volume (max_log_kib): more than the rate can let through
/// within [`COMPLETING_PROBE_TIMEOUT_SECS`] (50 lines/s of 1 KB, plus a
/// burst of 100, is about 1.1 MB), so that in a log flood every line is
/// either logged or dropped *by the rate limit*, which counts it.
const PROBE_LOG_KIB: u64 = 4096;
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
    /// (for the blocked host call), and an agent with the probe and echo;
    /// the probe's runs are limited to `probe_timeout_secs`.
    async fn start(probe_timeout_secs: u64) -> Self {
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
        std::fs::write(
            agent.join("plugins/test-memories.wasm"),
            many_memories(&key),
        )
        .unwrap();
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
timeout_secs = {probe_timeout_secs}
memory_mib = 64
max_handles = {PROBE_HANDLES}
max_details_kib = 8
max_log_lines_per_sec = {PROBE_LOG_LINES_PER_SEC}
max_log_kib = {PROBE_LOG_KIB}
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
        self.probe_named(&format!("hostile-{n}"), document).await
    }

    /// [`Self::probe`] as job `job`: a name no other test in this binary
    /// uses, for picking out its lines from the process-wide log.
    async fn probe_named(&self, job: &str, document: serde_json::Value) -> JobExecution {
        let n = self.jobs.get() + 1;
        self.jobs.set(n);
        let mut doc = document;
        doc["operation"] = json!("test-probe");
        create(&self.server, THING, job, doc);
        let e = wait_terminal(&self.server, THING, job).await;
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

/// Core instances in [`many_memories`], and the MiB of memory each starts with.
const MEMORIES: usize = 8;
const MEMORY_MIB: usize = 20;

/// A signed plugin (`test-memories`) whose component instantiates
/// [`MEMORIES`] core modules of [`MEMORY_MIB`] MiB of memory each: every
/// memory alone is far under the default 128 MiB limit, together they are
/// over it. Hand-written, since no language toolchain makes such a
/// component; its `run` is never reached (the type check is structural).
fn many_memories(key: &jobhost::trust::SecretKey) -> Vec<u8> {
    let pages = MEMORY_MIB * 16;
    let wat = format!(
        r#"(component
  (core module $big (memory {pages}))
  {instances}
  (core module $main
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) unreachable)
    (func (export "run") (param i32 i32 i64 i32 i32 i32 i32 i32 i32 i32) (result i32)
      unreachable))
  (core instance $main (instantiate $main))
  (import "jobhost:plugin/types@0.1.0" (instance $types
    (type $details (list (tuple string string)))
    (type $job' (record (field "job-id" string) (field "execution-number" u64)
      (field "operation" string) (field "document" string) (field "checkpoint" (option string))))
    (export "job" (type (eq $job')))
    (type $outcome' (record (field "status-details" $details)))
    (export "outcome" (type (eq $outcome')))
    (type $failure' (record (field "reason" string) (field "status-details" $details)
      (field "retryable" bool)))
    (export "failure" (type (eq $failure')))))
  (alias export $types "job" (type $job))
  (alias export $types "outcome" (type $outcome))
  (alias export $types "failure" (type $failure))
  (func $run (param "job" $job) (result (result $outcome (error $failure)))
    (canon lift (core func $main "run") (memory (core memory $main "memory"))
      (realloc (core func $main "realloc"))))
  (instance $operation (export "run" (func $run)))
  (export "jobhost:plugin/operation@0.1.0" (instance $operation)))"#,
        instances = "(core instance (instantiate $big))\n  ".repeat(MEMORIES)
    );
    let component = wat::parse_str(&wat).unwrap();
    let manifest = jobhost::trust::Manifest::from_toml(
        "name = \"test-memories\"\nversion = \"0.1.0\"\noperations = [\"test-memories\"]\n\
         wit = \"jobhost:plugin/operation-plugin@0.1.0\"\n",
    )
    .unwrap();
    jobhost::trust::sign(&component, &manifest, key).unwrap()
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
    let h = Harness::start(PROBE_TIMEOUT_SECS).await;
    let timed_out = format!("timed out after {PROBE_TIMEOUT_SECS} s");

    assert_failed(&h.probe(json!({"spin": true})).await, &timed_out);
    assert_failed(&h.probe(json!({"allocate_mib": 1024})).await, "memory");
    assert_failed(
        &h.probe(json!({"recurse": true})).await,
        "call stack exhausted",
    );
    assert_failed(&h.probe(json!({"trap": true})).await, "unreachable");
    // Memory spread over many memories is held to one budget.
    create(
        &h.server,
        THING,
        "memories",
        json!({"operation": "test-memories"}),
    );
    let e = wait_terminal(&h.server, THING, "memories").await;
    assert_failed(&e, "over its 128 MiB limit");
    create(
        &h.server,
        THING,
        "after-memories",
        json!({"operation": "echo"}),
    );
    assert_succeeded(&wait_terminal(&h.server, THING, "after-memories").await);
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
    capture_plugin_log();
    let h = Harness::start(COMPLETING_PROBE_TIMEOUT_SECS).await;

    // 20,000 log lines of 1 KB: the run completes, at most the rate gets
    // through (a burst of two seconds' worth, then the rate, for at most as
    // long as the job took), and every other line is counted as dropped.
    const LINES: u64 = 20_000;
    let line = "x".repeat(1000);
    let started = Instant::now();
    assert_succeeded(
        &h.probe_named("log-flood", json!({"log_lines": LINES}))
            .await,
    );
    let took = started.elapsed().as_secs_f64();
    let logged = plugin_log("log-flood");
    let passed = logged.iter().filter(|l| **l == line).count() as u64;
    let counts: Vec<u64> = logged
        .iter()
        .filter_map(|l| l.strip_suffix(" log lines dropped by the rate limit"))
        .map(|n| n.parse().unwrap())
        .collect();
    let rate = PROBE_LOG_LINES_PER_SEC as f64;
    let most = 2.0 * rate + rate * took;
    assert!(
        (passed as f64) <= most,
        "{passed} lines logged in {took:.1} s; the rate allows {most:.0}"
    );
    assert_eq!(counts.len(), 1, "one drop count per run: {counts:?}");
    assert_eq!(
        passed + counts[0],
        LINES,
        "every line is logged or counted as dropped ({passed} logged, {} counted)",
        counts[0]
    );

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

    // 5,000 progress calls: the agent sends at most one IN_PROGRESS update
    // a second (progress_interval_secs = 1), the first at once. Counted in
    // the store's change events (the claim is IN_PROGRESS too, without the
    // probe's `step`): updates at least a second apart within the time the
    // job took number at most floor(took) + 1.
    let mut changes = h.server.store.lock().unwrap().subscribe();
    let started = Instant::now();
    let e = h
        .probe_named("progress-flood", json!({"progress_updates": 5000}))
        .await;
    let took = started.elapsed();
    assert_succeeded(&e);
    let mut updates = Vec::new();
    loop {
        use tokio::sync::broadcast::error::TryRecvError;
        match changes.try_recv() {
            Ok(ExecutionChange::Updated(r))
                if r.execution.job_id == "progress-flood"
                    && r.execution.status == JobExecutionStatus::InProgress =>
            {
                updates.push(r.execution)
            }
            Ok(_) => {}
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Lagged(n)) => panic!(
                "{n} store changes missed: more than {} for two jobs, so progress was not \
                 rate-limited",
                jobhost_fleet::store::EVENT_CAPACITY
            ),
            Err(TryRecvError::Closed) => panic!("the store went away"),
        }
    }
    let reports = updates
        .iter()
        .filter(|u| detail(u, "step").is_some())
        .count();
    let most = took.as_secs() as usize + 1;
    assert!(reports >= 1, "no progress reached the service: {updates:?}");
    assert!(
        reports <= most,
        "{reports} progress updates in {took:?}; at most {most} at one a second"
    );
    h.server.stop().await;
}

/// Installs the test binary's subscriber, which fills
/// [`support::logs::plugin_log`] (once per process).
fn capture_plugin_log() {
    support::logs::install();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filesystem_sandbox_holds() {
    let h = Harness::start(COMPLETING_PROBE_TIMEOUT_SECS).await;
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
    let h = Harness::start(COMPLETING_PROBE_TIMEOUT_SECS).await;

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
    let h = Harness::start(PROBE_TIMEOUT_SECS).await;

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

/// A plugin waiting inside a host call (a one-hour WASI sleep, the open of
/// a FIFO nobody writes to) ends at its deadline with the plain "timed out"
/// reason, and a cancelled one stops at once, neither left to the
/// watchdog ("abandoned", 10 s later); the agent then runs the next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_blocked_in_a_host_call_is_stopped_by_its_deadline_and_by_a_cancel() {
    capture_plugin_log();
    let h = Harness::start(PROBE_TIMEOUT_SECS).await;
    let fifo = h.agent_dir().join("data/fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (job, document) in [
        ("blocked-sleep", json!({"sleep_ms": 3_600_000})),
        ("blocked-fifo", json!({"read": ["/data/fifo"]})),
    ] {
        let e = h.probe_named(job, document).await;
        assert_eq!(
            (e.status, reason(&e)),
            (
                JobExecutionStatus::Failed,
                format!("timed out after {PROBE_TIMEOUT_SECS} s").as_str()
            ),
            "{job}: {:?}",
            e.status_details
        );
        assert!(plugin_log(job).iter().all(|l| !l.contains("abandoned")));
    }
    // The dropped run's open of the FIFO still waits on a blocking-pool
    // thread (SECURITY.md); a writer lets it return, so that this test's
    // runtime can shut down.
    let _writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    h.server.stop().await;

    // The cancel: a deadline long enough that only the cancel can end
    // the run before the next job is due.
    let h = Harness::start(COMPLETING_PROBE_TIMEOUT_SECS).await;
    let job = "blocked-cancelled";
    create(
        &h.server,
        THING,
        job,
        json!({"operation": "test-probe", "sleep_ms": 3_600_000}),
    );
    wait_until(&h.server, THING, job, "IN_PROGRESS", |e| {
        e.status == JobExecutionStatus::InProgress
    })
    .await;
    let changes = h
        .server
        .store
        .lock()
        .unwrap()
        .cancel_job(job, true, None, Some("operator cancel"), clock()())
        .unwrap();
    h.server.changes.send(changes).unwrap();
    create(
        &h.server,
        THING,
        "after-cancel",
        json!({"operation": "echo"}),
    );
    let after = wait_terminal(&h.server, THING, "after-cancel").await;
    assert_eq!(after.status, JobExecutionStatus::Succeeded, "{after:?}");
    assert_eq!(
        execution(&h.server, THING, job).status,
        JobExecutionStatus::Canceled
    );
    let log = plugin_log(job);
    assert!(
        log.iter().all(|l| !l.contains("abandoned")),
        "stopped by the watchdog, not the cancel: {log:?}"
    );
    h.server.stop().await;
}
