//! `jobhost-fleet serve`: placeholder. The lead replaces this file entirely
//! with the real service (broker + jobs service + HTTP API).

use clap::Args;
use std::process::ExitCode;

/// Arguments of `serve` (to be filled in by the lead).
#[derive(Debug, Args)]
pub struct ServeArgs {}

/// Runs the service.
pub async fn run(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not wired yet")
}
