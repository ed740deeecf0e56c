//! `jobhost init`: write a commented example configuration.

use crate::config::EXAMPLE;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a commented example agent configuration.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(long, short, value_name = "FILE", default_value = "jobhost.toml")]
    output: PathBuf,

    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

pub fn run(args: InitArgs) -> Result<ExitCode> {
    if args.output.exists() && !args.force {
        bail!(
            "{} exists; use --force to replace it",
            args.output.display()
        );
    }
    std::fs::write(&args.output, EXAMPLE)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "wrote {}; edit thing_name and [broker], then run: jobhost agent --config {}",
        args.output.display(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
