//! Job documents fleets already have, run unchanged: the AWS IoT Jobs
//! reference architecture's sample `download` document, sent as its text
//! through the HTTP API (as `aws iot create-job --document file://…`
//! sends it), runs in the signed download-file plugin; a jobs-agent.js
//! document the device cannot run is refused in that agent's terms.
//!
//! Real parts: the service on the embedded broker with its HTTP API and
//! artifact server, the agent in-process, the plugin built from this
//! repository and signed here.

use crate::support;

use jobhost_fleet::artifacts::placeholder;
use jobhost_fleet::server::Server;
use jobhost_protocol::JobExecutionStatus;
use reqwest::StatusCode;
use serde_json::json;
use std::path::{Path, PathBuf};
use support::agent::Agent;
use support::service::{assert_reason, detail, embedded, start_server, wait_terminal};

const THING: &str = "legacy-device";

/// The reference architecture's sample document, as its text: only the
/// URL inside the placeholder is this test's artifact server's.
fn sample(url: &str, directory: &str) -> String {
    format!(
        r#"{{ "operation": "download", "version": "1.0", "directory": "{directory}",
  "files": {{ "fileName": "sample_file", "url": "{}" }} }}"#,
        placeholder(url)
    )
}

/// An agent with download-file granted `<root>/installs` (its `/downloads`)
/// and downloads from the service's HTTP server.
fn start_agent(root: &Path, server: &Server) -> (Agent, PathBuf) {
    let dir = root.join("agent");
    let installs = root.join("installs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&installs).unwrap();
    let (key, _) = support::plugins::operator_key(&dir, "operator.key");
    support::plugins::provision(&dir.join("plugins"), &key, &["download-file"]);
    let config = support::agent::write_config(
        &dir,
        THING,
        server.mqtt_addr.port(),
        &format!(
            "[plugins.download-file]\ndirs = [\"{}:/downloads\"]\n\
             download_hosts = [\"127.0.0.1:{}\"]\nallow_http = true\n",
            installs.display(),
            server.http_addr.port()
        ),
    );
    (Agent::start(&config), installs)
}

/// CreateJob through the HTTP API with the document as text.
async fn create_job(server: &Server, job_id: &str, document: &str) {
    let response = crate::support::http()
        .put(format!("http://{}/jobs/{job_id}", server.http_addr))
        .json(&json!({"targets": [THING], "document": document}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{job_id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_architectures_download_document_runs_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let (agent, installs) = start_agent(root.path(), &server);
    let content: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let info = server.artifacts.put("sample_file", &content).unwrap();

    // The sample as written names `/installs`, which this device did not
    // grant (a test may not create `/installs` on the machine it runs on):
    // REJECTED, saying which grant would allow it, and nothing fetched.
    create_job(
        &server,
        "sample-as-written",
        &sample(&info.url, "/installs"),
    )
    .await;
    let e = wait_terminal(&server, THING, "sample-as-written").await;
    assert_reason(
        &e,
        JobExecutionStatus::Rejected,
        "\"/installs/sample_file\" is outside the directories granted to plugin `download-file`",
    );
    assert!(detail(&e, "reason")
        .unwrap()
        .contains("[plugins.download-file] dirs = [\"/installs:/downloads\"]"));
    assert!(!installs.join("sample_file").exists());

    // The same text with the directory this device granted: the file is
    // downloaded there under its `fileName`, through the presigned URL
    // the service made at delivery.
    let directory = installs.display().to_string();
    create_job(&server, "sample", &sample(&info.url, &directory)).await;
    let e = wait_terminal(&server, THING, "sample").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(
        std::fs::read(installs.join("sample_file")).unwrap(),
        content
    );
    // Without a checksum in the document, the report says what was written.
    assert_eq!(detail(&e, "sha256"), Some(info.sha256.as_str()));
    assert_eq!(detail(&e, "destination"), Some("/downloads/sample_file"));

    // Two files in one document: refused, not half done.
    let two = format!(
        r#"{{"operation": "download", "directory": "{directory}", "files": [
             {{"fileName": "a", "url": "{url}"}}, {{"fileName": "b", "url": "{url}"}}]}}"#,
        url = placeholder(&info.url)
    );
    create_job(&server, "two-files", &two).await;
    let e = wait_terminal(&server, THING, "two-files").await;
    assert_reason(&e, JobExecutionStatus::Rejected, "one download per job");
    assert!(!installs.join("a").exists());

    // A jobs-agent.js document this device cannot run (it has no packages
    // plugin) is refused with that agent's error fields beside the reason.
    create_job(
        &server,
        "js-start",
        r#"{"operation": "start", "packageName": "app"}"#,
    )
    .await;
    let e = wait_terminal(&server, THING, "js-start").await;
    assert_eq!(e.status, JobExecutionStatus::Rejected);
    let reason = detail(&e, "reason").unwrap();
    assert!(
        reason.starts_with("unknown operation `start-package` (jobs-agent.js `start`): no plugin"),
        "{reason}"
    );
    assert_eq!(detail(&e, "operation"), Some("start"));
    assert_eq!(detail(&e, "errorCode"), Some("ERR_UNEXPECTED"));
    assert!(
        detail(&e, "errorMessage").is_some_and(|m| reason.starts_with(m.trim_end_matches("...")))
    );
    drop(agent);
}

/// jobs-agent.js's `shutdown` through the broker: SUCCEEDED with that
/// agent's fields, then the device's shutdown command. STAND-IN at the
/// edge: the command is a shell script that creates a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_agent_js_shutdown_reports_then_shuts_the_device_down() {
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let dir = root.path().join("agent");
    std::fs::create_dir_all(&dir).unwrap();
    let script = root.path().join("fake-shutdown.sh");
    let marker = root.path().join("shut-down");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    )
    .unwrap();
    let (key, _) = support::plugins::operator_key(&dir, "operator.key");
    support::plugins::provision(&dir.join("plugins"), &key, &["echo"]);
    let config = support::agent::write_config(
        &dir,
        THING,
        server.mqtt_addr.port(),
        &format!(
            "[device]\nshutdown_command = [\"/bin/sh\", \"{}\"]\n",
            script.display()
        ),
    );
    let agent = Agent::start(&config);

    create_job(
        &server,
        "js-shutdown",
        r#"{"operation": "shutdown", "delay": 0}"#,
    )
    .await;
    let e = wait_terminal(&server, THING, "js-shutdown").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "operation"), Some("shutdown"));
    assert_eq!(detail(&e, "step"), Some("initiated"));
    support::agent::wait_for_file(&marker).await;
    drop(agent);
}
