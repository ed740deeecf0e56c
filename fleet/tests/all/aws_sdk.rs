//! AWS's own device SDK against jobhost-fleet, unchanged: the promise that
//! devices written for AWS IoT Jobs work with this service.
//!
//! `aws_sdk/jobs_device.py` is a device written only with the AWS IoT Device
//! SDK for Python v2 (`awsiotsdk` on `awscrt`), installed by
//! `scripts/setup-aws-sdk` into `target/py-aws-sdk`. It runs a job with the
//! SDK's `IotJobsClient` over MQTT 3.1.1 (the flow of the SDK's jobs
//! sample), then is woken by `notify-next` for a second job that it runs
//! with `IotJobsClientV2` over MQTT 5 (the SDK's current sample), printing
//! one JSON line per step. This test starts the service, queues the jobs,
//! reads those lines and checks the outcome in the store.
//!
//! The interpreter is `$JOBHOST_AWS_SDK_PYTHON`, or
//! `<workspace>/target/py-aws-sdk/bin/python`. Without it the test fails:
//! a compatibility claim is not to be skipped silently.

use jobhost_fleet::clock::Clock;
use jobhost_fleet::server::{Server, ServerConfig};
use jobhost_fleet::store::{Changes, CreateJob};
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::time::Instant;

const THING: &str = "sdk-device";
/// Queued before the device connects; run with `IotJobsClient`.
const FIRST: &str = "sdk-job-1";
/// Queued while the device waits on `notify-next`; run with `IotJobsClientV2`.
const SECOND: &str = "sdk-job-2";
const SDK: &str = "aws-iot-device-sdk-python-v2";
/// The script gives up on each step after 10 s; this only guards against a
/// hung interpreter.
const RUN: Duration = Duration::from_secs(180);

fn clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    })
}

fn python() -> PathBuf {
    let path = std::env::var_os("JOBHOST_AWS_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/py-aws-sdk/bin/python")
        });
    assert!(
        path.exists(),
        "{} does not exist: run scripts/setup-aws-sdk to install AWS's IoT Device SDK \
         for Python v2 into target/py-aws-sdk (or set JOBHOST_AWS_SDK_PYTHON to a Python \
         that has awsiotsdk)",
        path.display()
    );
    path
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/all/aws_sdk/jobs_device.py")
}

fn create(server: &Server, job_id: &str, document: Value) {
    server
        .store
        .lock()
        .unwrap()
        .create_job(
            &CreateJob {
                job_id: job_id.into(),
                targets: vec![THING.into()],
                document,
                description: None,
                in_progress_timeout_minutes: None,
                ..CreateJob::default()
            },
            clock()(),
        )
        .unwrap();
    server.changes.send(Changes::thing(THING)).unwrap();
}

fn execution(server: &Server, job_id: &str) -> JobExecution {
    server
        .store
        .lock()
        .unwrap()
        .describe_execution(job_id, THING, None)
        .unwrap()
        .execution
}

fn detail<'a>(e: &'a JobExecution, key: &str) -> Option<&'a str> {
    e.status_details.as_ref().and_then(|d| d.get(key))
}

/// The script's step lines, by step name.
struct Steps(Vec<Value>);

impl Steps {
    fn get(&self, step: &str) -> &Value {
        self.0
            .iter()
            .find(|l| l["step"] == step)
            .unwrap_or_else(|| panic!("the device printed no `{step}` step: {:#?}", self.0))
    }

    fn names(&self) -> Vec<&str> {
        self.0.iter().filter_map(|l| l["step"].as_str()).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_iot_device_sdk_for_python_runs_jobs_unchanged() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServerConfig {
        data_dir: dir.path().join("fleet"),
        url_ttl: Duration::from_secs(600),
        clock: clock(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    create(&server, FIRST, json!({"operation": "echo"}));

    let mut child = Command::new(&python)
        .arg(script())
        .args(["--host", &server.mqtt_addr.ip().to_string()])
        .args(["--port", &server.mqtt_addr.port().to_string()])
        .args(["--thing", THING, "--job", FIRST, "--next-job", SECOND])
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let mut stderr = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();

    let deadline = Instant::now() + RUN;
    let mut lines = Vec::new();
    let mut failure = None;
    loop {
        let line = match tokio::time::timeout_at(deadline, stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("reading the device's stdout: {e}"),
            Err(_) => {
                failure = Some(format!("the device printed nothing more for {RUN:?}"));
                break;
            }
        };
        eprintln!("device: {line}");
        let Ok(step) = serde_json::from_str::<Value>(&line) else {
            failure = Some(format!("not a JSON step line: {line}"));
            break;
        };
        if step["ok"] != true {
            failure = Some(format!("step failed: {line}"));
        }
        if step["step"] == "v2-waiting-for-job" {
            create(
                &server,
                SECOND,
                json!({"operation": "echo", "message": "woken by notify-next"}),
            );
        }
        lines.push(step);
    }
    if failure.is_some() {
        let _ = child.start_kill();
    }
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .map(|s| s.unwrap());
    let stderr = tokio::time::timeout(Duration::from_secs(5), stderr)
        .await
        .map(|t| t.unwrap())
        .unwrap_or_default();
    if let Some(failure) = failure {
        panic!("{failure}\nsteps: {lines:#?}\nstderr:\n{stderr}");
    }
    match status {
        Ok(s) if s.success() => {}
        other => panic!("the device exited with {other:?}\nsteps: {lines:#?}\nstderr:\n{stderr}"),
    }

    let steps = Steps(lines);
    assert_eq!(
        steps.names(),
        [
            "sdk",
            "connect",
            "get-pending",
            "subscribe-events",
            "describe-next",
            "start-next",
            "update-in-progress",
            "version-mismatch",
            "update-succeeded",
            "notify-next",
            "notify",
            "describe-next-empty",
            "disconnect",
            "v2-connect",
            "v2-stream-open",
            "v2-waiting-for-job",
            "v2-notify-next",
            "v2-describe-next",
            "v2-start-next",
            "v2-version-mismatch",
            "v2-update-succeeded",
            "v2-get-pending",
            "v2-disconnect",
            "done",
        ],
        "{:#?}",
        steps.0
    );
    eprintln!(
        "SDK under test: awsiotsdk {} on awscrt {}",
        steps.get("sdk")["awsiotsdk"],
        steps.get("sdk")["awscrt"]
    );
    assert_eq!(steps.get("get-pending")["queued"], json!([FIRST]));
    assert_eq!(
        steps.get("describe-next")["job_document"],
        json!({"operation": "echo"})
    );
    assert_eq!(steps.get("start-next")["status"], "IN_PROGRESS");
    // The SDK's RejectedError model parsed the rejection, with the state.
    let mismatch = steps.get("version-mismatch");
    assert_eq!(mismatch["code"], "VersionMismatch");
    assert_eq!(mismatch["execution_state"]["version_number"], 3);
    // notify-next arrived (empty queue), parsed by the SDK's event model.
    assert_eq!(steps.get("notify-next")["execution"], Value::Null);
    // V2: woken by notify-next for the job created while it waited.
    assert_eq!(steps.get("v2-notify-next")["job_id"], SECOND);
    assert_eq!(steps.get("v2-describe-next")["job_id"], SECOND);
    assert_eq!(steps.get("v2-version-mismatch")["code"], "VersionMismatch");

    let first = execution(&server, FIRST);
    assert_eq!(first.status, JobExecutionStatus::Succeeded, "{first:?}");
    assert_eq!(detail(&first, "sdk"), Some(SDK), "{first:?}");
    // QUEUED v1 → start-next v2 → progress v3 → SUCCEEDED v4; the stale
    // update changed nothing.
    assert_eq!(first.version_number, 4, "{first:?}");
    let second = execution(&server, SECOND);
    assert_eq!(second.status, JobExecutionStatus::Succeeded, "{second:?}");
    assert_eq!(detail(&second, "sdk"), Some(SDK), "{second:?}");
    assert_eq!(detail(&second, "client"), Some("IotJobsClientV2"));
    server.stop().await;
}
