//! `jobhost agent`: run the device agent until SIGINT/SIGTERM.

use crate::config::Config;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::sync::watch;

/// Run the device agent: receive AWS IoT Jobs over MQTT and run them.
#[derive(Debug, Args)]
#[command(after_help = "Write a commented example config with `jobhost init`.")]
pub struct AgentArgs {
    /// The agent's configuration file (TOML).
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
}

/// How long a stopping agent waits for blocking-pool threads (a journal
/// write finishing) before it exits anyway.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub fn run(args: AgentArgs) -> Result<ExitCode> {
    let mut config = Config::load(&args.config)?;
    // Cranelift's memory leaves with a child once a plugin is compiled
    // (`crate::runtime`'s `compile` module). The child is this very
    // binary through /proc/self/exe, even after a package upgrade replaced
    // the file on disk (a path would name the new build, whose engine
    // would not match); where it cannot be named, the agent compiles in its
    // own process.
    let this = std::path::Path::new("/proc/self/exe");
    if this.exists() {
        config.compile_in = crate::runtime::CompileIn::ChildProcess(this.to_path_buf());
    } else if let Ok(path) = std::env::current_exe() {
        config.compile_in = crate::runtime::CompileIn::ChildProcess(path);
    }
    config.give_back_memory = true;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        crate::agent::run(config, stopped).await
    });
    // A run dropped while a blocking system call was in progress (the open
    // of a FIFO) leaves that call on a blocking-pool thread; it must not
    // keep a stopping agent from exiting.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
