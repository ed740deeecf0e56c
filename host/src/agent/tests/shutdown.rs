//! The built-in `shutdown` (jobs-agent.js's): SUCCEEDED first, the
//! device's shutdown command only once the service accepted it. FAKED at
//! the edge: the command is a shell script that creates a file instead of
//! powering anything off.

use super::*;

/// A device whose `[device] shutdown_command` is the stand-in script.
fn shutdown_device() -> Device {
    let device = Device::new("");
    let dir = device.dir.path();
    let script = dir.join("fake-shutdown.sh");
    std::fs::write(&script, "#!/bin/sh\ntouch \"$1/shut-down\"\n").unwrap();
    let mut config = std::fs::read_to_string(dir.join("jobhost.toml")).unwrap();
    config.push_str(&format!(
        "[device]\nshutdown_command = [\"/bin/sh\", \"{}\", \"{}\"]\n",
        script.display(),
        dir.display()
    ));
    std::fs::write(dir.join("jobhost.toml"), config).unwrap();
    device
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_is_reported_succeeded_and_runs_once_accepted() {
    let device = shutdown_device();
    let mut agent = device.start();
    let document = json!({"operation": "shutdown", "delay": "0"});
    agent
        .claimed(execution("job-s", "QUEUED", document, json!({})))
        .await;
    let report = agent.update("job-s").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(report.detail("operation"), Some("shutdown"));
    assert_eq!(report.detail("step"), Some("initiated"));
    // Journaled, and nothing run before the service has the status.
    let pending = device.journal().state().pending_report.clone().unwrap();
    assert!(pending.then_shutdown);
    assert!(
        !device.path("shut-down").exists(),
        "shut down before the report was accepted"
    );

    agent.accept(&report, json!({})).await;
    wait_for_file(&device.path("shut-down")).await;
    // Cleared first: a device that comes back does not shut down again.
    assert!(device.journal().state().pending_report.is_none());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_shutdown_status_powers_nothing_off() {
    let device = shutdown_device();
    let mut agent = device.start();
    let document = json!({"operation": "shutdown"});
    agent
        .claimed(execution("job-s", "QUEUED", document, json!({})))
        .await;
    let report = agent.update("job-s").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    // Cancelled meanwhile: the service refuses the status for good.
    agent.reject(&report, "TerminalStateReached", None).await;
    // A whole job later, the command has still not run (had it been
    // started with the refusal, it would have long finished).
    let get = agent.published().await;
    assert_eq!(get.topic, NEXT_GET, "{get:?}");
    let offer = execution("job-2", "QUEUED", probe(json!({})), json!({}));
    agent.accept(&get, json!({ "execution": offer })).await;
    let claim = agent.update("job-2").await;
    agent.accept(&claim, json!({})).await;
    let done = agent.update_skipping_progress("job-2").await;
    assert_eq!(done.status(), "SUCCEEDED", "{done:?}");
    assert!(
        !device.path("shut-down").exists(),
        "shut down after a refused status"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_shutdown_command_a_shutdown_is_rejected() {
    let device = Device::new("");
    let mut agent = device.start();
    agent
        .claimed(execution(
            "job-s",
            "QUEUED",
            json!({"operation": "shutdown"}),
            json!({}),
        ))
        .await;
    let report = agent.update("job-s").await;
    assert_eq!(report.status(), "REJECTED", "{report:?}");
    assert!(
        report
            .detail("reason")
            .is_some_and(|r| r.contains("no [device] shutdown_command")),
        "{report:?}"
    );
    agent.stop().await;
}
