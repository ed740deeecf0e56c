//! Packages as transient systemd services. jobhost supervises no child
//! process (whatever a plugin runs is killed when the call returns), so a
//! package runs as its own unit, [`crate::names::unit_name`]:
//!
//! - start: `systemd-run --unit=<unit> --working-directory=<device dir>
//!   --collect --service-type=exec -- <launchCommand…>` — `exec` makes
//!   systemd-run return once the program was executed (a missing program
//!   fails here), `--collect` unloads the unit when it ends, failed or
//!   not, so the name is free for the next start;
//! - stop: `systemctl stop <unit>`; exit status 5 (unit not loaded: it was
//!   never started, or has ended and been collected) counts as stopped;
//! - the startup check: wait `startupCheckSecs`, then `systemctl is-active
//!   <unit>` (exit status 0 only while it runs).
//!
//! Programs are named bare, so the host runs the one allow-listed path with
//! that file name, wherever this device keeps it.

use crate::report::{codes, JobError};
use jobhost_sdk::command::{self, Output};
use jobhost_sdk::{host, log, HostError};
use std::time::{Duration, Instant};

/// How long one systemd-run or systemctl call may take (systemd's own
/// default job timeout is 90 s; the operator's `command_timeout_secs`
/// caps this further).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// How often the startup check looks at cancellation while it waits.
const POLL: Duration = Duration::from_millis(200);

/// systemctl's exit status for a unit that is not loaded.
const NOT_LOADED: i32 = 5;

/// Characters of a program's stderr quoted in a message.
const TAIL_CHARS: usize = 300;

/// Where the operator grants programs to this plugin, for refusals.
pub const GRANT_HINT: &str = "run_commands in [plugins.packages]";

/// How a call went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The host refused to run it (not granted, or a malformed request):
    /// no retry can help.
    Refused(String),
    /// It ran and failed, or could not be run to the end; the message says
    /// how, with the end of its stderr.
    Failed(String),
}

impl CallError {
    /// The one-line description.
    pub fn message(&self) -> &str {
        match self {
            CallError::Refused(m) | CallError::Failed(m) => m,
        }
    }

    /// The error to report: a refusal is REJECTED as ERR_SYSTEM_CALL_FAILED
    /// (the device does not grant the program); a failure is `code`, FAILED,
    /// with `message` as `errorMessage` when given (jobs-agent's fixed
    /// text) and the call's own message in the reason.
    pub fn into_error(self, code: &'static str, message: Option<&str>) -> JobError {
        match self {
            CallError::Refused(m) => JobError::rejected(codes::SYSTEM_CALL_FAILED, m),
            CallError::Failed(m) => match message {
                Some(message) => JobError::failed(code, message).because(format!("{message}: {m}")),
                None => JobError::failed(code, m),
            },
        }
    }
}

/// Stops `unit`; one that is not loaded is already stopped.
pub fn stop(unit: &str) -> Result<(), CallError> {
    match call("systemctl", &["stop", unit]) {
        Ok(out) if out.success() || out.exit_code == Some(NOT_LOADED) => Ok(()),
        Ok(out) => Err(CallError::Failed(failed("systemctl stop", unit, &out))),
        Err(e) => Err(e),
    }
}

/// Starts `argv` as `unit` in `device_dir`.
pub fn start(unit: &str, device_dir: &str, argv: &[String]) -> Result<(), CallError> {
    let mut args = vec![
        format!("--unit={unit}"),
        format!("--working-directory={device_dir}"),
        "--collect".to_owned(),
        "--service-type=exec".to_owned(),
        "--".to_owned(),
    ];
    args.extend(argv.iter().cloned());
    match call("systemd-run", &args) {
        Ok(out) if out.success() => Ok(()),
        Ok(out) => Err(CallError::Failed(failed("systemd-run", unit, &out))),
        Err(e) => Err(e),
    }
}

/// Whether `unit` is running: `Ok(None)` when it is, `Ok(Some(state))`
/// with what systemctl says it is otherwise (`inactive`, `failed`, …).
pub fn inactive(unit: &str) -> Result<Option<String>, CallError> {
    let out = call("systemctl", &["is-active", unit])?;
    if out.success() {
        return Ok(None);
    }
    let state = out.stdout_tail.trim();
    Ok(Some(if state.is_empty() {
        "not active".to_owned()
    } else {
        state.to_owned()
    }))
}

/// The job was cancelled while waiting.
#[derive(Debug)]
pub struct Cancelled;

/// Waits `secs` seconds on the monotonic clock, looking at cancellation
/// every [`POLL`] (the host would end the run anyway; this returns first).
pub fn settle(secs: u32) -> Result<(), Cancelled> {
    let until = Instant::now() + Duration::from_secs(u64::from(secs));
    loop {
        if host::cancelled() {
            return Err(Cancelled);
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(POLL));
    }
}

/// Starts `argv` as `unit`, waits `secs` and checks that it still runs:
/// the startup check jobs-agent.js makes with its startup timer.
pub fn start_and_check(
    unit: &str,
    device_dir: &str,
    argv: &[String],
    secs: u32,
) -> Result<(), StartError> {
    start(unit, device_dir, argv).map_err(StartError::Call)?;
    settle(secs).map_err(|Cancelled| StartError::Cancelled)?;
    match inactive(unit).map_err(StartError::Call)? {
        None => Ok(()),
        Some(state) => Err(StartError::Exited(format!(
            "package exited during its {secs} s startup check: {unit} is {state}"
        ))),
    }
}

/// How [`start_and_check`] failed.
#[derive(Debug)]
pub enum StartError {
    /// systemd-run or systemctl failed or was refused.
    Call(CallError),
    /// The unit did not stay active; the message says what it is.
    Exited(String),
    /// The job was cancelled during the check.
    Cancelled,
}

impl StartError {
    /// The error to report, as `code` unless the host refused the call.
    pub fn into_error(self, code: &'static str) -> JobError {
        match self {
            StartError::Call(e) => e.into_error(code, None),
            StartError::Exited(m) => JobError::failed(code, m),
            StartError::Cancelled => JobError::failed(code, "the job was cancelled"),
        }
    }
}

fn call<S: AsRef<str>>(program: &str, args: &[S]) -> Result<Output, CallError> {
    log::info(&format!(
        "running {program} {}",
        args.first().map_or("", |a| a.as_ref())
    ));
    command::run(program, args, CALL_TIMEOUT).map_err(|e| match e {
        HostError::NotPermitted(_) | HostError::InvalidArgument(_) => CallError::Refused(format!(
            "{program}: {} (grant it in {GRANT_HINT})",
            host::describe(&e)
        )),
        other => CallError::Failed(format!("{program}: {}", host::describe(&other))),
    })
}

/// `<what> <unit> exited with code N: <end of stderr>`.
fn failed(what: &str, unit: &str, out: &Output) -> String {
    let status = match out.exit_code {
        Some(code) => format!("exited with code {code}"),
        None => "was killed by a signal".to_owned(),
    };
    let tail = out.failure_tail(TAIL_CHARS);
    if tail.is_empty() {
        format!("{what} {unit} {status}")
    } else {
        format!("{what} {unit} {status}: {tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_unit_and_quotes_the_end_of_stderr() {
        let out = Output {
            exit_code: Some(1),
            stdout_tail: String::new(),
            stderr_tail: "Job failed.\nSee journalctl -xe\n".into(),
        };
        assert_eq!(
            failed("systemctl stop", "jobhost-package-web.service", &out),
            "systemctl stop jobhost-package-web.service exited with code 1: Job failed. / See journalctl -xe"
        );
        let killed = Output {
            exit_code: None,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
        };
        assert_eq!(
            failed("systemd-run", "u", &killed),
            "systemd-run u was killed by a signal"
        );
    }

    #[test]
    fn a_refusal_is_rejected_and_a_failure_keeps_jobs_agents_message() {
        let refused = CallError::Refused("systemctl: not permitted".into())
            .into_error(codes::UNABLE_TO_STOP_PACKAGE, None);
        assert_eq!(refused.code, codes::SYSTEM_CALL_FAILED);
        assert!(!refused.retryable);
        let failed = CallError::Failed("systemctl stop u exited with code 1".into()).into_error(
            codes::UNABLE_TO_STOP_PACKAGE,
            Some("unable to stop package for restart"),
        );
        assert_eq!(failed.code, codes::UNABLE_TO_STOP_PACKAGE);
        assert!(failed.retryable);
        assert_eq!(failed.message, "unable to stop package for restart");
        assert_eq!(
            failed.reason,
            "unable to stop package for restart: systemctl stop u exited with code 1"
        );
    }
}
