//! First-party operations through the broker: the signed `run-command`
//! plugin (AWS-Run-Command) on the real agent and the real service. Its
//! manifest asks for "*", so what it may run is exactly the device's
//! `run_commands` list. (reboot and factory-reset: fleet/tests/all/reboot.rs.)

use crate::support;

use jobhost_fleet::server::Server;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::json;
use support::agent::Agent;
use support::service::{create, detail, embedded, start_server, wait_terminal};

const THING: &str = "operator-box";

fn start_agent(root: &std::path::Path, server: &Server) -> Agent {
    let dir = root.join("agent");
    std::fs::create_dir_all(&dir).unwrap();
    let (key, _) = support::plugins::operator_key(&dir, "operator.key");
    support::plugins::provision(&dir.join("plugins"), &key, &["run-command"]);
    let config = support::agent::write_config(
        &dir,
        THING,
        server.mqtt_addr.port(),
        "[plugins.run-command]\nrun_commands = [\"/bin/echo\", \"/bin/false\"]\n",
    );
    Agent::start(&config)
}

async fn run(server: &Server, job: &str, command: serde_json::Value) -> JobExecution {
    create(
        server,
        THING,
        job,
        json!({"operation": "run-command", "command": command}),
    );
    wait_terminal(server, THING, job).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_command_runs_only_what_the_device_allows() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let agent = start_agent(root.path(), &server);

    // AWS-Run-Command's comma-separated form; metacharacters stay text.
    let e = run(&server, "rc-echo", json!("/bin/echo,hello;world,$(id)")).await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "exitCode"), Some("0"));
    assert_eq!(detail(&e, "stdout"), Some("hello;world $(id)"));

    let e = run(&server, "rc-false", json!(["/bin/false"])).await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Failed,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "exitCode"), Some("1"));
    assert_eq!(detail(&e, "reason"), Some("/bin/false exited with code 1"));

    for (job, command) in [
        ("rc-sh", json!(["/bin/sh", "-c", "id"])),
        ("rc-id", json!("id")),
    ] {
        let e = run(&server, job, command).await;
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
    }
    agent.stop().await;
    server.stop().await;
}
