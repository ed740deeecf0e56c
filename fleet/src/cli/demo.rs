//! `jobhost-fleet demo`: placeholder. The lead replaces this file entirely.

use clap::Args;
use std::process::ExitCode;

/// Arguments of `demo` (to be filled in by the lead).
#[derive(Debug, Args)]
pub struct DemoArgs {}

/// Runs the demo.
pub async fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not wired yet")
}
