//! The `application` plugin through the broker: application bundles
//! (install-application with its health check and rollback,
//! remove-application), systemd services (start/stop/restart-application)
//! and system packages (install-packages / remove-packages).
//!
//! Real parts: the service on the embedded broker, bundles served by its
//! artifact store over HTTP through presigned placeholders, the agent
//! in-process, the plugin built from this repository and signed here.
//!
//! STAND-INS, at the edge of the world: `systemctl` is a shell script that
//! stands in for systemd (it appends its argv to a log and exits with the
//! status in a file the test controls); `apt-get` likewise only logs; the
//! health check is a script that reads the STATUS file of the version
//! `current` points at, through the real link on the host.

use crate::support;

use jobhost_fleet::artifacts::placeholder;
use jobhost_fleet::server::Server;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use support::agent::Agent;
use support::service::{create, create_interrupted, detail, embedded, start_server, wait_terminal};
use support::stand_in::Programs;

/// The device with every program granted.
const THING: &str = "app-box";
/// A device whose operator granted systemctl but no package manager.
const BARE: &str = "bare-box";

/// The stand-in programs and what they record.
struct Bin {
    programs: Programs,
}

impl Bin {
    fn new(root: &Path) -> Self {
        let bin = Self {
            programs: Programs::new(root.join("bin")),
        };
        // Stands in for systemd's systemctl.
        bin.programs.script(
            "systemctl",
            &format!(
                "echo \"$*\" >> '{log}'\ncode=$(cat '{status}' 2>/dev/null || echo 0)\n\
                 [ \"$code\" = 0 ] || echo \"Failed to $1 $2: Unit $2 not loaded.\" >&2\nexit \"$code\"\n",
                log = bin.path("systemctl.log").display(),
                status = bin.path("systemctl.status").display(),
            ),
        );
        // Stands in for an application's health check: argv[1] is the
        // app's directory on the HOST (the check runs outside the sandbox).
        bin.programs.script(
            "healthcheck",
            "status=$(cat \"$1/current/STATUS\")\n[ \"$status\" = healthy ] && exit 0\n\
             echo \"status is $status\" >&2\nexit 1\n",
        );
        // Stands in for Debian's apt-get.
        bin.programs.script(
            "apt-get",
            &format!("echo \"$*\" >> '{}'\n", bin.path("apt-get.log").display()),
        );
        bin
    }

    fn path(&self, name: &str) -> PathBuf {
        self.programs.path(name)
    }

    fn log(&self, name: &str) -> Vec<String> {
        self.programs.log(name)
    }

    fn systemctl_exits_with(&self, code: i32) {
        std::fs::write(self.path("systemctl.status"), code.to_string()).unwrap();
    }
}

/// Starts an agent for `thing` whose `application` plugin may write
/// `root/apps`, download from the service, and run `programs`.
fn start_agent(root: &Path, server: &Server, thing: &str, programs: &[PathBuf]) -> Agent {
    let dir = root.join(thing);
    std::fs::create_dir_all(&dir).unwrap();
    let (key, _) = support::plugins::operator_key(&dir, "operator.key");
    support::plugins::provision(&dir.join("plugins"), &key, &["application"]);
    let programs: Vec<String> = programs
        .iter()
        .map(|p| format!("\"{}\"", p.display()))
        .collect();
    let config = support::agent::write_config(
        &dir,
        thing,
        server.mqtt_addr.port(),
        &format!(
            "[plugins.application]\ndirs = [\"{apps}:/apps\"]\n\
             download_hosts = [\"127.0.0.1:{http}\"]\nallow_http = true\nrun_commands = [{programs}]\n",
            apps = root.join("apps").display(),
            http = server.http_addr.port(),
            programs = programs.join(", "),
        ),
    );
    Agent::start(&config)
}

/// A bundle: `VERSION`, `STATUS` (what the stand-in health check reads) and
/// an executable `bin/myapp`, under `./` as `tar -C dir -czf x .` writes.
fn bundle(version: &str, status: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        tar.append_data(&mut h, path, data).unwrap();
    };
    add("./VERSION", 0o644, format!("{version}\n").as_bytes());
    add("./STATUS", 0o644, status.as_bytes());
    add("./bin/myapp", 0o755, b"#!/bin/sh\necho myapp\n");
    // Set-user-id in an archive is never honoured; the x bits are.
    add("./bin/helper", 0o4750, b"#!/bin/sh\n");
    gzip(tar.into_inner().unwrap())
}

/// A bundle with one good entry and then `../escape`, its name written
/// straight into the header (the `tar` builder refuses `..`).
fn hostile_bundle() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [("VERSION", &b"3.0.0\n"[..]), ("../escape", &b"pwned"[..])] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        tar.append(&h, data).unwrap();
    }
    gzip(tar.into_inner().unwrap())
}

fn gzip(bytes: Vec<u8>) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    gz.finish().unwrap()
}

async fn run(server: &Server, thing: &str, job_id: &str, document: Value) -> JobExecution {
    create(server, thing, job_id, document);
    wait_terminal(server, thing, job_id).await
}

/// Uploads `bytes` and installs them as myapp `version` with the stand-in
/// service and health check; `sha256` overrides the real digest.
async fn install(
    server: &Server,
    root: &Path,
    bin: &Bin,
    job_id: &str,
    version: &str,
    bytes: &[u8],
    sha256: Option<&str>,
) -> JobExecution {
    let info = server
        .artifacts
        .put(&format!("{job_id}.tar.gz"), bytes)
        .unwrap();
    let document = install_document(
        root,
        bin,
        version,
        &placeholder(&info.url),
        sha256.unwrap_or(&info.sha256),
    );
    run(server, THING, job_id, document).await
}

/// An install-application document for myapp with the stand-in service
/// and health check.
fn install_document(root: &Path, bin: &Bin, version: &str, url: &str, sha256: &str) -> Value {
    json!({
        "operation": "install-application",
        "name": "myapp",
        "version": version,
        "url": url,
        "sha256": sha256,
        "healthCheck": [bin.path("healthcheck"), root.join("apps/myapp")],
        "healthCheckTimeoutSecs": 30,
        "service": "myapp.service",
    })
}

fn assert_status(e: &JobExecution, status: JobExecutionStatus) {
    assert_eq!(e.status, status, "{}: {:?}", e.job_id, e.status_details);
}

fn assert_reason(e: &JobExecution, says: &str) {
    let reason = detail(e, "reason").unwrap_or_default();
    assert!(
        reason.contains(says),
        "{}: reason {reason:?} does not say {says:?}",
        e.job_id
    );
}

fn current(root: &Path) -> PathBuf {
    std::fs::read_link(root.join("apps/myapp/current")).unwrap()
}

/// Every path under `dir` whose file name is `name`.
fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == name) {
            found.push(path.clone());
        }
        if path.symlink_metadata().unwrap().is_dir() {
            found.extend(find(&path, name));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_install_roll_back_and_run_their_services_and_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let bin = Bin::new(root);
    std::fs::create_dir_all(root.join("apps")).unwrap();
    let server = start_server(root, embedded()).await;
    let programs = [
        bin.path("systemctl"),
        bin.path("healthcheck"),
        bin.path("apt-get"),
    ];
    let agent = start_agent(root, &server, THING, &programs);
    let bare = start_agent(root, &server, BARE, &[bin.path("systemctl")]);

    // v1: unpacked, `current` switched, the service restarted, checked.
    let e = install(
        &server,
        root,
        &bin,
        "v1",
        "1.0.0",
        &bundle("1.0.0", "healthy"),
        None,
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "name"), Some("myapp"));
    assert_eq!(detail(&e, "version"), Some("1.0.0"));
    assert_eq!(detail(&e, "previousVersion"), None);
    assert_eq!(current(root), Path::new("versions/1.0.0"));
    let installed = root.join("apps/myapp/current");
    assert_eq!(
        std::fs::read_to_string(installed.join("VERSION")).unwrap(),
        "1.0.0\n"
    );
    assert_eq!(
        std::fs::read_to_string(installed.join("bin/myapp")).unwrap(),
        "#!/bin/sh\necho myapp\n"
    );
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(installed.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(
        mode("bin/myapp") & 0o111,
        0o111,
        "executables stay executable"
    );
    assert_eq!(mode("bin/helper") & 0o7000, 0, "no set-user-id");
    assert_ne!(mode("bin/helper") & 0o100, 0);
    assert_eq!(mode("VERSION") & 0o111, 0);
    assert_eq!(bin.log("systemctl.log"), ["restart myapp.service"]);

    // v2 fails its health check: back to v1, service restarted on it.
    let e = install(
        &server,
        root,
        &bin,
        "v2-bad",
        "2.0.0",
        &bundle("2.0.0", "broken"),
        None,
    )
    .await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_reason(&e, "health check failed: ");
    assert_reason(&e, "status is broken");
    assert_eq!(detail(&e, "rolledBack"), Some("true"));
    assert_eq!(detail(&e, "version"), Some("1.0.0"));
    assert_eq!(current(root), Path::new("versions/1.0.0"));
    assert!(!root.join("apps/myapp/versions/2.0.0").exists());
    assert_eq!(bin.log("systemctl.log").len(), 3);

    // A healthy v2: switched, v1 kept as the previous version.
    let e = install(
        &server,
        root,
        &bin,
        "v2",
        "2.0.0",
        &bundle("2.0.0", "healthy"),
        None,
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "version"), Some("2.0.0"));
    assert_eq!(detail(&e, "previousVersion"), Some("1.0.0"));
    assert_eq!(current(root), Path::new("versions/2.0.0"));
    assert!(root.join("apps/myapp/versions/1.0.0/VERSION").is_file());

    // The same version again: nothing to do.
    let restarts = bin.log("systemctl.log").len();
    let e = install(
        &server,
        root,
        &bin,
        "v2-again",
        "2.0.0",
        &bundle("2.0.0", "healthy"),
        None,
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "unchanged"), Some("true"));
    assert_eq!(bin.log("systemctl.log").len(), restarts);

    // The agent went down right after switching to a broken 3.0.0 (the
    // files as that attempt left them, made here by hand) and comes back
    // on a wiped disk: it resumes from the cloud's checkpoint, checks the
    // version `current` names, and rolls back — without downloading again
    // (the document's URL would fail).
    let versions = root.join("apps/myapp/versions");
    std::fs::create_dir(versions.join("3.0.0")).unwrap();
    std::fs::write(versions.join("3.0.0/STATUS"), "broken").unwrap();
    std::fs::remove_file(root.join("apps/myapp/current")).unwrap();
    std::os::unix::fs::symlink("versions/3.0.0", root.join("apps/myapp/current")).unwrap();
    let missing = format!("http://{}/artifacts/missing.tar.gz", server.http_addr);
    let document = install_document(root, &bin, "3.0.0", &missing, &"0".repeat(64));
    let checkpoint = r#"{"step":"switching","version":"3.0.0","previous":"2.0.0"}"#;
    let details = json!({"checkpoint": checkpoint, "step": "switching"});
    create_interrupted(&server, THING, "v3-resumed", document, details);
    let e = wait_terminal(&server, THING, "v3-resumed").await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_reason(&e, "health check failed: ");
    assert_eq!(detail(&e, "rolledBack"), Some("true"));
    assert_eq!(detail(&e, "version"), Some("2.0.0"));
    assert_eq!(current(root), Path::new("versions/2.0.0"));
    assert!(!versions.join("3.0.0").exists());
    assert_eq!(
        bin.log("systemctl.log")[restarts..],
        ["restart myapp.service", "restart myapp.service"]
    );
    let restarts = bin.log("systemctl.log").len();

    // An archive that climbs out: refused, nothing written anywhere.
    let e = install(
        &server,
        root,
        &bin,
        "v3-hostile",
        "3.0.0",
        &hostile_bundle(),
        None,
    )
    .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert_reason(&e, "entry \"../escape\" contains `..`");
    assert!(
        find(root, "escape").is_empty(),
        "{:?}",
        find(root, "escape")
    );
    assert!(!root.join("apps/myapp/versions/3.0.0").exists());
    assert_eq!(current(root), Path::new("versions/2.0.0"));

    // A digest that does not match: the download fails, nothing switched.
    let wrong = "0".repeat(64);
    let e = install(
        &server,
        root,
        &bin,
        "v3-sha",
        "3.0.0",
        &bundle("3.0.0", "healthy"),
        Some(&wrong),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_reason(&e, "sha256 mismatch");
    assert!(!root.join("apps/myapp/versions/3.0.0").exists());
    assert_eq!(current(root), Path::new("versions/2.0.0"));
    assert_eq!(bin.log("systemctl.log").len(), restarts);

    // Services, in order; a space-separated string as the Device Client
    // handlers take it works too.
    let before = bin.log("systemctl.log").len();
    let services = json!(["a.service", "b.service"]);
    let e = run(
        &server,
        THING,
        "restart",
        json!({"operation": "restart-application", "services": services}),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    let e = run(
        &server,
        THING,
        "start",
        json!({"operation": "start-application", "services": "c.service  d@1.service"}),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(
        bin.log("systemctl.log")[before..],
        [
            "restart a.service",
            "restart b.service",
            "start c.service",
            "start d@1.service"
        ]
    );

    // A name systemctl would read as an option never reaches it.
    let e = run(
        &server,
        THING,
        "stop-option",
        json!({"operation": "stop-application", "services": ["--all"]}),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert_reason(&e, "service name \"--all\" must not start with `-`");

    // systemctl fails: FAILED, naming the service, with its stderr.
    bin.systemctl_exits_with(5);
    let e = run(
        &server,
        THING,
        "stop",
        json!({"operation": "stop-application", "services": ["web.service"]}),
    )
    .await;
    bin.systemctl_exits_with(0);
    assert_status(&e, JobExecutionStatus::Failed);
    assert_reason(&e, "systemctl stop web.service failed");
    assert_reason(&e, "Unit web.service not loaded.");
    assert_eq!(detail(&e, "service"), Some("web.service"));

    // Remove: the service stopped, the directory gone; again: nothing to do.
    let remove =
        json!({"operation": "remove-application", "name": "myapp", "service": "myapp.service"});
    let e = run(&server, THING, "remove", remove.clone()).await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "removed"), Some("true"));
    assert!(!root.join("apps/myapp").exists());
    assert_eq!(
        bin.log("systemctl.log").last().unwrap(),
        "stop myapp.service"
    );
    let e = run(&server, THING, "remove-again", remove).await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "removed"), Some("false"));

    // Packages through the granted manager, argv exactly as apt-get takes it.
    let e = run(
        &server,
        THING,
        "pkgs",
        json!({"operation": "install-packages", "packages": ["lftp", "dos2unix"]}),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "manager"), Some("apt-get"));
    let e = run(
        &server,
        THING,
        "unpkgs",
        json!({"operation": "remove-packages", "packages": "lftp dos2unix"}),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    let e = run(
        &server,
        THING,
        "pkg-option",
        json!({"operation": "install-packages", "packages": ["-oAPT::Get::Trivial-Only=false"]}),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert_eq!(
        bin.log("apt-get.log"),
        [
            "install -y --no-install-recommends -- lftp dos2unix",
            "remove -y -- lftp dos2unix"
        ]
    );

    // A device without a package manager granted says so.
    let e = run(
        &server,
        BARE,
        "bare-pkgs",
        json!({"operation": "install-packages", "packages": ["lftp"]}),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert_reason(
        &e,
        "no package manager is granted to this plugin (run_commands in [plugins.application])",
    );

    // After every refusal and failure the agents keep serving.
    let e = run(
        &server,
        THING,
        "after",
        json!({"operation": "restart-application", "services": "z.service"}),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    let e = run(
        &server,
        BARE,
        "bare-after",
        json!({"operation": "start-application", "services": ["z.service"]}),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(bin.log("systemctl.log").last().unwrap(), "start z.service");

    agent.stop().await;
    bare.stop().await;
    server.stop().await;
}
