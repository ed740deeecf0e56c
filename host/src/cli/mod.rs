//! The `jobhost` command line: one file per subcommand.

mod agent;
mod artifact;
mod compile_entry;
mod init;
mod plugin;
mod run;
mod watchdog;

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
    crate::crypto::install_provider();
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
    let filter = log_filter(std::env::var("JOBHOST_LOG").ok().as_deref());
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

/// The log filter `JOBHOST_LOG` names: a level (`debug`) or
/// comma-separated `target=level` directives (`info,jobhost::mqtt=trace`),
/// `info` when unset. A malformed value is reported once and `info` used:
/// a typo in the environment must not keep the agent from starting.
///
/// Filtering is by target only (tracing-subscriber's `Targets`): span and
/// field directives (`[span{field=x}]=debug`) would need its regex-based
/// `EnvFilter`, 0.4 MB of the device's binary for a filter nobody needs in
/// the field.
fn log_filter(value: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let default = Targets::new().with_default(LevelFilter::INFO);
    match value.map(str::trim) {
        None | Some("") => default,
        Some(text) => text.parse().unwrap_or_else(|e| {
            eprintln!("warning: JOBHOST_LOG={text:?} is not a log filter ({e}); logging at info");
            default
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn jobhost_log_takes_a_level_or_target_directives() {
        let unset = log_filter(None);
        assert!(unset.would_enable("jobhost::agent", &tracing::Level::INFO));
        assert!(!unset.would_enable("jobhost::agent", &tracing::Level::DEBUG));

        let level = log_filter(Some("debug"));
        assert!(level.would_enable("rumqttc", &tracing::Level::DEBUG));
        assert!(!level.would_enable("rumqttc", &tracing::Level::TRACE));

        let targets = log_filter(Some("warn,jobhost::mqtt=trace"));
        assert!(targets.would_enable("jobhost::mqtt::connection", &tracing::Level::TRACE));
        assert!(!targets.would_enable("jobhost::agent", &tracing::Level::INFO));
        assert!(targets.would_enable("jobhost::agent", &tracing::Level::WARN));
    }

    #[test]
    fn a_malformed_jobhost_log_falls_back_to_info() {
        let filter = log_filter(Some("jobhost=loud"));
        assert_eq!(filter.default_level(), Some(LevelFilter::INFO));
        assert!(!filter.would_enable("jobhost", &tracing::Level::DEBUG));
    }
}
