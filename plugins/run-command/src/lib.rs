//! `run-command`: runs one allow-listed command (AWS-Run-Command).
//!
//! Document: `{"operation": "run-command", "command": ["/usr/bin/df", "-h"]}`
//! or, as the AWS managed template writes it, a comma-separated string
//! `"command": "/usr/bin/df,-h"`; optional `"timeoutSecs"` (default 60,
//! capped by the operator). argv only: no shell ever sees it.
//!
//! Exit code 0 → SUCCEEDED; another exit code or a signal → FAILED; a
//! program the device does not allow → REJECTED. statusDetails: `exitCode`
//! and the LAST 1,000 characters of `stdout` and `stderr` (as the AWS IoT
//! Device Client keeps the end of the output).

use jobhost_sdk::bindings::jobhost::plugin::command;
use jobhost_sdk::{host, log, Failure, HostError, Job, Operation, Outcome};
use serde::Deserialize;

/// Characters of output kept per stream (statusDetails values hold 1024).
const TAIL_CHARS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    #[allow(dead_code)]
    operation: String,
    command: Command,
    timeout_secs: Option<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Command {
    Argv(Vec<String>),
    /// AWS-Run-Command's form: arguments separated by commas.
    CommaSeparated(String),
}

struct RunCommand;

impl Operation for RunCommand {
    fn run(job: Job) -> Result<Outcome, Failure> {
        let doc: Document = job.document()?;
        let argv = match doc.command {
            Command::Argv(argv) => argv,
            Command::CommaSeparated(text) => text.split(',').map(str::to_owned).collect(),
        };
        let Some((program, args)) = argv.split_first().filter(|(p, _)| !p.is_empty()) else {
            return Err(Failure::permanent("`command` is empty"));
        };
        let timeout_ms = doc.timeout_secs.unwrap_or(60).saturating_mul(1000);
        log::info(&format!(
            "running {program} with {} argument(s)",
            args.len()
        ));
        let output = command::run(&command::Request {
            program: program.clone(),
            args: args.to_vec(),
            timeout_ms,
        })
        .map_err(|e| match e {
            HostError::NotPermitted(_) | HostError::InvalidArgument(_) => {
                Failure::permanent(format!("{program}: {}", host::describe(&e)))
            }
            _ => Failure::retryable(format!("{program}: {}", host::describe(&e))),
        })?;
        let stdout = tail(&output.stdout_tail);
        let stderr = tail(&output.stderr_tail);
        match output.exit_code {
            Some(0) => Ok(Outcome::new()
                .detail("exitCode", 0)
                .detail("stdout", stdout)
                .detail("stderr", stderr)),
            code => {
                let reason = match code {
                    Some(c) => format!("{program} exited with code {c}"),
                    None => format!("{program} was killed by a signal"),
                };
                let mut failure = Failure::retryable(reason)
                    .detail("stdout", stdout)
                    .detail("stderr", stderr);
                if let Some(c) = code {
                    failure = failure.detail("exitCode", c);
                }
                Err(failure)
            }
        }
    }
}

/// The last [`TAIL_CHARS`] characters, trimmed; "" stays "" (an empty
/// statusDetails value is dropped by the host).
fn tail(text: &str) -> String {
    let text = text.trim_end();
    let count = text.chars().count();
    text.chars()
        .skip(count.saturating_sub(TAIL_CHARS))
        .collect()
}

jobhost_sdk::export!(RunCommand);
