//! Running the device's programs (systemctl, the health check, the package
//! manager) through the host's `command` import, and turning what happened
//! into one line a person can act on.

use jobhost_sdk::command::{self, Output};
use jobhost_sdk::{host, log, Failure, HostError};
use std::time::Duration;

/// Characters of stderr (or stdout, when stderr is empty) quoted in a
/// reason or a statusDetails value (which hold 1024).
pub const TAIL_CHARS: usize = 400;

/// Where the operator grants programs to this plugin, for refusals.
pub const GRANT_HINT: &str = "run_commands in [plugins.application]";

/// How a program run went wrong.
#[derive(Debug)]
pub enum Ran {
    /// The host refused to run it: not granted (`NotPermitted`) or the
    /// request is malformed or ambiguous (`InvalidArgument`). Retrying
    /// cannot help.
    Refused(HostError),
    /// It ran and exited non-zero, was killed, timed out, or could not
    /// start. The message says which; `tail` is the end of its output.
    Failed { message: String, tail: String },
}

impl Ran {
    /// The one-line description of what went wrong.
    pub fn message(&self) -> String {
        match self {
            Ran::Refused(e) => host::describe(e),
            Ran::Failed { message, tail } if tail.is_empty() => message.clone(),
            Ran::Failed { message, tail } => format!("{message}: {tail}"),
        }
    }

    /// The failure to report, REJECTED for a refusal and FAILED otherwise,
    /// with `context` in front of the message.
    pub fn into_failure(self, context: &str) -> Failure {
        let reason = format!("{context}: {}", self.message());
        match self {
            Ran::Refused(_) => Failure::permanent(reason),
            Ran::Failed { .. } => Failure::retryable(reason),
        }
    }
}

/// Runs `program` with `args` for at most `timeout`; `Ok` only when it
/// exited 0. Arguments are not logged (a health check's may carry a token).
pub fn run(program: &str, args: &[&str], timeout: Duration) -> Result<Output, Ran> {
    log::info(&format!(
        "running {program} with {} argument(s)",
        args.len()
    ));
    match command::run(program, args, timeout) {
        Ok(out) if out.success() => Ok(out),
        Ok(out) => {
            let message = match out.exit_code {
                Some(code) => format!("{program} exited with code {code}"),
                None => format!("{program} was killed by a signal"),
            };
            let tail = output_tail(&out);
            Err(Ran::Failed { message, tail })
        }
        Err(e @ (HostError::NotPermitted(_) | HostError::InvalidArgument(_))) => {
            Err(Ran::Refused(e))
        }
        Err(e) => Err(Ran::Failed {
            message: format!("{program}: {}", host::describe(&e)),
            tail: String::new(),
        }),
    }
}

/// The end of stderr, or of stdout when stderr is empty: where programs
/// put the line that explains a failure ([`TAIL_CHARS`] of it, one line).
pub fn output_tail(out: &Output) -> String {
    out.failure_tail(TAIL_CHARS)
}

/// `systemctl <verb> <service>`: the one way this plugin touches systemd.
/// `systemctl` is named bare, so the host runs the one allow-listed path
/// whose file name it is, wherever this device keeps it.
pub fn systemctl(verb: &str, service: &str) -> Result<(), Ran> {
    run("systemctl", &[verb, service], SYSTEMCTL_TIMEOUT).map(|_| ())
}

/// How long one systemctl call may take (systemd's own default job timeout
/// is 90 s; the operator's `command_timeout_secs` caps this further).
pub const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(120);
