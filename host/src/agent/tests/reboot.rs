//! A plugin's reboot across the restart (the reboot command faked).

use super::*;

/// The `reboot` plugin asks for a reboot: the reboot is journaled and
/// announced (IN_PROGRESS, step=rebooting, the boot id), and once accepted
/// the reboot command runs. FAKED at the edge: the command is a shell
/// script that writes a new boot id into the file the agent reads instead
/// of the kernel's, and does not reboot anything. A new actor on the same
/// state ("after the restart") runs the plugin again, which reports
/// SUCCEEDED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_is_journaled_announced_run_and_succeeds_after_the_restart() {
    let device = reboot_device("echo boot-2 > \"$1/boot_id\"");
    let mut agent = device.start();
    let document = json!({"operation": "reboot", "reason": "kernel update"});
    let offer = execution("job-r", "QUEUED", document.clone(), json!({}));
    agent.claimed(offer).await;

    let announce = agent.update_skipping_progress("job-r").await;
    assert_eq!(announce.status(), "IN_PROGRESS", "{announce:?}");
    assert_eq!(announce.detail("step"), Some("rebooting"));
    assert_eq!(announce.detail("bootId"), Some("boot-1"));
    assert_eq!(announce.detail("rebootReason"), Some("kernel update"));
    let journaled = device.journal().state().running.clone().unwrap();
    assert_eq!(journaled.reboot.unwrap().boot_id, "boot-1");
    assert_eq!(
        std::fs::read_to_string(device.path("boot_id")).unwrap(),
        "boot-1\n",
        "no reboot before the cloud knows"
    );

    agent.accept(&announce, json!({})).await;
    wait_for_file(&device.path("rebooted")).await;
    agent.stop().await;

    // "After the restart": the service offers the execution, IN_PROGRESS,
    // with the statusDetails of the announcement.
    let mut agent = device.start();
    let details = announce.body["statusDetails"].clone();
    let claim = agent
        .offered(execution("job-r", "IN_PROGRESS", document, details))
        .await;
    assert_eq!(claim.detail("step"), None, "the reboot keys are dropped");
    agent.accept(&claim, json!({})).await;
    let report = agent.update_skipping_progress("job-r").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(report.detail("result"), Some("rebooted"), "{report:?}");
    agent.stop().await;
}

/// The reboot command "succeeds" but the boot id stays: after the restart
/// the execution is FAILED without running the plugin again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_that_did_not_happen_is_reported_failed_after_the_restart() {
    let device = reboot_device("true");
    let mut agent = device.start();
    let document = json!({"operation": "reboot"});
    agent
        .claimed(execution("job-r", "QUEUED", document.clone(), json!({})))
        .await;
    let announce = agent.update_skipping_progress("job-r").await;
    agent.accept(&announce, json!({})).await;
    wait_for_file(&device.path("rebooted")).await;
    agent.stop().await;

    let mut agent = device.start();
    let details = announce.body["statusDetails"].clone();
    agent
        .claimed(execution("job-r", "IN_PROGRESS", document, details))
        .await;
    let report = agent.update("job-r").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    assert!(
        report
            .detail("reason")
            .is_some_and(|r| r.contains("did not reboot")),
        "{report:?}"
    );
    agent.stop().await;
}

/// The boot id file holds `boot-1`; the reboot command runs `body` (with
/// the device directory as `$1`) and leaves the marker `rebooted`.
fn reboot_device(body: &str) -> Device {
    let device = Device::new(
        r#"[plugins.reboot]
reboot = true
"#,
    );
    let dir = device.dir.path();
    std::fs::write(dir.join("boot_id"), "boot-1\n").unwrap();
    let script = dir.join("fake-reboot.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n{body}\ntouch \"$1/rebooted\"\n"),
    )
    .unwrap();
    let config = std::fs::read_to_string(dir.join("jobhost.toml")).unwrap();
    // `[device]` goes before the plugin tables.
    let device_table = format!(
        "[device]\nreboot_command = [\"/bin/sh\", \"{}\", \"{}\"]\nboot_id_file = \"boot_id\"\n",
        script.display(),
        dir.display()
    );
    let config = config.replacen("[limits]", &format!("{device_table}[limits]"), 1);
    std::fs::write(dir.join("jobhost.toml"), config).unwrap();
    device
}
