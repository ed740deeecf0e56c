//! The reboot operation across a reboot, end to end: the signed `reboot`
//! plugin asks for a reboot, the agent announces it (IN_PROGRESS with the
//! boot id), runs the configured reboot command, and after the restart
//! runs the plugin again, which then reports SUCCEEDED — only if the boot
//! id changed.
//!
//! FAKED, at the edge of the world: the reboot command is a shell script
//! that writes a new "boot id" into a file the agent is configured to read
//! (instead of /proc/sys/kernel/random/boot_id) and leaves a marker; the
//! test then stops the in-process agent and starts a new one on the same
//! state, as the machine coming back would. Everything else is real: the
//! service on the embedded broker, the agent, the plugin built from source.

use crate::support;

use jobhost_fleet::server::Server;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use support::agent::Agent;
use support::service::{
    create, detail, embedded, execution, start_server, wait_terminal, wait_until,
};

const THING: &str = "rebooter";

/// What the fake reboot command does.
enum FakeReboot {
    /// Changes the boot id, as a real reboot would.
    ChangesBootId,
    /// Returns success and changes nothing (a reboot that never happens).
    DoesNothing,
}

struct Device {
    dir: PathBuf,
    config: PathBuf,
}

impl Device {
    fn new(root: &Path, server: &Server, fake: FakeReboot, grant: bool, timeout_secs: u64) -> Self {
        let dir = root.join("agent");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("boot_id"), "boot-1\n").unwrap();
        let script = dir.join("fake-reboot.sh");
        let body = match fake {
            FakeReboot::ChangesBootId => "echo boot-2 > \"$1/boot_id\"\ntouch \"$1/rebooted\"\n",
            FakeReboot::DoesNothing => "touch \"$1/rebooted\"\n",
        };
        std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
        let (key, _) = support::plugins::operator_key(&dir, "operator.key");
        support::plugins::provision(&dir.join("plugins"), &key, &["reboot", "factory-reset"]);
        std::fs::create_dir_all(dir.join("data/cache")).unwrap();
        std::fs::write(dir.join("data/settings.json"), "{}").unwrap();
        std::fs::write(dir.join("data/cache/blob"), "x").unwrap();
        let config = support::agent::write_config(
            &dir,
            THING,
            server.mqtt_addr.port(),
            &format!(
                r#"[device]
reboot_command = ["/bin/sh", "{script}", "{dir}"]
boot_id_file = "boot_id"
reboot_timeout_secs = {timeout_secs}
[plugins.reboot]
reboot = {grant}
[plugins.factory-reset]
dirs = ["data:/data"]
reboot = {grant}
"#,
                script = script.display(),
                dir = dir.display(),
            ),
        );
        Self { dir, config }
    }

    fn start(&self) -> Agent {
        Agent::start(&self.config)
    }

    /// Waits for the fake reboot command to have run.
    async fn rebooted(&self) {
        support::agent::wait_for_file(&self.dir.join("rebooted")).await;
    }
}

fn rebooting(e: &JobExecution) -> bool {
    detail(e, "step") == Some("rebooting")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_job_succeeds_once_the_device_is_back() {
    let e = through_a_reboot(
        json!({"operation": "reboot", "reason": "kernel update"}),
        |e| {
            assert_eq!(detail(e, "rebootReason"), Some("kernel update"));
        },
    )
    .await;
    assert_eq!(detail(&e, "result"), Some("rebooted"));
}

/// aws-iot-device-sdk-js jobs-agent.js's document runs as jobhost's own,
/// and reports the fields that agent reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_agent_js_reboot_document_runs_unchanged() {
    let e = through_a_reboot(json!({"operation": "reboot", "delay": "0"}), |_| {}).await;
    assert_eq!(detail(&e, "operation"), Some("reboot"));
    assert_eq!(detail(&e, "step"), Some("rebooted"));
}

/// Runs `document` on a device whose reboot changes the boot id: checks
/// the announcement (and `announced` on it), restarts the agent as the
/// reboot would, and returns the SUCCEEDED execution.
async fn through_a_reboot(document: Value, announced: impl Fn(&JobExecution)) -> JobExecution {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let device = Device::new(root.path(), &server, FakeReboot::ChangesBootId, true, 300);
    let agent = device.start();
    create(&server, THING, "reboot-1", document);

    // Announced before the command ran: IN_PROGRESS with the boot id.
    device.rebooted().await;
    let e = execution(&server, THING, "reboot-1");
    assert_eq!(
        e.status,
        JobExecutionStatus::InProgress,
        "{:?}",
        e.status_details
    );
    assert!(rebooting(&e), "{:?}", e.status_details);
    assert_eq!(detail(&e, "bootId"), Some("boot-1"));
    assert_eq!(detail(&e, "checkpoint"), Some("rebooting"));
    announced(&e);

    // The machine goes down; it comes back with a new boot id.
    agent.stop().await;
    let agent = device.start();
    let e = wait_terminal(&server, THING, "reboot-1").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    agent.stop().await;
    server.stop().await;
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_factory_reset_wipes_the_data_directory_and_reboots() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let device = Device::new(root.path(), &server, FakeReboot::ChangesBootId, true, 300);
    let agent = device.start();
    create(
        &server,
        THING,
        "reset-1",
        json!({"operation": "factory-reset"}),
    );
    device.rebooted().await;
    let data = device.dir.join("data");
    assert!(data.is_dir(), "the directory itself stays");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "emptied");
    assert!(
        device.dir.join("boot_id").exists(),
        "nothing outside /data touched"
    );
    let e = execution(&server, THING, "reset-1");
    assert_eq!(detail(&e, "removed"), Some("2"));
    agent.stop().await;
    let agent = device.start();
    let e = wait_terminal(&server, THING, "reset-1").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "result"), Some("reset and rebooted"));
    agent.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_a_reboot_is_not_a_reboot() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let device = Device::new(root.path(), &server, FakeReboot::DoesNothing, true, 300);
    let agent = device.start();
    create(&server, THING, "reboot-2", json!({"operation": "reboot"}));
    device.rebooted().await;
    wait_until(
        &server,
        THING,
        "reboot-2",
        "the reboot announcement",
        rebooting,
    )
    .await;
    // Only the agent restarts: same boot id.
    agent.stop().await;
    let agent = device.start();
    let e = wait_terminal(&server, THING, "reboot-2").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Failed,
        "{:?}",
        e.status_details
    );
    let reason = detail(&e, "reason").unwrap_or_default();
    assert!(
        reason.contains("did not reboot") && reason.contains("boot-1"),
        "{reason}"
    );
    agent.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_never_goes_down_fails_the_job() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let device = Device::new(root.path(), &server, FakeReboot::DoesNothing, true, 1);
    let agent = device.start();
    create(&server, THING, "reboot-3", json!({"operation": "reboot"}));
    let e = wait_terminal(&server, THING, "reboot-3").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Failed,
        "{:?}",
        e.status_details
    );
    assert!(
        detail(&e, "reason")
            .unwrap_or_default()
            .contains("did not reboot within 1 s"),
        "{:?}",
        e.status_details
    );
    agent.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_grant_the_plugin_cannot_reboot() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let device = Device::new(root.path(), &server, FakeReboot::ChangesBootId, false, 300);
    let agent = device.start();
    create(&server, THING, "reboot-4", json!({"operation": "reboot"}));
    let e = wait_terminal(&server, THING, "reboot-4").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Rejected,
        "{:?}",
        e.status_details
    );
    assert!(
        detail(&e, "reason")
            .unwrap_or_default()
            .contains("not permitted"),
        "{:?}",
        e.status_details
    );
    assert!(
        !device.dir.join("rebooted").exists(),
        "the reboot command ran"
    );
    // A jobs-agent.js `delay` that is not minutes: refused before anything.
    create(
        &server,
        THING,
        "reboot-5",
        json!({"operation": "reboot", "delay": "soon"}),
    );
    let e = wait_terminal(&server, THING, "reboot-5").await;
    assert_eq!(e.status, JobExecutionStatus::Rejected);
    assert!(
        detail(&e, "reason")
            .unwrap_or_default()
            .contains("`delay` must be a whole number of minutes"),
        "{:?}",
        e.status_details
    );
    agent.stop().await;
    server.stop().await;
}
