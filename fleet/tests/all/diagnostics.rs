//! Remote troubleshooting end to end: the signed `diagnostics` plugin on
//! the real agent, the real service and its embedded broker. A job with a
//! `${jobhost:upload-url:…}` placeholder gets a presigned PUT URL for its
//! thing and job; the plugin reports the agent's vital signs and uploads a
//! tar.gz bundle there, which the test fetches back through the management
//! API and unpacks with the system's `tar`.
//!
//! The agent runs in-process, so the test installs the agent's log ring
//! (`jobhost::diagnostics::log_layer`) as the `jobhost` binary does, for
//! the agents' and plugins' lines ([`support::logs::install`]).

use crate::support;

use jobhost::trust::{Access, DirRequest};
use jobhost_fleet::server::Server;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use support::agent::Agent;
use support::service::{create, detail, embedded, start_server, wait_terminal};

/// Logs into the agent's ring, as `jobhost agent` does (once per process):
/// the test binary's subscriber, [`support::logs::install`].
fn install_log_ring() {
    support::logs::install();
}

struct Device {
    dir: PathBuf,
    agent: Agent,
}

/// An agent for `thing` with the diagnostics plugin, its manifest also
/// asking for `/logs` (read-only) so that `include` can bundle it — the
/// documented way to bundle more directories. `upload` says whether the
/// config grants uploads to the service.
fn device(root: &Path, server: &Server, thing: &str, upload: bool) -> Device {
    let dir = root.join(thing);
    for sub in ["plugins", "diag", "logs"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("logs/app.log"), "app started\napp ready\n").unwrap();
    let (key, _) = support::plugins::operator_key(&dir, "operator.key");
    let signed = support::plugins::signed("diagnostics", &key, |m| {
        m.capabilities.dirs.push(DirRequest {
            path: "/logs".into(),
            access: Access::Ro,
        });
    });
    std::fs::write(dir.join("plugins/diagnostics.wasm"), signed).unwrap();
    let upload_grant = if upload {
        format!(
            "upload_hosts = [\"{}\"]\nupload_allow_http = true\n",
            server.http_addr
        )
    } else {
        String::new()
    };
    let config = support::agent::write_config(
        &dir,
        thing,
        server.mqtt_addr.port(),
        &format!(
            "[plugins.diagnostics]\ndiagnostics = true\n\
             dirs = [\"diag:/diagnostics\", \"logs:/logs:ro\"]\n{upload_grant}"
        ),
    );
    Device {
        agent: Agent::start(&config),
        dir,
    }
}

async fn run(server: &Server, thing: &str, job: &str) -> JobExecution {
    create(
        server,
        thing,
        job,
        json!({
            "operation": "diagnostics",
            "uploadUrl": "${jobhost:upload-url:bundle.tar.gz}",
            "logLines": 200,
            "include": ["/logs"]
        }),
    );
    wait_terminal(server, thing, job).await
}

fn number(e: &JobExecution, key: &str) -> u64 {
    detail(e, key)
        .unwrap_or_else(|| panic!("{key} missing: {:?}", e.status_details))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number: {:?}", e.status_details))
}

/// The management API's answer to `GET path`.
async fn api_get(server: &Server, path: &str) -> reqwest::Response {
    crate::support::http()
        .get(format!("http://{}{path}", server.http_addr))
        .send()
        .await
        .unwrap()
}

/// `jobhost-fleet --api <server> ARGS…`; its stdout, after asserting
/// that it succeeded.
fn fleet_cli(server: &Server, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jobhost-fleet"))
        .arg("--api")
        .arg(format!("http://{}", server.http_addr))
        .args(args)
        .env_remove("JOBHOST_FLEET_TOKEN")
        .output()
        .expect("run jobhost-fleet");
    assert!(
        out.status.success(),
        "jobhost-fleet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diagnostics_job_reports_vital_signs_and_uploads_its_bundle() {
    install_log_ring();
    const THING: &str = "field-unit-7";
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let device = device(root.path(), &server, THING, true);

    let e = run(&server, THING, "diag-1").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{:?}",
        e.status_details
    );
    assert_eq!(
        detail(&e, "agentVersion"),
        Some(jobhost::version::agent_version())
    );
    assert_eq!(detail(&e, "thingName"), Some(THING));
    assert_eq!(detail(&e, "brokerConnected"), Some("true"));
    let endpoint = format!("127.0.0.1:{}", server.mqtt_addr.port());
    assert_eq!(detail(&e, "brokerEndpoint"), Some(endpoint.as_str()));
    assert_eq!(detail(&e, "pluginCount"), Some("1"));
    assert_eq!(detail(&e, "plugins"), Some("diagnostics@0.1.0"));
    assert!(number(&e, "agentUptimeSecs") < 3600);
    assert!(number(&e, "systemUptimeSecs") > 0);
    assert!(number(&e, "memAvailableMiB") <= number(&e, "memTotalMiB"));
    assert!(number(&e, "memTotalMiB") > 0);
    assert!(number(&e, "diskFreeMiB") <= number(&e, "diskTotalMiB"));
    assert_eq!(detail(&e, "uploaded"), Some("true"));

    // The bundle, as the operator fetches it.
    let listed: Value = api_get(&server, &format!("/uploads?thingName={THING}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["uploads"][0]["jobId"], "diag-1", "{listed}");
    assert_eq!(listed["uploads"][0]["name"], "bundle.tar.gz", "{listed}");
    let response = api_get(&server, &format!("/uploads/{THING}/diag-1/bundle.tar.gz")).await;
    assert_eq!(response.status(), 200);
    let bundle = response.bytes().await.unwrap();
    assert_eq!(number(&e, "bundleBytes"), bundle.len() as u64);
    assert_eq!(
        detail(&e, "bundleSha256"),
        Some(hex::encode(Sha256::digest(&bundle)).as_str())
    );

    // The operator CLI sees and saves the same bundle.
    let saved = root.path().join("bundle.tar.gz");
    let list = fleet_cli(&server, &["upload", "list", "--thing", THING]);
    assert!(
        list.contains(&format!("{THING}  diag-1  bundle.tar.gz  {}", bundle.len())),
        "{list}"
    );
    let got = fleet_cli(
        &server,
        &[
            "upload",
            "get",
            THING,
            "diag-1",
            "bundle.tar.gz",
            "-o",
            saved.to_str().unwrap(),
        ],
    );
    assert!(got.contains(&hex::encode(Sha256::digest(&bundle))), "{got}");
    assert_eq!(std::fs::read(&saved).unwrap(), bundle);

    let unpacked = root.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&saved)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .expect("the system's tar");
    assert!(
        tar.status.success(),
        "{}",
        String::from_utf8_lossy(&tar.stderr)
    );
    let snapshot: Value =
        serde_json::from_slice(&std::fs::read(unpacked.join("snapshot.json")).unwrap()).unwrap();
    assert_eq!(snapshot["thingName"], THING);
    assert_eq!(snapshot["brokerConnected"], true);
    assert_eq!(snapshot["plugins"][0]["name"], "diagnostics");
    let plugins: Value =
        serde_json::from_slice(&std::fs::read(unpacked.join("plugins.json")).unwrap()).unwrap();
    assert_eq!(plugins[0]["operations"], json!(["diagnostics"]));
    let log = std::fs::read_to_string(unpacked.join("agent.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("agent: running") && l.contains("job_id=diag-1")),
        "the agent's line about starting this job is in agent.log:\n{log}"
    );
    assert_eq!(
        std::fs::read_to_string(unpacked.join("include/logs/app.log")).unwrap(),
        "app started\napp ready\n"
    );
    assert!(
        std::fs::read_dir(device.dir.join("diag"))
            .unwrap()
            .next()
            .is_none(),
        "the scratch bundle is removed"
    );
    device.agent.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_upload_grant_the_job_is_rejected_with_the_summary() {
    install_log_ring();
    const THING: &str = "field-unit-8";
    let root = tempfile::tempdir().unwrap();
    let server = start_server(root.path(), embedded()).await;
    let device = device(root.path(), &server, THING, false);

    let e = run(&server, THING, "diag-2").await;
    // Not permitted is the device's configuration: the same job fails the
    // same way until the operator grants upload_hosts, so REJECTED.
    assert_eq!(
        e.status,
        JobExecutionStatus::Rejected,
        "{:?}",
        e.status_details
    );
    let reason = detail(&e, "reason").unwrap_or_default();
    assert!(
        reason.contains("bundle upload: not permitted") && reason.contains("`upload` capability"),
        "{reason}"
    );
    assert_eq!(detail(&e, "uploaded"), Some("false"));
    assert_eq!(
        detail(&e, "agentVersion"),
        Some(jobhost::version::agent_version())
    );

    let listed: Value = api_get(&server, "/uploads").await.json().await.unwrap();
    assert_eq!(listed["uploads"], json!([]), "nothing was uploaded");
    assert!(
        std::fs::read_dir(device.dir.join("diag"))
            .unwrap()
            .next()
            .is_none(),
        "the scratch bundle is removed"
    );
    device.agent.stop().await;
    server.stop().await;
}
