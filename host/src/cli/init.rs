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
    write_private(&args.output, EXAMPLE)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "wrote {}; edit thing_name and [broker], then run: jobhost agent --config {}",
        args.output.display(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to `path` readable by its owner only (0600): the config
/// may come to hold a broker password, and `--force` over a file that was
/// readable by others narrows it too.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a file this call creates.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
