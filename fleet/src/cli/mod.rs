//! The `jobhost-fleet` command line: one file per subcommand group.
//!
//! `job`, `template`, `thing`, `group`, `artifact` and `upload` are clients of the
//! HTTP API (`crate::api`), so they work against a service on another
//! machine; `serve` and `demo` run the service itself.

mod artifact;
mod client;
mod demo;
mod group;
mod job;
mod job_configs;
mod job_targets;
mod pages;
mod progress;
mod serve;
mod table;
mod template;
mod thing;
mod upload;
mod watch;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code for any error, usage errors included.
pub const EXIT_ERROR: u8 = 1;

/// Exit code of `job watch` when the execution (or, without --thing, some
/// thing's) ended other than SUCCEEDED.
pub const EXIT_NOT_SUCCEEDED: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "jobhost-fleet",
    version,
    about = "Self-hosted, AWS-IoT-Jobs-compatible jobs service and its operator CLI",
    long_about = "jobhost-fleet runs a jobs service that speaks the AWS IoT Jobs device protocol \
over MQTT (`serve`), and drives it through its HTTP API: create and follow jobs (`job`), keep job templates (`template`), \
register things (`thing`) and group them (`group`), upload the files jobs download (`artifact`), fetch what \
devices upload (`upload`).\n\n\
Logging goes to stderr; set JOBHOST_FLEET_LOG (e.g. JOBHOST_FLEET_LOG=debug) to change the level.",
    propagate_version = true
)]
struct Cli {
    /// Base URL of the jobs service's HTTP API.
    #[arg(
        long,
        global = true,
        env = "JOBHOST_FLEET_API",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    api: String,
    /// Bearer token for the API's management routes.
    #[arg(
        long,
        global = true,
        env = "JOBHOST_FLEET_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, inspect, cancel, delete and watch jobs.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Register, list, inspect, update and delete things.
    #[command(subcommand)]
    Thing(thing::ThingCommand),
    /// Create thing groups (static or dynamic), manage their members.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Create, list, inspect and delete custom job templates.
    #[command(subcommand)]
    Template(template::TemplateCommand),
    /// Upload (with their signatures), list and describe the files jobs
    /// download through expiring signed URLs.
    #[command(subcommand)]
    Artifact(artifact::ArtifactCommand),
    /// List and fetch what devices uploaded (diagnostics bundles, logs).
    #[command(subcommand)]
    Upload(upload::UploadCommand),
    /// Run the jobs service: MQTT broker, jobs service and HTTP API.
    // Boxed: its flags make it several times the size of the others.
    Serve(Box<serve::ServeArgs>),
    /// Run a self-contained demo of the service and an agent.
    Demo(demo::DemoArgs),
}

/// Parses the command line, runs the subcommand and returns its exit code:
/// 0 on success (and for --help / --version), 1 on any error (usage errors
/// included), 2 when `job watch` sees the execution end other than
/// SUCCEEDED.
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // One line, whatever the message holds.
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Job(command) => {
            let client = client::Client::new(&cli.api, cli.token)?;
            job::run(&client, command).await
        }
        Command::Thing(command) => {
            let client = client::Client::new(&cli.api, cli.token)?;
            thing::run(&client, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Group(command) => {
            let client = client::Client::new(&cli.api, cli.token)?;
            group::run(&client, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Template(command) => {
            let client = client::Client::new(&cli.api, cli.token)?;
            template::run(&client, command).await
        }
        Command::Artifact(command) => {
            let client = client::Client::new(&cli.api, cli.token)?;
            artifact::run(&client, command).await
        }
        Command::Upload(command) => {
            let client = client::Client::new(&cli.api, cli.token)?;
            upload::run(&client, command).await
        }
        Command::Serve(args) => serve::run(*args, cli.token).await,
        Command::Demo(args) => demo::run(args).await,
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("JOBHOST_FLEET_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
