//! `jobhost-fleet artifact put`: uploads a file for jobs to download and
//! prints the placeholder to paste into a job document.

use super::client::Client;
use crate::artifacts::{check_name, placeholder};
use anyhow::{Context as _, Result};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

/// The artifact subcommands.
#[derive(Debug, Subcommand)]
pub enum ArtifactCommand {
    /// Upload FILE; prints its URL, sha256, size and the document
    /// placeholder that devices receive as an expiring signed URL.
    Put {
        /// The file to upload.
        file: PathBuf,
        /// The artifact's name (default: the file's name): 1-128 characters
        /// of [A-Za-z0-9._-], not starting with a dot. An existing artifact
        /// of that name is replaced.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
}

/// Runs one artifact subcommand.
pub async fn run(client: &Client, command: ArtifactCommand) -> Result<ExitCode> {
    let ArtifactCommand::Put { file, name } = command;
    let name = match name {
        Some(n) => n,
        None => file
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .with_context(|| format!("{} has no usable file name: give --name", file.display()))?,
    };
    check_name(&name)?;
    let handle = tokio::fs::File::open(&file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let size = handle
        .metadata()
        .await
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let info = client.put_artifact(&name, handle, size).await?;
    if info.size != size {
        anyhow::bail!(
            "the server stored {} bytes of {}, which has {size}: upload it again",
            info.size,
            file.display()
        );
    }
    println!("url:         {}", info.url);
    println!("sha256:      {}", info.sha256);
    println!("size:        {}", info.size);
    println!("placeholder: {}", placeholder(&info.url));
    Ok(ExitCode::SUCCESS)
}
