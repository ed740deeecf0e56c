//! The `packages` plugin through the broker: jobs-agent.js packages
//! installed with backups, checksums and rollback, run as transient
//! systemd services, started, stopped, restarted and listed — with the
//! native documents the host's router makes from jobs-agent.js ones.
//!
//! Real parts: the service on the embedded broker, the files served by
//! its artifact store over HTTP through presigned placeholders, the agent
//! in-process, the plugin built from this repository and signed here, a
//! real cancel from the service.
//!
//! STAND-INS, at the edge of the world: `systemd-run` and `systemctl` are
//! shell scripts that stand in for systemd. Each appends its argv to a
//! log. `systemd-run` "starts" a unit by writing a file named after it
//! (holding its argv) into a units directory — unless the package's main
//! file (the argument after the program) contains `crash`, which stands
//! for a program that exits at once; `systemctl is-active` reports a unit
//! active while its file exists, `stop` removes it (exit 5, "not loaded",
//! when there is none), and exits with the status in a file the test
//! controls instead when that file says so.

mod jobs_agent;
mod systemd;

use crate::support;

use jobhost_fleet::artifacts::placeholder;
use jobhost_fleet::server::Server;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::{json, Value};
use sha2::Digest;
use std::path::{Path, PathBuf};
use support::agent::Agent;
use support::proxy::GatedProxy;
use support::service::{
    create, create_interrupted, detail, embedded, start_server, wait_terminal, wait_until,
};
use systemd::Systemd;

const THING: &str = "pkg-box";
const UNIT: &str = "jobhost-package-web.service";

/// The device: packages under `root/packages`, downloads from the service
/// and from `proxy`, the two systemd programs, the packages' launch
/// programs (`/usr/bin/node`, `/usr/bin/python3`: the stand-in systemd-run
/// never runs them), the diagnostics snapshot.
fn start_agent(root: &Path, server: &Server, proxy: &GatedProxy, systemd: &Systemd) -> Agent {
    let dir = root.join(THING);
    std::fs::create_dir_all(&dir).unwrap();
    let (key, _) = support::plugins::operator_key(&dir, "operator.key");
    support::plugins::provision(&dir.join("plugins"), &key, &["packages"]);
    let config = support::agent::write_config(
        &dir,
        THING,
        server.mqtt_addr.port(),
        &format!(
            "[plugins.packages]\ndirs = [\"{packages}:/packages\"]\n\
             download_hosts = [\"127.0.0.1:{http}\", \"127.0.0.1:{proxy}\"]\nallow_http = true\n\
             run_commands = [\"{run}\", \"{ctl}\", \"/usr/bin/node\", \"/usr/bin/python3\"]\ndiagnostics = true\n",
            packages = root.join("packages").display(),
            http = server.http_addr.port(),
            proxy = proxy.addr().port(),
            run = systemd.path("systemd-run").display(),
            ctl = systemd.path("systemctl").display(),
        ),
    );
    Agent::start(&config)
}

/// Uploads `bytes` as artifact `name`; returns its placeholder URL.
fn upload(server: &Server, name: &str, bytes: &[u8]) -> String {
    placeholder(&server.artifacts.put(name, bytes).unwrap().url)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn sha512(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(bytes))
}

fn checksum(algorithm: &str, value: &str) -> Value {
    json!({"hashAlgorithm": algorithm, "inline": {"value": value}})
}

/// An install-package document as the router writes it for package `name`
/// in `/packages/<name>`.
fn install(
    root: &Path,
    name: &str,
    files: Value,
    launch: Option<Value>,
    auto_start: bool,
) -> Value {
    let mut doc = json!({
        "operation": "install-package",
        "packageName": name,
        "workingDirectory": format!("/packages/{name}"),
        "deviceWorkingDirectory": root.join("packages").join(name),
        "files": files,
        "autoStart": auto_start,
        "startupCheckSecs": 1,
    });
    if let Some(launch) = launch {
        doc["launchCommand"] = launch;
    }
    doc
}

fn named(operation: &str, name: &str) -> Value {
    json!({"operation": operation, "packageName": name})
}

async fn run(server: &Server, job_id: &str, document: Value) -> JobExecution {
    create(server, THING, job_id, document);
    wait_terminal(server, THING, job_id).await
}

fn assert_status(e: &JobExecution, status: JobExecutionStatus) {
    assert_eq!(e.status, status, "{}: {:?}", e.job_id, e.status_details);
}

/// The statusDetails jobs-agent.js dashboards read.
fn assert_error(e: &JobExecution, operation: &str, code: &str, message: &str) {
    assert_eq!(detail(e, "operation"), Some(operation), "{}", e.job_id);
    assert_eq!(
        detail(e, "errorCode"),
        Some(code),
        "{}: {:?}",
        e.job_id,
        e.status_details
    );
    assert_eq!(detail(e, "errorMessage"), Some(message), "{}", e.job_id);
}

fn assert_state(e: &JobExecution, operation: &str, state: &str) {
    assert_status(e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(e, "operation"), Some(operation), "{}", e.job_id);
    assert_eq!(detail(e, "state"), Some(state), "{}", e.job_id);
}

/// Puts `content` at `path` as a download does: a new file renamed over
/// the old one (a backup is a hard link to the file it backs up).
fn replace(path: &Path, content: &str) {
    let temp = path.with_extension("test-tmp");
    std::fs::write(&temp, content).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_install_roll_back_run_as_units_and_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let systemd = Systemd::new(root);
    let web = root.join("packages/web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("app.js"), "v0 app").unwrap();
    let server = start_server(root, embedded()).await;
    // A download server that never answers: the second file of an install
    // that the test cancels mid-way.
    let silent = GatedProxy::start(server.http_addr).await;
    let agent = start_agent(root, &server, &silent, &systemd);
    let state = root.join("packages/.jobhost");
    let launch = json!(["node", "app.js"]);
    let device_dir = web.display().to_string();
    let start_argv = |extra: &str| {
        format!(
            "--unit={UNIT} --working-directory={device_dir} --collect --service-type=exec -- node app.js{extra}"
        )
    };

    // v1 over an older app.js: backed up, both files downloaded and
    // checked (sha256 by the host, sha512 by the plugin), started.
    let (app1, util1) = (b"v1 app".as_slice(), b"v1 util".as_slice());
    let files = json!([
        {"fileName": "app.js", "url": upload(&server, "app1.js", app1),
         "checksum": checksum("SHA-256", &sha256(app1))},
        {"fileName": "lib/util.js", "url": upload(&server, "util1.js", util1),
         "checksum": checksum("sha512", &sha512(util1))},
    ]);
    let e = run(
        &server,
        "web-1",
        install(root, "web", files, Some(launch.clone()), true),
    )
    .await;
    assert_state(&e, "install", "package installed and started");
    assert_eq!(read(web.join("app.js")), "v1 app");
    assert_eq!(read(web.join("app.js.old")), "v0 app");
    assert_eq!(read(web.join("lib/util.js")), "v1 util");
    assert!(!web.join("lib/util.js.old").exists(), "nothing to back up");
    assert_eq!(
        systemd.since((0, 0)),
        (
            vec![format!("stop {UNIT}"), format!("is-active {UNIT}")],
            vec![start_argv("")]
        )
    );
    assert_eq!(systemd.running(UNIT), Some(start_argv("")));
    let record: Value = serde_json::from_str(&read(state.join("installedPackages.json"))).unwrap();
    assert_eq!(
        record,
        json!([{"packageName": "web", "workingDirectory": "/packages/web",
                "deviceWorkingDirectory": device_dir, "launchCommand": launch,
                "autoStart": true, "startupCheckSecs": 1}])
    );
    assert!(!state.join("pending-web.json").exists());

    // The second file does not match its sha512: both files back as they
    // were, nothing restarted.
    let (app2, util2) = (b"v2 app".as_slice(), b"v2 util".as_slice());
    let mark = systemd.marks();
    let files = json!([
        {"fileName": "app.js", "url": upload(&server, "app2.js", app2),
         "checksum": checksum("sha256", &sha256(app2))},
        {"fileName": "lib/util.js", "url": upload(&server, "util2.js", util2),
         "checksum": checksum("SHA512", &sha512(b"something else"))},
    ]);
    let e = run(
        &server,
        "web-sum",
        install(root, "web", files, Some(launch.clone()), true),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_error(&e, "install", "ERR_CHECKSUM_FAILED", "Checksum mismatch");
    assert_eq!(detail(&e, "fileName"), Some("lib/util.js"));
    assert_eq!(detail(&e, "rollbackError"), None);
    assert_eq!(read(web.join("app.js")), "v1 app");
    assert_eq!(read(web.join("lib/util.js")), "v1 util");
    assert_eq!(systemd.since(mark), (vec![], vec![]));

    // The first file's sha256 fails in the host, while it streams: the
    // same error, and the file was never replaced.
    let files = json!([
        {"fileName": "app.js", "url": upload(&server, "app2b.js", app2),
         "checksum": checksum("sha256", &sha256(b"something else"))},
        {"fileName": "lib/util.js", "url": upload(&server, "util2b.js", util2)},
    ]);
    let e = run(
        &server,
        "web-sha256",
        install(root, "web", files, Some(launch.clone()), true),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_error(&e, "install", "ERR_CHECKSUM_FAILED", "Checksum mismatch");
    assert_eq!(detail(&e, "fileName"), Some("app.js"));
    assert_eq!(read(web.join("app.js")), "v1 app");
    assert_eq!(read(web.join("lib/util.js")), "v1 util");

    // v3 exits at once: rolled back, and v1 (which starts by itself)
    // started again; the record still says v1.
    let mark = systemd.marks();
    let files = json!([{"fileName": "app.js", "url": upload(&server, "app3.js", b"crash")}]);
    let v3 = json!(["node", "app.js", "--v3"]);
    let e = run(
        &server,
        "web-crash",
        install(root, "web", files, Some(v3), true),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_eq!(detail(&e, "errorCode"), Some("ERR_UNEXPECTED_PACKAGE_EXIT"));
    assert!(
        detail(&e, "errorMessage")
            .unwrap()
            .starts_with("package exited during its 1 s startup"),
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "previousVersionStarted"), Some("true"));
    assert_eq!(read(web.join("app.js")), "v1 app");
    assert_eq!(
        systemd.since(mark),
        (
            vec![
                format!("stop {UNIT}"),
                format!("is-active {UNIT}"),
                format!("stop {UNIT}"),
            ],
            vec![start_argv(" --v3"), start_argv("")]
        )
    );
    assert_eq!(systemd.running(UNIT), Some(start_argv("")));
    let record: Value = serde_json::from_str(&read(state.join("installedPackages.json"))).unwrap();
    assert_eq!(record[0]["launchCommand"], launch);

    // start, stop, restart on the unit, with jobs-agent.js's answers.
    let e = run(&server, "start-nope", named("start-package", "nope")).await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert_error(
        &e,
        "start",
        "ERR_INVALID_PACKAGE_NAME",
        "no package installed called: nope",
    );
    let e = run(&server, "start-running", named("start-package", "web")).await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_error(
        &e,
        "start",
        "ERR_UNABLE_TO_START_PACKAGE",
        "package already running",
    );

    let mark = systemd.marks();
    let e = run(&server, "stop", named("stop-package", "web")).await;
    assert_state(&e, "stop", "package stopped");
    assert_eq!(systemd.running(UNIT), None);
    let e = run(&server, "stop-again", named("stop-package", "web")).await;
    assert_state(&e, "stop", "package stopped");
    let e = run(&server, "start", named("start-package", "web")).await;
    assert_state(&e, "start", "package started");
    let e = run(&server, "restart", named("restart-package", "web")).await;
    assert_state(&e, "restart", "package started");
    assert_eq!(
        systemd.since(mark),
        (
            vec![
                format!("stop {UNIT}"),
                format!("stop {UNIT}"),
                format!("is-active {UNIT}"),
                format!("is-active {UNIT}"),
                format!("stop {UNIT}"),
                format!("is-active {UNIT}"),
                format!("is-active {UNIT}"),
            ],
            vec![start_argv(""), start_argv("")]
        )
    );
    assert_eq!(systemd.running(UNIT), Some(start_argv("")));

    // systemctl cannot stop it.
    systemd.systemctl_exits_with(1);
    let e = run(&server, "stop-fails", named("stop-package", "web")).await;
    systemd.systemctl_exits_with(0);
    assert_status(&e, JobExecutionStatus::Failed);
    assert_error(
        &e,
        "stop",
        "ERR_UNABLE_TO_STOP_PACKAGE",
        "systemctl stop jobhost-package-web.service exited with code 1...",
    );
    assert!(detail(&e, "reason")
        .unwrap()
        .ends_with("Job for jobhost-package-web.service failed."));

    // Files only (no autoStart): installed and recorded, nothing run.
    let mark = systemd.marks();
    let api = b"api v1";
    let files = json!([{"fileName": "api.py", "url": upload(&server, "api.py", api),
                        "checksum": checksum("SHA-384", &hex::encode(sha2::Sha384::digest(api)))}]);
    let e = run(
        &server,
        "api-1",
        install(
            root,
            "api",
            files,
            Some(json!(["python3", "api.py"])),
            false,
        ),
    )
    .await;
    assert_state(&e, "install", "package files installed");
    assert_eq!(read(root.join("packages/api/api.py")), "api v1");
    assert_eq!(systemd.since(mark), (vec![], vec![]));

    let e = run(&server, "status", json!({"operation": "package-status"})).await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "operation"), Some("systemStatus"));
    assert_eq!(detail(&e, "installedPackages"), Some("[web, api]"));
    assert!(detail(&e, "uptime").is_some_and(|u| u.parse::<u64>().is_ok()));
    assert!(detail(&e, "agentVersion").is_some());

    // Documents that can never succeed touch nothing.
    let e = run(&server, "unnamed", json!({"operation": "stop-package"})).await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert_error(
        &e,
        "stop",
        "ERR_UNNAMED_PACKAGE",
        "no packageName property specified",
    );
    let files = json!([{"fileName": "app.js", "url": upload(&server, "app5.js", b"v5"),
                        "checksum": checksum("crc32", "00")}]);
    let e = run(
        &server,
        "crc",
        install(root, "web", files, Some(launch.clone()), true),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert_error(
        &e,
        "install",
        "ERR_UNSUPPORTED_CHECKSUM_ALGORITHM",
        "Unsupported checksum hash algorithm: crc32",
    );
    assert_eq!(read(web.join("app.js")), "v1 app");

    // Cancelled mid-install, after app.js was replaced, while lib/util.js
    // downloads: the host stops the plugin at once, so the next job on the
    // package undoes the install before it does its own work.
    let files = json!([
        {"fileName": "app.js", "url": upload(&server, "app4.js", b"v4 app")},
        {"fileName": "lib/util.js", "url": format!("http://{}/never", silent.addr())},
    ]);
    create(
        &server,
        THING,
        "web-cut",
        install(root, "web", files, Some(launch.clone()), true),
    );
    wait_until(&server, THING, "web-cut", "the second download", |e| {
        detail(e, "step") == Some("downloading") && detail(e, "fileName") == Some("lib/util.js")
    })
    .await;
    assert_eq!(read(web.join("app.js")), "v4 app");
    assert!(state.join("pending-web.json").is_file());
    let changes = server
        .store
        .lock()
        .unwrap()
        .cancel_job(
            "web-cut",
            true,
            None,
            Some("operator cancel"),
            support::service::clock()(),
        )
        .unwrap();
    server.changes.send(changes).unwrap();
    let e = run(
        &server,
        "restart-after-cut",
        named("restart-package", "web"),
    )
    .await;
    assert_state(&e, "restart", "package started");
    assert_eq!(read(web.join("app.js")), "v1 app");
    assert_eq!(read(web.join("lib/util.js")), "v1 util");
    assert!(!state.join("pending-web.json").exists());
    assert_eq!(
        support::service::execution(&server, THING, "web-cut").status,
        JobExecutionStatus::Canceled
    );

    // The agent went down mid-install (files as that attempt left them,
    // made here by hand) and resumes from the cloud's checkpoint.
    // `replacing`: what the attempt replaced is undone first — so the new
    // backup is of v1, not of the half-made file — then it starts over.
    let record: Value = serde_json::from_str(&read(state.join("installedPackages.json"))).unwrap();
    let pending = |job_id: &str, unit_started: bool| {
        json!({"jobId": job_id, "executionNumber": 1, "packageName": "web",
               "workingDirectory": "/packages/web",
               "files": [{"fileName": "app.js", "existed": true}],
               "previous": record[0], "unitStarted": unit_started})
    };
    replace(&web.join("app.js"), "half of v5");
    std::fs::write(
        state.join("pending-web.json"),
        pending("web-resumed", false).to_string(),
    )
    .unwrap();
    let app5 = b"v5 app";
    let files = json!([{"fileName": "app.js", "url": upload(&server, "app5.js", app5),
                        "checksum": checksum("sha256", &sha256(app5))}]);
    let details = json!({"checkpoint": r#"{"step":"replacing"}"#, "step": "downloading"});
    let document = install(root, "web", files, Some(launch.clone()), true);
    create_interrupted(&server, THING, "web-resumed", document, details);
    let e = wait_terminal(&server, THING, "web-resumed").await;
    assert_state(&e, "install", "package installed and started");
    assert_eq!(read(web.join("app.js")), "v5 app");
    assert_eq!(read(web.join("app.js.old")), "v1 app");

    // `starting`: the files are in place and were checked, so only the
    // restart and its check run again — nothing is downloaded (the URL
    // would fail).
    let mark = systemd.marks();
    replace(&web.join("app.js.old"), "v5 app");
    replace(&web.join("app.js"), "v6 app");
    let record: Value = serde_json::from_str(&read(state.join("installedPackages.json"))).unwrap();
    let resumed = pending("web-restarted", true);
    assert_eq!(resumed["previous"]["packageName"], "web");
    std::fs::write(state.join("pending-web.json"), resumed.to_string()).unwrap();
    let missing = format!("http://{}/artifacts/missing.js", server.http_addr);
    let files = json!([{"fileName": "app.js", "url": missing.clone()}]);
    let details = json!({"checkpoint": r#"{"step":"starting"}"#, "step": "restarting package"});
    let document = install(
        root,
        "web",
        files,
        Some(json!(["node", "app.js", "--v6"])),
        true,
    );
    create_interrupted(&server, THING, "web-restarted", document, details);
    let e = wait_terminal(&server, THING, "web-restarted").await;
    assert_state(&e, "install", "package installed and started");
    assert_eq!(read(web.join("app.js")), "v6 app");
    assert_eq!(
        systemd.since(mark),
        (
            vec![format!("stop {UNIT}"), format!("is-active {UNIT}")],
            vec![start_argv(" --v6")]
        )
    );
    let now: Value = serde_json::from_str(&read(state.join("installedPackages.json"))).unwrap();
    assert_eq!(now[0]["launchCommand"], json!(["node", "app.js", "--v6"]));
    assert_ne!(record, now);
    assert!(!state.join("pending-web.json").exists());

    // `replacing`, but the attempt had finished (record written, pending
    // install gone) and only its report was lost: reported, not redone —
    // the URL would fail, and a second backup would overwrite the first.
    let files = json!([{"fileName": "api.py", "url": missing}]);
    let document = install(
        root,
        "api",
        files,
        Some(json!(["python3", "api.py"])),
        false,
    );
    let details = json!({"checkpoint": r#"{"step":"replacing"}"#, "step": "downloading"});
    create_interrupted(&server, THING, "api-reported", document, details);
    let e = wait_terminal(&server, THING, "api-reported").await;
    assert_state(&e, "install", "package files installed");
    assert_eq!(read(root.join("packages/api/api.py")), "api v1");

    agent.stop().await;
    server.stop().await;
}
