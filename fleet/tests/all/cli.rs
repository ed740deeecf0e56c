//! The `jobhost-fleet` binary against a real API server on loopback: job
//! create/list/describe/executions/cancel/delete, job templates
//! (`template ...`, `job create --template`), `artifact put|list|describe`
//! (with signatures, and the code-sign placeholder at `job create`), `job
//! watch` following an execution that a device (here: the test, through
//! the store) drives to its end, `thing` and `group` and jobs on groups,
//! and how errors are printed.

// More cases; this file holds the harness and the error-rendering cases.
mod artifacts;
mod groups;
mod jobs;
mod templates;
mod watch;

use jobhost_fleet::api::{self, ApiState};
use jobhost_fleet::artifacts::Artifacts;
use jobhost_fleet::store::Store;
use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::JobExecutionStatus;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_jobhost-fleet");
const TOKEN: &str = "cli-token";

/// A guard against a hung child, never a synchronisation point.
const PATIENCE: Duration = Duration::from_secs(60);

struct Server {
    base: String,
    store: Arc<Mutex<Store>>,
    artifacts: Arc<Artifacts>,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    async fn start(token: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let artifacts = Arc::new(
            Artifacts::open(
                &dir.path().join("artifacts"),
                &base,
                Duration::from_secs(60),
            )
            .unwrap(),
        );
        let store = Arc::new(Mutex::new(Store::open_in_memory().unwrap()));
        // The notifier is not under test here; keep its receiver alive.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut rx = rx;
            while rx.recv().await.is_some() {}
        });
        let mut state = ApiState::new(Arc::clone(&store), tx, Arc::clone(&artifacts));
        if let Some(t) = token {
            state = state.with_token(t);
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            store,
            artifacts,
            dir,
            _stop: stop,
        }
    }

    /// The binary, pointed at this server, with a clean environment.
    fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("JOBHOST_FLEET_API", &self.base)
            .env_remove("JOBHOST_FLEET_TOKEN")
            .env_remove("JOBHOST_FLEET_LOG")
            .env("NO_PROXY", "*")
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::time::timeout(PATIENCE, self.cli(args).output())
            .await
            .expect("the CLI finished")
            .unwrap()
    }

    /// Runs and expects exit 0; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    }

    fn device_update(
        &self,
        thing: &str,
        job: &str,
        status: JobExecutionStatus,
        details: &[(&str, &str)],
    ) {
        let mut req = UpdateRequest::new(status);
        let map: BTreeMap<String, String> = details
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        req.status_details = Some(map);
        self.store
            .lock()
            .unwrap()
            .update(thing, job, &req, 1_700_000_100)
            .unwrap();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Asserts exit 1 and exactly one stderr line, `error: <expected...>`.
fn assert_one_line_error(out: &Output, expected: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.starts_with(&format!("error: {expected}")),
        "{stderr:?}"
    );
}

#[tokio::test]
async fn errors_are_one_line_and_exit_1() {
    let s = Server::start(Some(TOKEN)).await;

    // The API's message, as is.
    let out = s
        .run(&["--token", TOKEN, "job", "describe", "missing"])
        .await;
    assert_one_line_error(&out, "not found: job missing");
    let out = s
        .run(&[
            "--token",
            TOKEN,
            "job",
            "create",
            "--job-id",
            "bad id",
            "--target",
            "t",
            "--document-json",
            "{}",
        ])
        .await;
    assert_one_line_error(&out, "job id \"bad id\" must be 1-64 characters");

    // Token: missing or wrong is refused; the environment variable works.
    let out = s.run(&["job", "list"]).await;
    assert_one_line_error(&out, "missing bearer token");
    let out = s.run(&["--token", "nope", "job", "list"]).await;
    assert_one_line_error(&out, "wrong bearer token");
    let out = s
        .cli(&["job", "list"])
        .env("JOBHOST_FLEET_TOKEN", TOKEN)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Local problems.
    let bad = s.dir.path().join("bad.json");
    std::fs::write(&bad, "{\n  \"a\": \n}").unwrap();
    let out = s
        .run(&[
            "--token",
            TOKEN,
            "job",
            "create",
            "--job-id",
            "j",
            "--target",
            "t",
            "--document",
            bad.to_str().unwrap(),
        ])
        .await;
    assert_one_line_error(&out, &format!("{} is not valid JSON: ", bad.display()));
    let out = s
        .run(&[
            "--token",
            TOKEN,
            "job",
            "create",
            "--job-id",
            "j",
            "--target",
            "t",
            "--document-json",
            "[1]",
        ])
        .await;
    assert_one_line_error(
        &out,
        "--document-json: the job document must be a JSON object",
    );

    // Nobody listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = s.run(&["--api", &closed, "job", "list"]).await;
    assert_one_line_error(&out, &format!("cannot reach the jobs API at {closed}: "));

    // Usage errors exit 1; help and version exit 0.
    let out = s.run(&["job", "create", "--job-id", "j"]).await;
    assert_eq!(out.status.code(), Some(1));
    let out = s
        .run(&[
            "job",
            "create",
            "--job-id",
            "j",
            "--target",
            "t",
            "--document",
            "f",
            "--document-json",
            "{}",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let out = s.run(&["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("artifact"));
    let out = s.run(&["--version"]).await;
    assert_eq!(out.status.code(), Some(0));
}
