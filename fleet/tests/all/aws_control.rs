//! AWS's own control-plane SDK against jobhost-fleet: boto3's `iot` client,
//! pointed at the HTTP API with `endpoint_url` and signing with SigV4, as an
//! operator's AWS scripts would, unchanged. No AWS CLI is needed.
//!
//! The cases are Python, one file per area beside this one
//! (`aws_control/jobs.py`, `auth.py`, `events.py`, `groups.py`, `templates.py`,
//! `unimplemented.py`), each case a
//! function marked `@case` (`aws_control/harness.py`); `aws_control/run.py
//! AREA CASE...` runs the named ones and prints a JSON line per case. The
//! Rust side ([`AwsControl`]) starts the real service (store, broker, HTTP
//! API) with a bearer token AND an AWS access key, runs cases by name, and
//! checks their outcome and, where it matters, the store. A case that
//! needs a precondition only the service side can make (its clock moved)
//! is run by a test that makes it first.
//!
//! To add an area: `aws_control/<area>.py` with `@case` functions, and
//! `aws_control/<area>.rs` (a `mod` below) whose tests call
//! `AwsControl::start().await.run("<area>", &["case", ...])`.
//!
//! The interpreter is `$JOBHOST_AWS_SDK_PYTHON`, or
//! `<workspace>/target/py-aws-sdk/bin/python` with boto3 installed by
//! `scripts/setup-aws-sdk`. Without it the tests fail: a compatibility
//! claim is not to be skipped silently.

mod auth;
mod events;
mod groups;
mod jobs;
mod rollouts;
mod serve;
mod templates;
mod unimplemented;

use crate::support;
use jobhost_fleet::api::AwsCredentials;
use jobhost_fleet::clock::Clock;
use jobhost_fleet::server::{Server, ServerConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

/// The credentials the service under test takes.
pub const TOKEN: &str = "aws-control-bearer-token";
pub const KEY_ID: &str = "AKIDJOBHOSTFLEET";
pub const SECRET: &str = "aws-control/secret+key";

/// Guards against a hung interpreter; never a synchronisation point.
const RUN: Duration = Duration::from_secs(120);

/// The workspace's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python with boto3.
pub fn python() -> PathBuf {
    let path = std::env::var_os("JOBHOST_AWS_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/py-aws-sdk/bin/python"));
    assert!(
        path.exists(),
        "{} does not exist: run scripts/setup-aws-sdk to install boto3 into target/py-aws-sdk \
         (or set JOBHOST_AWS_SDK_PYTHON to a Python that has boto3)",
        path.display()
    );
    path
}

/// The service under test, with a clock the test can move.
pub struct AwsControl {
    pub server: Server,
    pub endpoint: String,
    offset: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

/// What the cases of one run returned, by case name.
pub struct Outcome {
    pub details: BTreeMap<String, Value>,
}

impl Outcome {
    pub fn detail(&self, case: &str) -> &Value {
        &self.details[case]
    }
}

impl AwsControl {
    /// Starts the whole service (embedded broker, store on a real SQLite
    /// file, HTTP API on a free loopback port) with [`TOKEN`] and the
    /// [`KEY_ID`] / [`SECRET`] access key, on the wall clock (boto3 signs
    /// with it) plus an offset the test sets.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let offset = Arc::new(AtomicI64::new(0));
        let wall = support::service::clock();
        let shifted = Arc::clone(&offset);
        let clock: Clock = Arc::new(move || wall() + shifted.load(Ordering::SeqCst));
        let server = Server::start(ServerConfig {
            data_dir: dir.path().join("fleet"),
            token: Some(TOKEN.into()),
            aws_credentials: Some(AwsCredentials::new(KEY_ID, SECRET).unwrap()),
            clock,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let endpoint = format!("http://{}", server.http_addr);
        Self {
            server,
            endpoint,
            offset,
            _dir: dir,
        }
    }

    /// Moves the service's clock `secs` away from the wall clock.
    pub fn shift_clock(&self, secs: i64) {
        self.offset.store(secs, Ordering::SeqCst);
    }

    /// Runs `cases` of `area` with boto3 and fails the test unless each
    /// passed.
    pub async fn run(&self, area: &str, cases: &[&str]) -> Outcome {
        run_cases(&self.endpoint, area, cases).await
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Runs `cases` of `area` against `endpoint` (which takes [`TOKEN`] and the
/// [`KEY_ID`] key) and fails the test unless each printed `"ok": true`.
pub async fn run_cases(endpoint: &str, area: &str, cases: &[&str]) -> Outcome {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/all/aws_control");
    let python = python();
    let child = Command::new(&python)
        .arg(dir.join("run.py"))
        .arg(area)
        .args(cases)
        // Nothing from the developer's AWS setup: no profile, no
        // credentials, no region, no proxy.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("JOBHOST_AWS_ENDPOINT", endpoint)
        .env("JOBHOST_AWS_ACCESS_KEY_ID", KEY_ID)
        .env("JOBHOST_AWS_SECRET_ACCESS_KEY", SECRET)
        .env("JOBHOST_FLEET_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let output = tokio::time::timeout(RUN, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{area} {cases:?} did not finish within {RUN:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}\n{stderr}"))
        })
        .collect();
    let mut details = BTreeMap::new();
    let mut failures = Vec::new();
    for line in &lines {
        if let Some(sdk) = line.get("sdk") {
            eprintln!(
                "SDK under test: boto3 {} on botocore {}",
                sdk["boto3"], sdk["botocore"]
            );
        } else if let Some(case) = line["case"].as_str() {
            if line["ok"] == true {
                details.insert(case.to_owned(), line["detail"].clone());
            } else {
                failures.push(format!(
                    "{area}.{case}:\n{}",
                    line["error"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    assert!(
        failures.is_empty() && output.status.success(),
        "{}\nexit: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        failures.join("\n"),
        output.status
    );
    for case in cases {
        assert!(
            details.contains_key(*case),
            "{area}.{case} printed nothing\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    Outcome { details }
}

/// The checked-in table of AWS operations is what the botocore installed
/// for these tests gives (`scripts/gen-iot-operations --check`): bumping
/// boto3 in `scripts/setup-aws-sdk` without regenerating it fails here.
#[tokio::test]
async fn the_operation_table_matches_the_botocore_under_test() {
    let python = python();
    let output = Command::new(&python)
        .arg(root().join("scripts/gen-iot-operations"))
        .arg("--check")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
