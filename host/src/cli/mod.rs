//! The `jobhost` command line: one file per subcommand.

mod agent;
mod artifact;
mod compile_entry;
mod init;
mod plugin;
mod run;
mod watchdog;

pub use agent::install_crypto_provider;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code for a usage error or a host-side failure (bad plugin file,
/// unreadable document path, ...).
pub const EXIT_ERROR: u8 = 1;
/// Exit code of `jobhost run` when the job ended FAILED or REJECTED.
pub const EXIT_JOB_FAILED: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "jobhost",
    version = crate::version::agent_version(),
    long_version = crate::version::long_version(),
    about = "Run AWS IoT Jobs operations in signed, sandboxed WebAssembly plugins",
    long_about = "jobhost is a device agent: it receives AWS IoT Jobs over MQTT and runs each job's \
operation in a WebAssembly component. `jobhost run` runs one plugin on one job document locally, \
without MQTT, which is how plugin authors test their work.\n\n\
Logging goes to stderr; set JOBHOST_LOG (e.g. JOBHOST_LOG=debug) to change the level.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Agent(agent::AgentArgs),
    Artifact(artifact::ArtifactArgs),
    #[command(hide = true)]
    CompileEntry(compile_entry::CompileEntryCommand),
    Init(init::InitArgs),
    Plugin(plugin::PluginArgs),
    Run(run::RunArgs),
}

/// Parses the command line, runs the subcommand and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::from(EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
            // clap formats help and errors itself; a failed print to a
            // closed pipe leaves nothing more to say.
            let _ = e.print();
            return code;
        }
    };
    init_logging();
    let result = match cli.command {
        Command::Agent(args) => agent::run(args),
        Command::Artifact(args) => artifact::run(args),
        Command::CompileEntry(command) => return compile_entry::run(command),
        Command::Init(args) => init::run(args),
        Command::Plugin(args) => plugin::run(args),
        Command::Run(args) => run::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Logs to stderr, and keeps the most recent lines in memory for the
/// `diagnostics` import (`crate::diagnostics::log_layer`): the same lines,
/// after the same filter.
fn init_logging() {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("JOBHOST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(crate::diagnostics::log_layer())
        .init();
}
