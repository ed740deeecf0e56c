//! `jobhost run`, the local harness, as a plugin author uses it: the real
//! binary, real components built from source, one JSON object on stdout.

use crate::support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use support::plugin_path;

struct Harness {
    cache: tempfile::TempDir,
    files: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        Self {
            cache: tempfile::tempdir().unwrap(),
            files: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, content: &str) -> std::path::PathBuf {
        let path = self.files.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn jobhost(&self, args: &[&str]) -> Output {
        crate::support::jobhost_command()
            .args(args)
            .env("XDG_CACHE_HOME", self.cache.path())
            .env("JOBHOST_LOG", "info")
            .output()
            .unwrap()
    }

    fn run(&self, plugin: &Path, document: &str, extra: &[&str]) -> Output {
        let doc = self.file("job.json", document);
        let mut args = vec![
            "run",
            "--plugin",
            plugin.to_str().unwrap(),
            "--document",
            doc.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.jobhost(&args)
    }
}

/// The single JSON object on stdout.
fn report(out: &Output) -> Value {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one line on stdout, got {stdout:?}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(lines[0]).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn succeeded_prints_one_json_object_and_exits_0() {
    let h = Harness::new();
    let out = h.run(
        &plugin_path("echo"),
        r#"{"operation":"echo","message":"hello"}"#,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["status"], "SUCCEEDED");
    assert_eq!(r["statusDetails"]["message"], "hello");
    assert_eq!(
        r["statusDetails"]["operation"], "echo",
        "operation comes from the document"
    );
    assert!(
        stderr(&out).contains("echoing 2 field(s) of job local-run"),
        "plugin logs go to stderr: {}",
        stderr(&out)
    );
}

#[test]
fn failed_and_rejected_exit_2_with_the_reason() {
    let h = Harness::new();
    let out = h.run(
        &plugin_path("echo"),
        r#"{"fail":{"reason":"disk busy","retryable":true}}"#,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let r = report(&out);
    assert_eq!(r["status"], "FAILED");
    assert_eq!(r["statusDetails"]["reason"], "disk busy");

    let out = h.run(
        &plugin_path("echo"),
        r#"{"fail":{"reason":"wrong board"}}"#,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(report(&out)["status"], "REJECTED");
}

#[test]
fn malformed_document_is_rejected_like_the_agent_would() {
    let h = Harness::new();
    let out = h.run(&plugin_path("echo"), "{not json", &[]);
    assert_eq!(out.status.code(), Some(2));
    let r = report(&out);
    assert_eq!(r["status"], "REJECTED");
    assert!(r["statusDetails"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("job document is not valid JSON"));
}

#[test]
fn a_document_of_exactly_32_kib_runs_and_one_byte_more_is_rejected() {
    let h = Harness::new();
    let out = h.run(&plugin_path("echo"), &document_of(32 * 1024), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report(&out)["status"], "SUCCEEDED");

    let out = h.run(&plugin_path("echo"), &document_of(32 * 1024 + 1), &[]);
    assert_eq!(out.status.code(), Some(2));
    let r = report(&out);
    assert_eq!(r["status"], "REJECTED");
    assert_eq!(
        r["statusDetails"]["reason"],
        "job document is 32769 bytes, over the 32768-byte limit"
    );
}

/// A valid JSON document of exactly `bytes` bytes.
fn document_of(bytes: usize) -> String {
    let doc = format!(r#"{{"pad":"{}"}}"#, "x".repeat(bytes - 10));
    assert_eq!(doc.len(), bytes);
    doc
}

/// A plugin blocked inside a host call ends at its timeout like one that
/// computes: a one-hour WASI sleep, and the open of a FIFO nobody writes
/// to. (The watchdog's reason, "did not stop … abandoned", would mean the
/// deadline did not reach it.) A read of a FIFO does not block: WASI
/// reads files at an offset, which a FIFO refuses at once.
#[test]
fn a_run_blocked_in_a_host_call_ends_at_its_timeout() {
    let h = Harness::new();
    let data = h.files.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let made = Command::new("mkfifo")
        .arg(data.join("fifo"))
        .status()
        .unwrap();
    assert!(made.success());
    let grant = format!("{}:/data", data.display());
    for document in [r#"{"sleep_ms": 3600000}"#, r#"{"read": ["/data/fifo"]}"#] {
        let doc = h.file("blocked.json", document);
        let child = crate::support::jobhost_command()
            .args(["run", "--timeout", "1", "--grant-dir", &grant, "--plugin"])
            .arg(plugin_path("test-probe"))
            .arg("--document")
            .arg(&doc)
            .env("XDG_CACHE_HOME", h.cache.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A guard, not a timing claim: a run the deadline cannot reach
        // would wait an hour (or forever) here.
        let pid = child.id().to_string();
        let (done, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(child.wait_with_output()));
        let Ok(out) = exited.recv_timeout(std::time::Duration::from_secs(90)) else {
            let _ = Command::new("kill").args(["-9", &pid]).status();
            panic!("{document}: jobhost run still waiting for a blocked plugin");
        };
        let out = out.unwrap();
        assert_eq!(out.status.code(), Some(2), "{document}: {}", stderr(&out));
        let r = report(&out);
        assert_eq!(r["status"], "FAILED", "{document}");
        assert_eq!(
            r["statusDetails"]["reason"], "timed out after 1 s",
            "{document}"
        );
    }
}

#[test]
fn trap_is_failed_with_the_trap_message() {
    let h = Harness::new();
    let out = h.run(&plugin_path("test-probe"), r#"{"trap":true}"#, &[]);
    assert_eq!(out.status.code(), Some(2));
    let r = report(&out);
    assert_eq!(r["status"], "FAILED");
    assert!(
        r["statusDetails"]["reason"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{r}"
    );
}

#[test]
fn host_errors_are_one_line_on_stderr_and_exit_1() {
    let h = Harness::new();
    let doc = h.file("doc.json", "{}");
    let cases: [(&Path, &str); 2] = [
        (
            Path::new("/nonexistent/echo.wasm"),
            "cannot read plugin /nonexistent/echo.wasm",
        ),
        (&doc, "is not a WebAssembly file"),
    ];
    for (plugin, expected) in cases {
        let out = h.run(plugin, "{}", &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "nothing on stdout");
        let err = stderr(&out);
        let line = err.lines().last().unwrap_or("");
        assert!(
            line.starts_with("error: ") && line.contains(expected),
            "{err}"
        );
    }

    let out = h.jobhost(&[
        "run",
        "--plugin",
        plugin_path("echo").to_str().unwrap(),
        "--document",
        "/nonexistent/job.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read job document /nonexistent/job.json"));
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let h = Harness::new();
    let out = h.jobhost(&["run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--plugin"));

    let out = h.jobhost(&[
        "run",
        "--plugin",
        "x",
        "--document",
        "y",
        "--grant-dir",
        "/a:../b",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("must not contain `..`"),
        "{}",
        stderr(&out)
    );

    let out = h.jobhost(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--grant-dir") && help.contains("Exit status"),
        "{help}"
    );
}

#[test]
fn checkpoint_file_round_trips_between_runs() {
    let h = Harness::new();
    let checkpoint = h.files.path().join("checkpoint");
    let cp = checkpoint.to_str().unwrap();
    let out = h.run(
        &plugin_path("echo"),
        r#"{"checkpoint":"half-way","fail":{"reason":"power cut","retryable":true}}"#,
        &["--checkpoint", cp],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), "half-way");

    let out = h.run(
        &plugin_path("echo"),
        r#"{"message":"resume"}"#,
        &["--checkpoint", cp],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report(&out)["statusDetails"]["resumedFrom"], "half-way");
}

#[test]
fn grant_dir_is_the_only_filesystem_the_plugin_sees() {
    let h = Harness::new();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("in.txt"), "42").unwrap();
    let grant = format!("{}:/data:ro", data.path().display());
    let out = h.run(
        &plugin_path("test-probe"),
        r#"{"read":["/data/in.txt","/etc/passwd"]}"#,
        &["--grant-dir", &grant],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["statusDetails"]["read:_data_in_txt"], "ok:42");
    assert!(r["statusDetails"]["read:_etc_passwd"]
        .as_str()
        .unwrap()
        .starts_with("err:"));
}

#[test]
fn second_run_uses_the_compiled_cache() {
    let h = Harness::new();
    let echo = plugin_path("echo");
    h.run(&echo, "{}", &[]);
    let entries = || {
        std::fs::read_dir(h.cache.path().join("jobhost"))
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "cwasm")
                })
                .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(entries(), 1, "the first run stores the compiled component");
    let out = crate::support::jobhost_command()
        .args([
            "run",
            "--plugin",
            echo.to_str().unwrap(),
            "--document",
            h.file("d.json", "{}").to_str().unwrap(),
        ])
        .env("XDG_CACHE_HOME", h.cache.path())
        .env("JOBHOST_LOG", "run=debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("cache=Hit"), "{}", stderr(&out));
    assert_eq!(entries(), 1);
}

#[test]
fn pooling_allocator_falls_back_to_on_demand_when_address_space_is_short() {
    // A real constraint, not a flag: under `ulimit -v` (as on 32-bit devices
    // or tight containers) the pool cannot reserve its address space. The
    // harness must still run the job, on on-demand allocation.
    let h = Harness::new();
    let doc = h.file("job.json", r#"{"message":"small"}"#);
    let script = format!(
        "ulimit -v 8000000 && exec '{}' run --plugin '{}' --document '{}'",
        env!("CARGO_BIN_EXE_jobhost"),
        plugin_path("echo").display(),
        doc.display()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("XDG_CACHE_HOME", h.cache.path())
        .env("JOBHOST_LOG", "info")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("pooling allocator unavailable"),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report(&out)["statusDetails"]["message"], "small");
}

#[test]
fn a_reboot_request_is_reported_and_the_checkpoint_resumes_it() {
    let h = Harness::new();
    let checkpoint = h.files.path().join("reboot.checkpoint");
    let checkpoint = checkpoint.to_str().unwrap();
    let doc = r#"{"operation":"reboot","reason":"test"}"#;
    let plugin = plugin_path("reboot");

    // Without the grant the plugin is told no, and says so.
    let out = h.run(&plugin, doc, &["--checkpoint", checkpoint]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["status"], "REJECTED");
    assert!(
        r["statusDetails"]["reason"]
            .as_str()
            .unwrap()
            .contains("not permitted"),
        "{r}"
    );

    let out = h.run(
        &plugin,
        doc,
        &["--allow-reboot", "--checkpoint", checkpoint],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report(&out)["statusDetails"]["rebootRequested"], "test");
    // "After the reboot": the same checkpoint, the second half.
    let out = h.run(
        &plugin,
        doc,
        &["--allow-reboot", "--checkpoint", checkpoint],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report(&out)["statusDetails"]["result"], "rebooted");
}

/// `-V` is the version the diagnostics snapshot reports, with this build's
/// backend as build metadata; `--version` also says in words how plugins
/// run, which an operator needs to know of a 32-bit ARM build.
#[test]
fn version_names_how_this_build_runs_plugins() {
    let h = Harness::new();
    let short = h.jobhost(&["-V"]);
    assert!(short.status.success(), "{short:?}");
    let version = jobhost::version::agent_version();
    assert_eq!(
        String::from_utf8_lossy(&short.stdout),
        format!("jobhost {version}\n")
    );
    let (release, backend) = version.split_once('+').expect("build metadata");
    assert_eq!(release, env!("CARGO_PKG_VERSION"));
    let long = h.jobhost(&["--version"]);
    assert!(long.status.success(), "{long:?}");
    let long = String::from_utf8_lossy(&long.stdout).into_owned();
    let expected_words = match backend {
        "cranelift" => format!("Cranelift (native {} code)", std::env::consts::ARCH),
        pulley => format!("Pulley interpreter ({pulley})"),
    };
    assert!(long.starts_with(&format!("jobhost {version}\n")), "{long}");
    assert!(
        long.contains(&format!(
            "plugins run on wasmtime {}, {expected_words}",
            jobhost::version::WASMTIME_VERSION
        )),
        "{long}"
    );
}
