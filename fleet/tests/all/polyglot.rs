//! Plugins in other languages, through the broker: `device-config`
//! (Python, componentize-py) and `health-check` (JavaScript,
//! componentize-js), built from source by `scripts/build-plugins`, signed
//! like every plugin, and run by the real agent against the real service.
//!
//! Their components are 12–19 MB, and the agent compiles each one when it
//! starts (later starts read the compiled cache in the state directory).
//! Test builds optimise Cranelift (root Cargo.toml), which brings that
//! first compile from minutes down to ~20 s; the first job of each agent
//! still waits with a longer guard ([`FIRST_JOB_WAIT`]) for a loaded
//! machine. Each test prints how long it took.

use crate::support;

use jobhost_fleet::server::Server;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::agent::Agent;
use support::service::{
    create, detail, embedded, start_server, wait_terminal, wait_terminal_within,
};

/// Failure guard for the first job of an agent: it includes compiling the
/// plugin, on a loaded 2-core machine.
const FIRST_JOB_WAIT: Duration = Duration::from_secs(900);

/// A device running one plugin, granted `grants` (its `[plugins.<name>]`
/// table), on a fresh service.
struct Device {
    server: Server,
    agent: Agent,
    thing: &'static str,
    first: bool,
}

impl Device {
    async fn start(root: &Path, thing: &'static str, plugin: &str, grants: &str) -> Device {
        let server = start_server(root, embedded()).await;
        let dir = root.join("agent");
        std::fs::create_dir_all(&dir).unwrap();
        let (key, _) = support::plugins::operator_key(&dir, "operator.key");
        support::plugins::provision(&dir.join("plugins"), &key, &[plugin]);
        let config = support::agent::write_config(
            &dir,
            thing,
            server.mqtt_addr.port(),
            &format!("[plugins.{plugin}]\n{grants}"),
        );
        let agent = Agent::start(&config);
        Device {
            server,
            agent,
            thing,
            first: true,
        }
    }

    /// Creates job `job` with `document` and waits for its terminal status.
    async fn run(&mut self, job: &str, document: Value) -> JobExecution {
        create(&self.server, self.thing, job, document);
        if std::mem::take(&mut self.first) {
            let started = Instant::now();
            let e = wait_terminal_within(&self.server, self.thing, job, FIRST_JOB_WAIT).await;
            eprintln!(
                "{}: first job (agent start, plugin compile, run) took {:.1} s",
                self.thing,
                started.elapsed().as_secs_f64()
            );
            e
        } else {
            wait_terminal(&self.server, self.thing, job).await
        }
    }

    async fn stop(self) {
        self.agent.stop().await;
        self.server.stop().await;
    }
}

fn assert_status(e: &JobExecution, status: JobExecutionStatus) {
    assert_eq!(e.status, status, "{:?}", e.status_details);
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_device_config_validates_merges_and_is_idempotent() {
    let root = tempfile::tempdir().unwrap();
    let config_dir = root.path().join("etc-myapp");
    std::fs::create_dir_all(&config_dir).unwrap();
    let file = config_dir.join("agent.json");
    // What the device has before the job: one setting the job changes, one
    // it does not mention, and a key the plugin knows nothing about.
    std::fs::write(
        &file,
        json!({
            "device": {"name": "pump-7"},
            "telemetry": {"interval_secs": 10},
            "vendor": {"serial": "X-1"},
        })
        .to_string(),
    )
    .unwrap();
    let grants = format!("dirs = [\"{}:/config\"]\n", config_dir.display());
    let mut device = Device::start(root.path(), "py-box", "device-config", &grants).await;

    let settings = json!({"telemetry.interval_secs": 30, "log.level": "info"});
    let document =
        json!({"operation": "set-config", "file": "agent.json", "settings": settings.clone()});
    let e = device.run("set-1", document.clone()).await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "file"), Some("agent.json"));
    assert_eq!(
        detail(&e, "changed"),
        Some(r#"["log.level","telemetry.interval_secs"]"#),
        "sorted"
    );
    assert_eq!(detail(&e, "telemetry:interval_secs"), Some("10 → 30"));
    assert_eq!(detail(&e, "log:level"), Some(r#"unset → "info""#));
    assert_eq!(
        read_json(&file),
        json!({
            "device": {"name": "pump-7"},
            "telemetry": {"interval_secs": 30},
            "vendor": {"serial": "X-1"},
            "log": {"level": "info"},
        }),
        "merged into the existing file, nothing else touched"
    );
    let listing: Vec<_> = std::fs::read_dir(&config_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(listing, ["agent.json"], "no temporary file left behind");

    // The same settings again: nothing to change, the file is not rewritten.
    let before = std::fs::read(&file).unwrap();
    let e = device.run("set-2", document).await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "changed"), Some("[]"));
    assert_eq!(detail(&e, "telemetry:interval_secs"), None);
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // An unknown key and an out-of-range value: REJECTED, both named, the
    // valid setting beside them not applied either.
    let e = device
        .run(
            "set-bad",
            json!({"operation": "set-config", "file": "agent.json", "settings": {
                "telemetry.intervall_secs": 15,
                "log.level": "warn",
                "network.mtu": 100,
            }}),
        )
        .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    let reason = detail(&e, "reason").unwrap();
    assert!(
        reason.starts_with("invalid document (2 problems)"),
        "{reason}"
    );
    assert!(
        reason.contains(r#"unknown setting "telemetry.intervall_secs" (did you mean "telemetry.interval_secs"?)"#),
        "{reason}"
    );
    assert!(
        reason.contains("network.mtu: 100 is out of range 576..9000"),
        "{reason}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before, "file unchanged");

    // A file name that would leave the granted directory is refused too.
    let e = device
        .run(
            "set-escape",
            json!({"operation": "set-config", "file": "../passwd.json", "settings": {"log.level": "warn"}}),
        )
        .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert!(
        detail(&e, "reason")
            .unwrap()
            .contains("file name directly in /config"),
        "{:?}",
        e.status_details
    );
    device.stop().await;
}

/// A stand-in for the application's own check program: succeeds with
/// `--quick`, fails otherwise.
fn write_check_program(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("myapp-check");
    std::fs::write(
        &path,
        "#!/bin/sh\n[ \"$1\" = --quick ] && { echo healthy; exit 0; }\necho \"unknown mode $1\" >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_health_check_reports_each_check() {
    let root = tempfile::tempdir().unwrap();
    let status = root.path().join("run-myapp");
    std::fs::create_dir_all(&status).unwrap();
    std::fs::write(status.join("ready"), "").unwrap();
    std::fs::write(status.join("version"), "myapp 1.2.7\n").unwrap();
    let program = write_check_program(root.path());
    let program = program.to_str().unwrap();
    let grants = format!(
        "dirs = [\"{}:/status:ro\"]\nrun_commands = [\"{program}\"]\n",
        status.display()
    );
    let mut device = Device::start(root.path(), "js-box", "health-check", &grants).await;
    let job = |checks: Value| json!({"operation": "health-check", "checks": checks});

    let e = device
        .run(
            "hc-ok",
            job(json!([
                {"type": "file-exists", "path": "/status/ready"},
                {"type": "file-contains", "path": "/status/version", "text": "1.2"},
                {"type": "command", "program": program, "args": ["--quick"]},
            ])),
        )
        .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    for key in ["check:0", "check:1", "check:2"] {
        assert_eq!(detail(&e, key), Some("ok"), "{key}: {:?}", e.status_details);
    }
    assert_eq!(detail(&e, "passed"), Some("3/3"));

    // The application is not ready: FAILED (a retry may find it healthy),
    // naming the check that failed; the others still ran.
    std::fs::remove_file(status.join("ready")).unwrap();
    let e = device
        .run(
            "hc-not-ready",
            job(json!([
                {"type": "file-contains", "path": "/status/version", "text": "1.2"},
                {"type": "file-exists", "path": "/status/ready"},
                {"type": "command", "program": program, "args": ["--full"]},
            ])),
        )
        .await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_eq!(detail(&e, "check:0"), Some("ok"));
    assert_eq!(
        detail(&e, "check:1"),
        Some("failed: /status/ready does not exist")
    );
    assert_eq!(
        detail(&e, "check:2"),
        Some(&*format!(
            "failed: {program} exited with code 3: unknown mode --full"
        ))
    );
    assert_eq!(detail(&e, "passed"), Some("1/3"));
    let reason = detail(&e, "reason").unwrap();
    assert!(
        reason.starts_with("2 of 3 checks failed: check 1 (file-exists /status/ready): /status/ready does not exist"),
        "{reason}"
    );

    // A program the operator did not allow-list: that check fails with the
    // host's not-permitted refusal, the file check beside it passes.
    let e = device
        .run(
            "hc-not-allowed",
            job(json!([
                {"type": "command", "program": "/usr/bin/id"},
                {"type": "file-contains", "path": "/status/version", "text": "myapp"},
            ])),
        )
        .await;
    assert_status(&e, JobExecutionStatus::Failed);
    let check = detail(&e, "check:0").unwrap();
    assert!(
        check.starts_with("failed: /usr/bin/id: not permitted: ") && check.contains("allow-list"),
        "{check}"
    );
    assert_eq!(detail(&e, "check:1"), Some("ok"));
    assert_eq!(detail(&e, "passed"), Some("1/2"));

    // Files outside the granted directory do not exist for the plugin.
    let e = device
        .run(
            "hc-outside",
            job(json!([{"type": "file-exists", "path": "/etc/passwd"}])),
        )
        .await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_eq!(
        detail(&e, "check:0"),
        Some("failed: /etc/passwd is not inside a granted directory (granted: /status)")
    );

    // A malformed document: REJECTED with every problem, nothing run.
    let e = device
        .run(
            "hc-malformed",
            job(json!([
                {"type": "file-exist", "path": "/status/ready"},
                {"type": "file-contains", "path": "status/version"},
            ])),
        )
        .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    let reason = detail(&e, "reason").unwrap();
    for problem in [
        "invalid document (3 problems)",
        r#"checks[0]: type must be one of file-exists, file-contains, command, not "file-exist""#,
        "checks[1]: text is missing",
        r#"checks[1]: path must be an absolute path, not "status/version""#,
    ] {
        assert!(reason.contains(problem), "{problem:?} not in {reason}");
    }
    device.stop().await;
}
