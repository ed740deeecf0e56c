//! The `run-command` capability through the real test-probe component and
//! real processes: allow-list, argv without a shell, cleared environment,
//! bounded output, and a child (with whatever it started) that never
//! outlives its timeout, the job's cancellation or the run's deadline.
//!
//! Waiting happens by polling for a condition with a generous bound, never
//! by sleeping a fixed time; timing assertions only prove "killed rather
//! than waited 30 s".

use crate::support;

use jobhost::executor::{self, CancelToken, Conclusion, NullObserver, Report};
use jobhost::runtime::{CommandGrant, ExecutionLimits, Sandbox};
use jobhost_protocol::TerminalStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use support::{execution, load, run_with};

/// Far below the 30 s the blocking programs would take if not killed.
const KILLED_WITHIN: Duration = Duration::from_secs(10);

fn sandbox(programs: &[&str]) -> Sandbox {
    Sandbox {
        command: Some(CommandGrant::new(
            programs.iter().map(|p| (*p).to_owned()).collect(),
        )),
        ..Sandbox::empty()
    }
}

fn document(program: &str, args: &[&str], timeout_ms: u32) -> String {
    serde_json::json!({"command": {"program": program, "args": args, "timeout_ms": timeout_ms}})
        .to_string()
}

/// Runs the probe's `command` and returns its report.
fn run_command(
    sandbox: &Sandbox,
    program: &str,
    args: &[&str],
    timeout_ms: u32,
    limits: &ExecutionLimits,
) -> Report {
    run_with(
        &load("test-probe"),
        &execution(&document(program, args, timeout_ms)),
        sandbox,
        limits,
        Box::new(NullObserver::default()),
    )
}

/// What the probe reported: `ok:<exit>|<stdout>|<stderr>` or `err:<error>`
/// (newlines shown as spaces, as statusDetails carry them).
fn command(sandbox: &Sandbox, program: &str, args: &[&str]) -> String {
    let report = run_command(sandbox, program, args, 10_000, &ExecutionLimits::default());
    reported(&report)
}

fn reported(report: &Report) -> String {
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    report
        .status_details
        .get("command")
        .unwrap_or_else(|| panic!("no `command` in {report:?}"))
        .to_owned()
}

/// A `sleep` argument no other process has, to find that process in /proc.
fn unique_seconds() -> String {
    static N: AtomicU32 = AtomicU32::new(1);
    format!(
        "30.{}{:04}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The pid of a process whose argv contains `arg`.
fn find_process(arg: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            cmdline
                .split(|b| *b == 0)
                .any(|a| a == arg.as_bytes())
                .then_some(pid)
        })
}

/// Gone, or a zombie waiting for its (new) parent to reap it: either way
/// it runs no more.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Compiles the probe (into the binary's cache) before a test starts its
/// clock, so that the clock measures the command, not the compiler.
fn warm_up() {
    load("test-probe");
}

/// Polls `condition` until it holds or `within` passes.
fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

#[test]
fn an_allowed_program_runs_with_its_exit_code_and_output() {
    let s = sandbox(&["/bin/echo", "/bin/ls"]);
    assert_eq!(
        command(&s, "/bin/echo", &["hello", "world"]),
        "ok:0|hello world|"
    );
    let listed = command(&s, "/bin/ls", &["/nonexistent-jobhost-test"]);
    assert!(
        listed.starts_with("ok:2||") && listed.contains("nonexistent-jobhost-test"),
        "exit 2 and the message on stderr: {listed}"
    );
    // A bare name is the file name of exactly one listed path.
    assert_eq!(command(&s, "echo", &["by", "name"]), "ok:0|by name|");
}

#[test]
fn programs_off_the_allow_list_are_not_permitted() {
    let s = sandbox(&["/bin/echo"]);
    for program in [
        "/usr/bin/id",
        "id",
        "/bin/sh",
        "/bin/sh -c id",
        "ls; rm -rf /",
        "/bin/echo; id",
        "/bin/../bin/echo",
        "/usr/bin/echo",
        "./echo",
    ] {
        let got = command(&s, program, &[]);
        assert!(
            got.starts_with("err:not permitted:") && got.contains("allow-list"),
            "{program:?}: {got}"
        );
    }
    let two = sandbox(&["/bin/echo", "/usr/bin/echo"]);
    let got = command(&two, "echo", &[]);
    assert!(
        got.starts_with("err:invalid argument:") && got.contains("absolute path"),
        "an ambiguous name: {got}"
    );
    let got = command(&Sandbox::empty(), "/bin/echo", &["x"]);
    assert!(
        got.starts_with("err:not permitted:") && got.contains("`run-command` capability"),
        "no grant at all: {got}"
    );
}

#[test]
fn shell_metacharacters_in_arguments_are_passed_literally() {
    let s = sandbox(&["/bin/echo"]);
    let args = [
        "a;b $(id)",
        "`id`",
        "|",
        "&&",
        "*",
        "'q'",
        "$HOME",
        ">/tmp/x",
    ];
    assert_eq!(
        command(&s, "/bin/echo", &args),
        format!("ok:0|{}|", args.join(" "))
    );
}

#[test]
fn malformed_requests_are_invalid_arguments() {
    let s = sandbox(&["/bin/echo"]);
    for (program, args) in [
        ("/bin/echo", vec!["a\0b"]),
        ("/bin/ec\0ho", vec![]),
        ("", vec![]),
    ] {
        let got = command(&s, program, &args);
        assert!(
            got.starts_with("err:invalid argument:"),
            "{program:?}: {got}"
        );
    }
    let many: Vec<String> = (0..2000).map(|i| i.to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let got = command(&s, "/bin/echo", &many);
    assert!(got.contains("at most 1024"), "{got}");
    let report = run_command(&s, "/bin/echo", &["x"], 0, &ExecutionLimits::default());
    assert!(reported(&report).contains("timeout-ms"), "{report:?}");
}

#[test]
fn the_environment_is_cleared_and_nothing_is_inherited() {
    let s = sandbox(&["/usr/bin/env", "/bin/pwd", "/bin/cat"]);
    assert_eq!(
        command(&s, "/usr/bin/env", &[]),
        "ok:0|PATH=/usr/sbin:/usr/bin:/sbin:/bin|"
    );
    assert_eq!(command(&s, "/bin/pwd", &[]), "ok:0|/|");
    assert_eq!(command(&s, "/bin/cat", &[]), "ok:0||", "stdin is /dev/null");
}

#[test]
fn a_missing_program_fails() {
    let s = sandbox(&["/nonexistent/jobhost-test-program"]);
    let got = command(&s, "/nonexistent/jobhost-test-program", &[]);
    assert!(got.starts_with("err:failed: cannot start"), "{got}");
}

#[test]
fn the_timeout_kills_the_program() {
    let s = sandbox(&["/bin/sleep"]);
    warm_up();
    let seconds = unique_seconds();
    let started = Instant::now();
    let report = run_command(
        &s,
        "/bin/sleep",
        &[&seconds],
        300,
        &ExecutionLimits::default(),
    );
    let got = reported(&report);
    assert!(
        started.elapsed() < KILLED_WITHIN,
        "waited {:?}",
        started.elapsed()
    );
    assert!(
        got.starts_with("err:limit exceeded:") && got.contains("timed out after 300 ms"),
        "{got}"
    );
    assert_eq!(find_process(&seconds), None, "killed and reaped");

    // The operator's cap wins over a longer request.
    let capped = Sandbox {
        command: Some(CommandGrant {
            timeout: Duration::from_millis(300),
            ..CommandGrant::new(vec!["/bin/sleep".into()])
        }),
        ..Sandbox::empty()
    };
    let started = Instant::now();
    let report = run_command(
        &capped,
        "/bin/sleep",
        &[&seconds],
        60_000,
        &ExecutionLimits::default(),
    );
    assert!(started.elapsed() < KILLED_WITHIN);
    assert!(
        reported(&report).contains("command_timeout_secs"),
        "{report:?}"
    );
}

#[test]
fn cancelling_the_job_kills_the_program() {
    let s = sandbox(&["/bin/sleep"]);
    warm_up();
    let seconds = unique_seconds();
    let cancel = CancelToken::new();
    let canceller = {
        let (cancel, seconds) = (cancel.clone(), seconds.clone());
        std::thread::spawn(move || {
            let found = eventually(Duration::from_secs(30), || find_process(&seconds).is_some());
            cancel.cancel();
            found
        })
    };
    let started = Instant::now();
    let conclusion = support::block_on(executor::execute(
        &support::runtime(),
        &load("test-probe"),
        &execution(&document("/bin/sleep", &[&seconds], 60_000)),
        &s,
        &ExecutionLimits::default(),
        Box::new(NullObserver::default()),
        cancel,
    ));
    assert!(canceller.join().unwrap(), "the program never started");
    assert!(matches!(conclusion, Conclusion::Cancelled));
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(find_process(&seconds), None, "killed and reaped");
}

#[test]
fn the_execution_deadline_kills_the_program() {
    let s = sandbox(&["/bin/sleep"]);
    warm_up();
    let seconds = unique_seconds();
    let limits = ExecutionLimits {
        timeout: Duration::from_millis(500),
        ..ExecutionLimits::default()
    };
    let started = Instant::now();
    let report = run_command(&s, "/bin/sleep", &[&seconds], 60_000, &limits);
    assert!(
        started.elapsed() < KILLED_WITHIN,
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(report.status, TerminalStatus::Failed, "{report:?}");
    assert!(
        report
            .reason()
            .unwrap_or("")
            .contains("timed out after 0.5 s"),
        "{report:?}"
    );
    assert_eq!(find_process(&seconds), None, "killed and reaped");
}

#[test]
fn only_the_tail_of_the_output_is_kept() {
    let s = Sandbox {
        command: Some(CommandGrant {
            output_bytes: 64,
            ..CommandGrant::new(vec!["/usr/bin/seq".into()])
        }),
        ..Sandbox::empty()
    };
    // ~15 MB of "1\n2\n…2000000\n".
    let got = command(&s, "/usr/bin/seq", &["1", "2000000"]);
    let stdout = got
        .strip_prefix("ok:0|")
        .and_then(|rest| rest.strip_suffix('|'))
        .unwrap_or_else(|| panic!("{got}"));
    assert!(stdout.ends_with("1999999 2000000"), "{stdout}");
    assert!(stdout.len() <= 64, "{} bytes kept: {stdout}", stdout.len());
}

/// Peak resident memory of this test process, KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_gigabyte_of_output_costs_a_fixed_buffer() {
    let s = sandbox(&["/usr/bin/head"]);
    let before = peak_rss_kib();
    let report = run_command(
        &s,
        "/usr/bin/head",
        &["-c", "1000000000", "/dev/zero"],
        60_000,
        &ExecutionLimits::default(),
    );
    // NUL bytes are control characters: all stripped from the tail.
    assert_eq!(reported(&report), "ok:0||");
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 256,
        "peak memory grew {grown_mib} MiB for 1000 MiB of output"
    );
}

#[test]
fn what_the_program_started_dies_with_it() {
    let s = sandbox(&["/bin/sh"]);
    warm_up();
    // The shell exits at once; the sleeper it left would hold stdout open
    // for 30 s.
    let started = Instant::now();
    let got = command(&s, "/bin/sh", &["-c", "/bin/sleep 30 & echo $!"]);
    assert!(
        started.elapsed() < KILLED_WITHIN,
        "waited {:?}",
        started.elapsed()
    );
    let pid: u32 = got
        .strip_prefix("ok:0|")
        .and_then(|rest| rest.strip_suffix('|'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{got}"));
    assert!(
        eventually(KILLED_WITHIN, || is_dead(pid)),
        "the background sleep {pid} survived"
    );
}

#[test]
fn cancelling_kills_grandchildren_too() {
    let s = sandbox(&["/bin/sh"]);
    warm_up();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!(
        "/bin/sleep 30 & echo $! > {}.tmp && mv {0}.tmp {0}; /bin/sleep 30",
        pid_file.display()
    );
    let cancel = CancelToken::new();
    let canceller = {
        let (cancel, pid_file) = (cancel.clone(), pid_file.clone());
        std::thread::spawn(move || {
            let found = eventually(Duration::from_secs(30), || pid_file.exists());
            cancel.cancel();
            found
        })
    };
    let started = Instant::now();
    let conclusion = support::block_on(executor::execute(
        &support::runtime(),
        &load("test-probe"),
        &execution(&document("/bin/sh", &["-c", &script], 60_000)),
        &s,
        &ExecutionLimits::default(),
        Box::new(NullObserver::default()),
        cancel,
    ));
    assert!(canceller.join().unwrap(), "the script never started");
    assert!(matches!(conclusion, Conclusion::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(25));
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        eventually(KILLED_WITHIN, || is_dead(pid)),
        "the grandchild sleep {pid} survived"
    );
}

#[test]
fn jobhost_run_grants_with_allow_command_and_logs_no_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("job.json");
    std::fs::write(&doc, document("echo", &["secret-token-42"], 10_000)).unwrap();
    let jobhost = |extra: &[&str]| {
        crate::support::jobhost_command()
            .args(["run", "--no-cache", "--plugin"])
            .arg(support::plugin_path("test-probe"))
            .arg("--document")
            .arg(&doc)
            .args(extra)
            .env("JOBHOST_LOG", "info")
            .output()
            .unwrap()
    };
    let out = jobhost(&["--allow-command", "/bin/echo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["statusDetails"]["command"], "ok:0|secret-token-42|",
        "{stdout}"
    );
    assert!(
        stderr.contains("ran /bin/echo (1 args): exit 0"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-token-42"), "{stderr}");

    let out = jobhost(&[]);
    let report: serde_json::Value =
        serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let got = report["statusDetails"]["command"].as_str().unwrap();
    assert!(got.starts_with("err:not permitted:"), "{got}");

    let out = jobhost(&["--allow-command", "echo"]);
    assert_eq!(out.status.code(), Some(1), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("absolute path"));
}
