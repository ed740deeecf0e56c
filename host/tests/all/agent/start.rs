//! The agent as a newcomer starts it: `jobhost init`, name the thing and the
//! broker, `jobhost agent`.

use std::process::{Command, Stdio};

use serde_json::json;

use super::scripted::ScriptedService;

/// Kills the agent if the test ends early.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_jobhost_init_writes_runs_once_the_thing_and_broker_are_named() {
    let mut service = ScriptedService::start("t-init").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jobhost.toml");
    let init = || {
        crate::support::jobhost_command()
            .args(["init", "--output"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = init();
    assert!(out.status.success(), "{out:?}");
    // It may come to hold a broker password: the owner's only, also when
    // --force replaces a file others could read.
    use std::os::unix::fs::PermissionsExt;
    let mode = || std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(), 0o600, "{:o}", mode());
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let forced = crate::support::jobhost_command()
        .args(["init", "--force", "--output"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(forced.status.success(), "{forced:?}");
    assert_eq!(mode(), 0o600, "{:o} after --force", mode());
    // Never over an edited file without --force.
    let again = init();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("exists; use --force"),
        "{again:?}"
    );

    let text = std::fs::read_to_string(&config).unwrap();
    let named = text
        .replacen("thing_name = \"my-device\"", "thing_name = \"t-init\"", 1)
        .replacen(
            "port = 1883",
            &format!("port = {}", service.addr().port()),
            1,
        );
    assert_ne!(named, text, "the example names a thing and a broker port");
    std::fs::write(&config, named).unwrap();
    let agent = crate::support::jobhost_command()
        .arg("agent")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = Running(agent);
    // It connects, subscribes and asks for work.
    let get = service.expect_next_get().await;
    service.accept(&get, json!({})).await;
    let pid = agent.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + super::scripted::WAIT;
    let status = loop {
        if let Some(status) = agent.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(status.success(), "{status}");
}
