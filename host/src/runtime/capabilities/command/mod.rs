//! `jobhost:plugin/command`: running a program the operator allow-listed.
//!
//! Deny by default: without a `run-command` grant every call is refused.
//! With one, the request's `program` must be exactly a listed absolute path,
//! or the file name of exactly one listed path (see
//! [`CommandGrant::program_for`]); nothing is ever looked up in `PATH`.
//!
//! The program runs with:
//! - its arguments as argv, never through a shell, so `;`, `$(…)` and
//!   quotes in an argument reach the program literally;
//! - a cleared environment except `PATH` = [`process::CHILD_PATH`] (a fixed value,
//!   so that scripts an operator allow-lists can find `sed` or `mount`;
//!   nothing of the agent's own environment, where credentials may live);
//! - stdin `/dev/null`, working directory `/`;
//! - its own process group, so that killing it kills what it started too.
//!
//! stdout and stderr are read concurrently (one `poll` loop, no threads that
//! could block forever) and only their last `output_bytes` are kept, so a
//! program that writes gigabytes costs the host a fixed buffer. The call
//! ends at the earliest of: the request's `timeout-ms`, the operator's
//! `command_timeout_secs`, the execution's deadline, or cancellation; the
//! whole process group is then killed with SIGKILL and the child reaped
//! before the call returns. When the program exits on its own, whatever it
//! left running in its group is killed as well: nothing a plugin starts
//! outlives the call.
//!
//! # Layout
//!
//! - `mod.rs`: the grant ([`CommandGrant`]), its config keys and policy,
//!   request checks and the `Host` impl.
//! - `process`: starting the program, watching its pipes and its deadline,
//!   killing and reaping its group.

mod process;

use super::{
    Admission, BadGrant, Cap, CapView, Capability, CapabilityHost, GrantEnv, JobView, Reach,
    Sandbox,
};
use crate::runtime::bindings::command::{self as wit, Host, Output, Request};
use crate::runtime::bindings::types::HostError;
use crate::runtime::ExecutionLimits;
use process::{run_program, Waiter};
use serde::Deserialize;
use std::time::{Duration, Instant};
use wasmtime::component::Linker;

/// Most arguments one call may pass.
pub const MAX_ARGS: usize = 1024;

/// Longest single argument, bytes.
pub const MAX_ARG_BYTES: usize = 64 << 10;

/// Most argument bytes in one call (Linux allows more; a plugin that needs
/// more is passing data, which belongs in a file).
pub const MAX_TOTAL_ARG_BYTES: usize = 256 << 10;

/// Default `command_timeout_secs`: the longest one `command.run` call may
/// take unless the operator says otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Default `command_output_bytes`: how much of the end of stdout and of
/// stderr (each) a plugin gets back. A status line or an error message fits;
/// a runaway program cannot make the host hold more.
pub const DEFAULT_COMMAND_OUTPUT_BYTES: usize = 4096;

/// Longest program path accepted, in a grant or a request (Linux `PATH_MAX`).
pub const MAX_PROGRAM_BYTES: usize = 4096;

/// The `run-command` capability: which programs a plugin may run, and the
/// operator's caps on each call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandGrant {
    /// Absolute paths (checked by [`check_program_path`]), compared as
    /// written: the host never searches `PATH` for a program.
    pub programs: Vec<String>,
    /// The longest one call may run; a plugin may ask for less, never more.
    pub timeout: Duration,
    /// Bytes kept of the end of stdout and of stderr, each.
    pub output_bytes: usize,
}

impl CommandGrant {
    /// A grant of `programs` with the default caps.
    pub fn new(programs: Vec<String>) -> Self {
        Self {
            programs,
            timeout: DEFAULT_COMMAND_TIMEOUT,
            output_bytes: DEFAULT_COMMAND_OUTPUT_BYTES,
        }
    }

    /// The allow-listed path `requested` names. An absolute path must be
    /// on the list exactly (no normalisation: `/usr/bin/../bin/id` is not
    /// `/bin/id`). A bare name is accepted only when it is the file name of
    /// exactly one listed path, so a plugin can say `systemctl` without
    /// knowing whether this device keeps it in `/bin` or `/usr/bin`, yet
    /// never reaches a program the operator did not name. Anything else,
    /// e.g. `sh -c id` or `ls; rm -rf /`, is simply not on the list.
    pub fn program_for(&self, requested: &str) -> Result<&str, ProgramRefused> {
        if requested.contains('/') {
            return self
                .programs
                .iter()
                .find(|p| p.as_str() == requested)
                .map(String::as_str)
                .ok_or_else(|| ProgramRefused::NotAllowed(requested.to_owned()));
        }
        let mut matches: Vec<&str> = self
            .programs
            .iter()
            .map(String::as_str)
            .filter(|p| p.rsplit('/').next() == Some(requested))
            .collect();
        matches.sort_unstable();
        matches.dedup();
        match matches.as_slice() {
            [] => Err(ProgramRefused::NotAllowed(requested.to_owned())),
            [one] => Ok(one),
            several => Err(ProgramRefused::Ambiguous {
                name: requested.to_owned(),
                paths: several.join(", "),
            }),
        }
    }
}

/// Why a program is not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProgramRefused {
    /// Neither a listed path nor the file name of one.
    #[error("program {0:?} is not on this plugin's run-command allow-list")]
    NotAllowed(String),
    /// A bare name that is the file name of several listed paths.
    #[error("program {name:?} could be any of {paths}: name it by its absolute path")]
    Ambiguous {
        /// The requested name.
        name: String,
        /// The listed paths it matches.
        paths: String,
    },
}

/// Checks a program path an operator grants (config `run_commands`,
/// `jobhost run --allow-command`): absolute, normalised (no empty, `.` or
/// `..` component, no trailing `/`), no control characters. Grants are
/// compared to requests as strings, so only one spelling of each path may
/// exist.
pub fn check_program_path(path: &str) -> Result<(), BadProgramPath> {
    let bad = |kind| {
        Err(BadProgramPath {
            path: path.to_owned(),
            kind,
        })
    };
    if !path.starts_with('/') {
        return bad(PathProblem::Relative);
    }
    if path.len() > MAX_PROGRAM_BYTES {
        return bad(PathProblem::TooLong);
    }
    if path.chars().any(char::is_control) {
        return bad(PathProblem::ControlCharacter);
    }
    if path[1..]
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return bad(PathProblem::NotNormalised);
    }
    Ok(())
}

/// A program path no grant may list ([`check_program_path`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{path:?} {kind}")]
pub struct BadProgramPath {
    /// The path as written.
    pub path: String,
    /// What is wrong with it.
    pub kind: PathProblem,
}

/// What is wrong with a program path.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// Not starting with `/`.
    #[error("must be an absolute path such as /usr/bin/systemctl (programs are never looked up in PATH)")]
    Relative,
    /// Over [`MAX_PROGRAM_BYTES`].
    #[error("is longer than {MAX_PROGRAM_BYTES} bytes")]
    TooLong,
    /// A control character anywhere.
    #[error("contains a control character")]
    ControlCharacter,
    /// An empty, `.` or `..` component, or a trailing `/`.
    #[error("must be a normalised path (no `//`, `.`, `..` or trailing `/`)")]
    NotNormalised,
}

/// Most `command_timeout_secs` (a day): longer work belongs in the plugin,
/// which can checkpoint, not in one blocking call.
const MAX_COMMAND_TIMEOUT_SECS: u64 = 86_400;

/// Most `command_output_bytes` (1 MiB per stream): the tail is held in
/// memory and handed to the plugin.
const MAX_COMMAND_OUTPUT_BYTES: usize = 1 << 20;

pub use crate::requests::command::ANY_PROGRAM;

/// The `command` capability (`run-command`).
pub struct Command;

/// `[plugins.<name>]` keys of the `command` capability.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandConfig {
    /// Programs (absolute paths) the plugin may run through the `command`
    /// import, if its signed manifest requests them too.
    pub run_commands: Vec<String>,
    /// The longest one command may run, seconds (default 60); a plugin may
    /// ask for less.
    pub command_timeout_secs: Option<u64>,
    /// Bytes kept of the end of a command's stdout and of its stderr, each
    /// (default 4096).
    pub command_output_bytes: Option<usize>,
}

impl Capability for Command {
    type Request = Vec<String>;
    type Config = CommandConfig;
    type Grant = Option<CommandGrant>;
    type Granted = Option<CommandGrant>;

    /// `None` when no program is listed. Programs must be absolute,
    /// normalised paths: they are compared to the plugin's requests as
    /// written and never looked up in `PATH`.
    fn grant_from_config(
        config: &CommandConfig,
        _: &GrantEnv<'_>,
    ) -> Result<Option<CommandGrant>, BadGrant> {
        let mut programs = Vec::new();
        for program in &config.run_commands {
            check_program_path(program).map_err(|e| BadGrant {
                key: "run_commands",
                why: format!(": {e}"),
            })?;
            if !programs.contains(program) {
                programs.push(program.clone());
            }
        }
        let timeout_secs = config
            .command_timeout_secs
            .unwrap_or(DEFAULT_COMMAND_TIMEOUT.as_secs());
        if !(1..=MAX_COMMAND_TIMEOUT_SECS).contains(&timeout_secs) {
            return Err(BadGrant {
                key: "command_timeout_secs",
                why: format!(" = {timeout_secs}: must be 1-{MAX_COMMAND_TIMEOUT_SECS}"),
            });
        }
        let output_bytes = config
            .command_output_bytes
            .unwrap_or(DEFAULT_COMMAND_OUTPUT_BYTES);
        if output_bytes > MAX_COMMAND_OUTPUT_BYTES {
            return Err(BadGrant {
                key: "command_output_bytes",
                why: format!(" = {output_bytes}: must be 0-{MAX_COMMAND_OUTPUT_BYTES}"),
            });
        }
        Ok((!programs.is_empty()).then(|| CommandGrant {
            programs,
            timeout: Duration::from_secs(timeout_secs),
            output_bytes,
        }))
    }

    fn reaches(_: &Option<CommandGrant>) -> Vec<Reach<'_>> {
        Vec::new()
    }

    /// The programs both requested (`run_command` in the signed manifest)
    /// and granted. A request is matched against the operator's list like
    /// a call at run time ([`CommandGrant::program_for`]: the exact path, or
    /// a bare name that is the file name of exactly one listed path), and
    /// the grant carries the listed path, so the plugin can never reach a
    /// program the operator did not name. The operator's caps come along
    /// unchanged. Each request not granted is refused.
    fn intersect(
        requested: &Vec<String>,
        granted: &Option<CommandGrant>,
        admission: &mut Admission<'_>,
    ) -> Option<CommandGrant> {
        if requested.is_empty() {
            return None;
        }
        let plugin = admission.plugin().to_owned();
        let Some(granted) = granted else {
            for program in requested {
                admission.deny(format!(
                    "run_command {program}: no run_commands in [plugins.{plugin}]"
                ));
            }
            return None;
        };
        // A general-purpose runner (the run-command plugin) cannot know the
        // device's programs: `*` asks for whatever the operator lists, and
        // the operator's list stays the only gate.
        if requested.iter().any(|p| p == ANY_PROGRAM) {
            return Some(granted.clone());
        }
        let mut programs: Vec<String> = Vec::new();
        for program in requested {
            match granted.program_for(program) {
                Ok(path) => {
                    if !programs.iter().any(|p| p == path) {
                        programs.push(path.to_owned());
                    }
                }
                Err(why) => admission.deny(format!(
                    "run_command {program}: {why} in [plugins.{plugin}] run_commands"
                )),
            }
        }
        (!programs.is_empty()).then(|| CommandGrant {
            programs,
            ..granted.clone()
        })
    }
}

impl CapabilityHost for Command {
    type Ctx = CommandCtx;

    fn ctx(sandbox: &Sandbox, _: &ExecutionLimits) -> CommandCtx {
        CommandCtx {
            grant: sandbox.command.clone(),
        }
    }

    fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, Cap<CommandCtx>>(linker, super::view!(command))
    }
}

/// A run's commands: only the grant (`None`: no `run-command` capability).
pub(crate) struct CommandCtx {
    pub grant: Option<CommandGrant>,
}

impl Host for CapView<'_, CommandCtx> {
    async fn run(&mut self, request: Request) -> Result<Output, HostError> {
        let Some(grant) = self.ctx.grant.clone() else {
            return Err(self.job.not_granted("run-command"));
        };
        let tag = self.job.tag.clone();
        let refuse = |error: HostError| {
            tracing::warn!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
                "run-command refused: {}", describe(&error));
            error
        };
        check_request(&request).map_err(refuse)?;
        let program = grant
            .program_for(&request.program)
            .map_err(|e| {
                refuse(match e {
                    ProgramRefused::NotAllowed(_) => HostError::NotPermitted(e.to_string()),
                    ProgramRefused::Ambiguous { .. } => HostError::InvalidArgument(e.to_string()),
                })
            })?
            .to_owned();
        let started = Instant::now();
        let args = request.args.len();
        // The wait is a blocking poll loop: on the blocking pool, so that
        // the run's future stays droppable; `Waiter` ends the program if it
        // is dropped.
        let (waiter, done) = Waiter::new(self.job.stop_signal());
        let stop = waiter.stop.clone();
        let result = tokio::task::spawn_blocking({
            let program = program.clone();
            move || {
                let result = run_program(&program, &request, &grant, &stop);
                let _ = done.send(());
                result
            }
        })
        .await
        .unwrap_or_else(|e| {
            Err(HostError::Failed(format!(
                "the command's waiter failed: {e}"
            )))
        });
        drop(waiter);
        let elapsed = started.elapsed().as_secs_f64();
        // Arguments may carry secrets (tokens, passwords): only their count
        // is logged.
        match &result {
            Ok(o) => {
                let exit = o
                    .exit_code
                    .map_or_else(|| "killed by a signal".to_owned(), |c| format!("exit {c}"));
                tracing::info!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
                    "ran {program} ({args} args): {exit} in {elapsed:.2} s");
            }
            Err(e) => {
                tracing::warn!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
                    "run {program} ({args} args) ended after {elapsed:.2} s: {}", describe(e));
            }
        }
        result
    }
}

/// Refuses requests no allow-list can make sensible: NUL bytes (which
/// would silently cut an argument short in `execve`), control characters
/// in the program, and sizes past the caps.
fn check_request(request: &Request) -> Result<(), HostError> {
    let invalid = |m: String| Err(HostError::InvalidArgument(m));
    let program = &request.program;
    if program.is_empty() {
        return invalid("program is empty".into());
    }
    if program.len() > MAX_PROGRAM_BYTES {
        return invalid(format!("program is longer than {MAX_PROGRAM_BYTES} bytes"));
    }
    if program.chars().any(char::is_control) {
        return invalid(format!("program {program:?} contains a control character"));
    }
    if request.args.len() > MAX_ARGS {
        return invalid(format!(
            "{} arguments: at most {MAX_ARGS} are allowed",
            request.args.len()
        ));
    }
    let mut total = 0usize;
    for (i, arg) in request.args.iter().enumerate() {
        if arg.contains('\0') {
            return invalid(format!("argument {i} contains a NUL byte"));
        }
        if arg.len() > MAX_ARG_BYTES {
            return invalid(format!(
                "argument {i} is {} bytes: at most {MAX_ARG_BYTES} are allowed",
                arg.len()
            ));
        }
        total += arg.len();
    }
    if total > MAX_TOTAL_ARG_BYTES {
        return invalid(format!(
            "the arguments are {total} bytes: at most {MAX_TOTAL_ARG_BYTES} are allowed in all"
        ));
    }
    if request.timeout_ms == 0 {
        return invalid("timeout-ms must be at least 1".into());
    }
    Ok(())
}

fn describe(error: &HostError) -> String {
    match error {
        HostError::NotPermitted(m) => format!("not permitted: {m}"),
        HostError::InvalidArgument(m) => format!("invalid argument: {m}"),
        HostError::LimitExceeded(m) => format!("limit exceeded: {m}"),
        HostError::Cancelled => "cancelled".to_owned(),
        HostError::Failed(m) => format!("failed: {m}"),
    }
}

#[cfg(test)]
mod tests;
