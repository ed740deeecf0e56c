//! What the service writes to disk is its owner's only: it holds device
//! logs, signing keys and the job database.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::*;
use crate::store::CreateJob;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Set in the child process that runs the checks under umask 000.
const CHILD: &str = "JOBHOST_FLEET_UMASK_CHILD";

/// The database, its WAL files, signing keys, artifacts, uploads and their
/// directories are created 0600/0700 even under umask 000, where the
/// default modes would make all of them world-readable (and writable).
/// The umask is per process, so the checks run in a child test process
/// started by `sh -c 'umask 000; exec …'`, not in this one whose other
/// tests create files concurrently.
#[test]
fn state_files_are_private_whatever_the_umask() {
    if std::env::var_os(CHILD).is_some() {
        return write_and_check_modes();
    }
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"umask 000 && exec "$0" "$@""#)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "server::tests::state_files_are_private_whatever_the_umask",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{out}\n{err}");
    assert!(out.contains("1 passed"), "the child ran the test: {out}");
}

fn write_and_check_modes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fleet-data");
    let mut store = open_store(&data).unwrap();
    let job = CreateJob {
        job_id: "j1".into(),
        targets: vec!["t1".into()],
        document: serde_json::json!({"operation": "echo"}).into(),
        ..CreateJob::default()
    };
    store.create_job(&job, 1).unwrap();
    let base = "http://127.0.0.1:8080";
    let ttl = Duration::from_secs(60);
    let uploads = Uploads::open(&data.join("uploads"), base, ttl).unwrap();
    let mut upload = uploads.create("t1", "j1", "bundle").unwrap();
    upload.write(b"logs").unwrap();
    upload.finish().unwrap();
    let artifacts = Artifacts::open(&data.join("artifacts"), base, ttl).unwrap();
    artifacts.put("fw.bin", b"firmware").unwrap();

    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for d in ["", "uploads", "uploads/t1", "uploads/t1/j1", "artifacts"] {
        let path = data.join(d);
        assert_eq!(mode(&path), 0o700, "{}", path.display());
    }
    let wal = format!("{DATABASE_FILE}-wal");
    let shm = format!("{DATABASE_FILE}-shm");
    for f in [
        DATABASE_FILE,
        &wal,
        &shm,
        "uploads/t1/j1/bundle",
        "uploads/.url-signing-key",
        "artifacts/fw.bin",
        "artifacts/.url-signing-key",
    ] {
        let path = data.join(f);
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

/// A config printed into a log (`{:?}`) says there is a token and which
/// AWS access key it takes, never the token or the key's secret.
#[test]
fn the_debug_output_of_a_config_never_holds_its_secrets() {
    let config = ServerConfig {
        token: Some("s3cret-bearer-token".into()),
        aws_credentials: Some(
            crate::api::AwsCredentials::new("AKIDFLEET", "s3cret-aws-secret-key").unwrap(),
        ),
        ..ServerConfig::default()
    };
    let printed = format!("{config:?}");
    assert!(!printed.contains("s3cret-bearer-token"), "{printed}");
    assert!(printed.contains("token: Some(\"<redacted>\")"), "{printed}");
    assert!(!printed.contains("s3cret-aws-secret-key"), "{printed}");
    assert!(printed.contains("AKIDFLEET"), "{printed}");
    assert!(
        printed.contains("secret_access_key: \"<redacted>\""),
        "{printed}"
    );
    let printed = format!("{:?}", ServerConfig::default());
    assert!(printed.contains("token: None"), "{printed}");
    assert!(printed.contains("aws_credentials: None"), "{printed}");
}
