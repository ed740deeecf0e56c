//! The runtime and executor through real components built from this
//! repository's source (plugins/echo, plugins/tests/probe) and real wasmtime.

use crate::support;

/// Runs blocked inside host calls (deadline and cancellation).
mod blocked;

use jobhost::executor::{self, CancelToken, Conclusion, Observer};
use jobhost::runtime::{CompiledPlugin, DirGrant, ExecutionLimits, LoadError, Sandbox};
use jobhost_protocol::{StatusDetails, TerminalStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{execution, load, plugin_path, run, run_with, runtime};

#[test]
fn echo_succeeds_with_its_document_as_status_details() {
    let echo = load("echo");
    let report = run(
        &echo,
        r#"{"operation":"echo","message":"hi","n":3,"nested":{"a":[1,2]}}"#,
    );
    assert_eq!(report.status, TerminalStatus::Succeeded);
    let d = &report.status_details;
    assert_eq!(d.get("message"), Some("hi"));
    assert_eq!(d.get("n"), Some("3"));
    assert_eq!(d.get("nested"), Some(r#"{"a":[1,2]}"#));
    assert_eq!(
        d.get("operation"),
        Some("test"),
        "the routed operation is handed to the plugin"
    );
    assert_eq!(d.get("executionNumber"), Some("1"));
    assert_eq!(d.get("reason"), None);
}

#[test]
fn retryable_failure_is_failed_and_permanent_is_rejected() {
    let echo = load("echo");
    let failed = run(
        &echo,
        r#"{"fail":{"reason":"network down","retryable":true}}"#,
    );
    assert_eq!(failed.status, TerminalStatus::Failed);
    assert_eq!(failed.reason(), Some("network down"));
    assert_eq!(
        failed.status_details.get("operation"),
        Some("test"),
        "plugin details are kept"
    );

    let rejected = run(
        &echo,
        r#"{"fail":{"reason":"unsupported board","retryable":false}}"#,
    );
    assert_eq!(rejected.status, TerminalStatus::Rejected);
    assert_eq!(rejected.reason(), Some("unsupported board"));
}

#[test]
fn document_the_plugin_cannot_parse_is_rejected_by_the_sdk() {
    let echo = load("echo");
    // Valid JSON, but echo wants an object.
    let report = run(&echo, "[1,2]");
    assert_eq!(report.status, TerminalStatus::Rejected);
    assert!(
        report
            .reason()
            .unwrap_or("")
            .starts_with("invalid job document"),
        "{report:?}"
    );
}

#[test]
fn malformed_or_oversized_documents_are_rejected_before_the_plugin_runs() {
    let echo = load("echo");
    let report = run(&echo, r#"{"operation": "echo", "#);
    assert_eq!(report.status, TerminalStatus::Rejected);
    assert!(
        report.reason().unwrap_or("").contains("not valid JSON"),
        "{report:?}"
    );

    // AWS IoT's limit, to the byte: 32 KiB runs, one byte more does not.
    let document_of = |bytes: usize| {
        let doc = format!(r#"{{"pad":"{}"}}"#, "x".repeat(bytes - 10));
        assert_eq!(doc.len(), bytes);
        doc
    };
    let report = run(&echo, &document_of(32 * 1024));
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    let report = run(&echo, &document_of(32 * 1024 + 1));
    assert_eq!(report.status, TerminalStatus::Rejected);
    assert_eq!(
        report.reason(),
        Some("job document is 32769 bytes, over the 32768-byte limit"),
        "{report:?}"
    );
}

#[test]
fn trap_is_failed_with_the_trap_message() {
    let probe = load("test-probe");
    let report = run(&probe, r#"{"trap":true}"#);
    assert_eq!(report.status, TerminalStatus::Failed);
    let reason = report.reason().unwrap_or("");
    assert!(
        reason.starts_with("plugin trapped:") && reason.contains("unreachable"),
        "{reason}"
    );
}

#[test]
fn panic_is_failed_and_its_message_is_reported() {
    let probe = load("test-probe");
    let report = run(&probe, r#"{"panic":"sensor 7 exploded"}"#);
    assert_eq!(report.status, TerminalStatus::Failed);
    assert!(
        report.reason().unwrap_or("").starts_with("plugin trapped:"),
        "{report:?}"
    );
    let last = report.status_details.get("lastError").unwrap_or("");
    assert!(
        last.contains("plugin panicked") && last.contains("sensor 7 exploded"),
        "{last}"
    );
}

/// Keeps what the plugin reported, for assertions after the run.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<(Vec<StatusDetails>, Vec<String>)>>);

impl Observer for Recorder {
    fn progress(&mut self, details: &StatusDetails) {
        self.0.lock().unwrap().0.push(details.clone());
    }
    fn checkpoint(&mut self, state: &str) -> Result<(), String> {
        self.0.lock().unwrap().1.push(state.to_owned());
        Ok(())
    }
}

#[test]
fn checkpoint_is_saved_then_handed_back_on_the_next_attempt() {
    let echo = load("echo");
    let recorder = Recorder::default();
    // First attempt: checkpoints, reports progress, then fails retryably,
    // as an attempt cut short by a reboot or power loss would.
    let first = execution(
        r#"{"checkpoint":"step-2","progress":"40%","fail":{"reason":"interrupted","retryable":true}}"#,
    );
    let report = run_with(
        &echo,
        &first,
        &Sandbox::empty(),
        &ExecutionLimits::default(),
        Box::new(recorder.clone()),
    );
    assert_eq!(report.status, TerminalStatus::Failed);
    let (progress, checkpoints) = recorder.0.lock().unwrap().clone();
    assert_eq!(checkpoints, vec!["step-2".to_owned()]);
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].get("progress"), Some("40%"));

    // Second attempt: the host hands the checkpoint back.
    let mut second = execution(r#"{"message":"again"}"#);
    second.checkpoint = checkpoints.last().cloned();
    let report = run_with(
        &echo,
        &second,
        &Sandbox::empty(),
        &ExecutionLimits::default(),
        Box::new(Recorder::default()),
    );
    assert_eq!(report.status, TerminalStatus::Succeeded);
    assert_eq!(report.status_details.get("resumedFrom"), Some("step-2"));
}

#[test]
fn oversized_or_control_character_checkpoints_are_refused_to_the_plugin() {
    let echo = load("echo");
    let big = format!(r#"{{"checkpoint":"{}"}}"#, "c".repeat(1025));
    let report = run(&echo, &big);
    // The SDK maps `limit-exceeded` to a retryable failure.
    assert_eq!(report.status, TerminalStatus::Failed);
    assert!(
        report
            .reason()
            .unwrap_or("")
            .contains("checkpoint is 1025 bytes"),
        "{report:?}"
    );

    let report = run(&echo, r#"{"checkpoint":"line1\nline2"}"#);
    assert_eq!(report.status, TerminalStatus::Rejected);
    assert!(
        report.reason().unwrap_or("").contains("control"),
        "{report:?}"
    );
}

#[test]
fn granted_directory_is_visible_and_nothing_outside_it() {
    let probe = load("test-probe");
    let granted = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(granted.path().join("config.txt"), "granted-content").unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    let sandbox = Sandbox {
        dirs: vec![format!("{}:/data", granted.path().display())
            .parse::<DirGrant>()
            .unwrap()],
        download: None,
        command: None,
        reboot: false,
        ..Sandbox::empty()
    };
    let secret = outside.path().join("secret.txt");
    let doc = serde_json::json!({
        "write": [{"path": "/data/out.txt", "content": "from-plugin"}],
        "read": ["/data/config.txt", "/data/../secret.txt", secret.to_str().unwrap(), "/etc/hostname"],
        "list": ["/data", "/"],
    });
    let report = run_with(
        &probe,
        &execution(&doc.to_string()),
        &sandbox,
        &ExecutionLimits::default(),
        Box::new(Recorder::default()),
    );
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    // Probe keys are `<verb>:<path>`, sanitised like every statusDetails key.
    let d = |probe: &str| {
        let (one, _) = StatusDetails::from_pairs([(probe, "x")]);
        let key = one.iter().next().unwrap().0.to_owned();
        report
            .status_details
            .get(&key)
            .unwrap_or_else(|| panic!("no {probe} in {report:?}"))
            .to_owned()
    };
    assert_eq!(d("read:/data/config.txt"), "ok:granted-content");
    assert_eq!(d("write:/data/out.txt"), "ok:written");
    assert_eq!(
        std::fs::read_to_string(granted.path().join("out.txt")).unwrap(),
        "from-plugin"
    );
    assert_eq!(d("list:/data"), "ok:config.txt,out.txt");
    for escape in [
        "read:/data/../secret.txt",
        &format!("read:{}", secret.display()),
        "read:/etc/hostname",
        "list:/",
    ] {
        let value = d(escape);
        assert!(value.starts_with("err:"), "{escape} must fail, got {value}");
    }
}

#[test]
fn read_only_grant_refuses_writes() {
    let probe = load("test-probe");
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox {
        dirs: vec![format!("{}:/ro:ro", dir.path().display())
            .parse::<DirGrant>()
            .unwrap()],
        download: None,
        command: None,
        reboot: false,
        ..Sandbox::empty()
    };
    let doc = r#"{"write":[{"path":"/ro/x.txt","content":"nope"}],"list":["/ro"]}"#;
    let report = run_with(
        &probe,
        &execution(doc),
        &sandbox,
        &ExecutionLimits::default(),
        Box::new(Recorder::default()),
    );
    assert_eq!(report.status, TerminalStatus::Succeeded);
    assert!(
        report
            .status_details
            .get("write:_ro_x_txt")
            .unwrap_or("")
            .starts_with("err:"),
        "{report:?}"
    );
    assert!(!dir.path().join("x.txt").exists());
    assert_eq!(report.status_details.get("list:_ro"), Some("ok:"));
}

#[test]
fn missing_granted_directory_fails_the_execution_with_a_reason() {
    let echo = load("echo");
    let sandbox = Sandbox {
        dirs: vec!["/nonexistent/jobhost-test:/data"
            .parse::<DirGrant>()
            .unwrap()],
        download: None,
        command: None,
        reboot: false,
        ..Sandbox::empty()
    };
    let report = run_with(
        &echo,
        &execution("{}"),
        &sandbox,
        &ExecutionLimits::default(),
        Box::new(Recorder::default()),
    );
    assert_eq!(report.status, TerminalStatus::Failed);
    assert!(
        report
            .reason()
            .unwrap_or("")
            .contains("/nonexistent/jobhost-test"),
        "{report:?}"
    );
}

#[test]
fn endless_loop_is_stopped_at_the_timeout() {
    let probe = load("test-probe");
    let limits = ExecutionLimits {
        timeout: Duration::from_millis(200),
        ..ExecutionLimits::default()
    };
    let report = run_with(
        &probe,
        &execution(r#"{"spin":true}"#),
        &Sandbox::empty(),
        &limits,
        Box::new(Recorder::default()),
    );
    assert_eq!(report.status, TerminalStatus::Failed);
    assert_eq!(report.reason(), Some("timed out after 0.2 s"));
}

/// Signals on the plugin's first progress report: proof that the plugin is
/// running, not merely that `execute` was called.
struct StartSignal(Option<std::sync::mpsc::Sender<()>>);

impl Observer for StartSignal {
    fn progress(&mut self, _details: &StatusDetails) {
        if let Some(started) = self.0.take() {
            let _ = started.send(());
        }
    }
    fn checkpoint(&mut self, _state: &str) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn cancellation_interrupts_a_running_plugin_and_reports_nothing() {
    // The plugin waits for a file that never appears, reporting progress
    // every 100 ms; only cancellation can end it before its deadline. The
    // deadline is ten minutes and the guard 20 s: if cancellation did not
    // interrupt the plugin, the result would come at the deadline (and the
    // executor would still say `Cancelled`, since the token is set), so
    // the time bound is what tells the two apart. docs/agent.md promises
    // the next 10 ms epoch tick; 20 s is only a guard for a loaded machine.
    const DEADLINE: Duration = Duration::from_secs(600);
    const GUARD: Duration = Duration::from_secs(20);
    let probe = load("test-probe");
    let cancel = CancelToken::new();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let limits = ExecutionLimits {
        timeout: DEADLINE,
        ..ExecutionLimits::default()
    };
    let token = cancel.clone();
    std::thread::spawn(move || {
        let conclusion = support::block_on(executor::execute(
            &runtime(),
            &probe,
            &execution(r#"{"wait_for":"/never","heartbeat":true}"#),
            &Sandbox::empty(),
            &limits,
            Box::new(StartSignal(Some(started_tx))),
            token,
        ));
        let _ = done_tx.send(conclusion);
    });
    // Cancel only once the plugin is running (its first progress report).
    started_rx
        .recv_timeout(GUARD)
        .expect("the plugin reported its first progress");
    cancel.cancel();
    let conclusion = done_rx.recv_timeout(GUARD).unwrap_or_else(|_| {
        panic!("the cancelled plugin still ran {GUARD:?} later (its deadline is {DEADLINE:?})")
    });
    assert_eq!(conclusion, Conclusion::Cancelled);
}

#[test]
fn memory_limit_is_enforced() {
    let probe = load("test-probe");
    let limits = ExecutionLimits {
        memory_bytes: 16 << 20,
        ..ExecutionLimits::default()
    };
    let ok = run_with(
        &probe,
        &execution(r#"{"allocate_mib":4}"#),
        &Sandbox::empty(),
        &limits,
        Box::new(Recorder::default()),
    );
    assert_eq!(ok.status, TerminalStatus::Succeeded, "{ok:?}");
    let bomb = run_with(
        &probe,
        &execution(r#"{"allocate_mib":64}"#),
        &Sandbox::empty(),
        &limits,
        Box::new(Recorder::default()),
    );
    assert_eq!(bomb.status, TerminalStatus::Failed);
    assert!(bomb.reason().unwrap_or("").contains("memory"), "{bomb:?}");
}

#[test]
fn not_wasm_core_module_and_wrong_world_are_refused_with_precise_errors() {
    let rt = runtime();
    let err = CompiledPlugin::from_unverified_bytes(&rt, "text", b"#!/bin/sh\necho hi\n")
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::NotWasm { .. }), "{err}");

    let core = wat::parse_str("(module)").unwrap();
    let err = CompiledPlugin::from_unverified_bytes(&rt, "core", &core)
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::CoreModule { .. }), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"));

    let empty = wat::parse_str("(component)").unwrap();
    let err = CompiledPlugin::from_unverified_bytes(&rt, "empty", &empty)
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err}");
    assert!(!err.to_string().contains('\n'));

    let foreign = wat::parse_str(r#"(component (import "evil:net/socket" (func)))"#).unwrap();
    let err = CompiledPlugin::from_unverified_bytes(&rt, "foreign", &foreign)
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err}");
    assert!(err.to_string().contains("evil:net/socket"), "{err}");

    let mut truncated = std::fs::read(plugin_path("echo")).unwrap();
    truncated.truncate(truncated.len() / 2);
    let err = CompiledPlugin::from_unverified_bytes(&rt, "truncated", &truncated)
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");

    let err =
        CompiledPlugin::load_unverified_file(&rt, std::path::Path::new("/nonexistent/plugin.wasm"))
            .err()
            .unwrap();
    assert!(matches!(err, LoadError::Read { .. }), "{err}");
}

#[test]
fn capabilities_are_denied_by_default() {
    // Without grants (an empty sandbox), download, run-command and
    // request-reboot must all refuse with `not-permitted`, naming the
    // capability, and do nothing.
    let probe = load("test-probe");
    let report = run(&probe, r#"{"capabilities":true}"#);
    assert_eq!(report.status, TerminalStatus::Succeeded);
    for (key, capability) in [
        ("capability:download", "download"),
        ("capability:command", "run-command"),
        ("capability:reboot", "reboot"),
    ] {
        let value = report.status_details.get(key).unwrap_or_default();
        assert_eq!(
            value,
            format!("err:not permitted: the `{capability}` capability is not granted to plugin test-probe")
        );
    }
}
