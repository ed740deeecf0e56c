//! `jobhost-fleet artifact put|list|describe`: uploads a file for jobs to
//! download (with the operator's signature of it, `jobhost artifact
//! sign`), and prints the placeholders to paste into a job document.

use super::client::{segment, Client};
use super::table::render;
use crate::artifacts::{check_name, placeholder, ArtifactInfo, ArtifactSummary};
use crate::code_signing;
use anyhow::{Context as _, Result};
use clap::Subcommand;
use jobhost_protocol::codesign::Codesign;
use reqwest::Method;
use serde::Deserialize;
use std::path::PathBuf;
use std::process::ExitCode;

/// The artifact subcommands.
#[derive(Debug, Subcommand)]
#[command(after_help = "\
Examples:
  jobhost artifact sign --key operator.key fw-1.2.bin        # on the operator's machine
  jobhost-fleet artifact put --signature fw-1.2.bin.sig fw-1.2.bin
  jobhost-fleet artifact list

In a job document, ${aws:iot:s3-presigned-url:<url>} becomes an expiring signed URL at
every delivery, and \"codesign\": \"${aws:iot:code-sign-signature:<url>}\" becomes the
artifact's signature when the job is created; devices verify it with their [trust] keys.")]
pub enum ArtifactCommand {
    /// Upload FILE; prints its URL, sha256, size and the document
    /// placeholders: the presigned URL devices download from, and (with
    /// --signature) the code-sign placeholder that becomes its signature.
    Put {
        /// The file to upload.
        file: PathBuf,
        /// The artifact's name (default: the file's name): 1-128 characters
        /// of [A-Za-z0-9._-], not starting with a dot. An existing artifact
        /// of that name is replaced, and its signature with it.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// FILE's signature (`jobhost artifact sign`, FILE.sig), stored with
        /// it; the service refuses one that is not for FILE's size and
        /// sha256. Without it the artifact is stored unsigned.
        #[arg(long, value_name = "SIG")]
        signature: Option<PathBuf>,
    },
    /// List the artifacts: name, size, and the key that signed each.
    List,
    /// One artifact: URL, size, sha256 (read now), its signature and
    /// placeholders.
    Describe {
        /// The artifact's name.
        name: String,
    },
}

/// Runs one artifact subcommand.
pub async fn run(client: &Client, command: ArtifactCommand) -> Result<ExitCode> {
    match command {
        ArtifactCommand::Put {
            file,
            name,
            signature,
        } => put(client, file, name, signature).await,
        ArtifactCommand::List => list(client).await,
        ArtifactCommand::Describe { name } => {
            let rb = client.request(Method::GET, &format!("/artifacts/{}/info", segment(&name)));
            print_info(&client.json::<ArtifactInfo>(rb).await?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn put(
    client: &Client,
    file: PathBuf,
    name: Option<String>,
    signature: Option<PathBuf>,
) -> Result<ExitCode> {
    let name = match name {
        Some(n) => n,
        None => file
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .with_context(|| format!("{} has no usable file name: give --name", file.display()))?,
    };
    check_name(&name)?;
    let codesign = match &signature {
        Some(path) => {
            let text = tokio::fs::read(path)
                .await
                .with_context(|| format!("cannot read {}", path.display()))?;
            // Checked here too, for a message that names the file.
            Codesign::from_slice(&text).with_context(|| format!("{}", path.display()))?;
            Some(text)
        }
        None => None,
    };
    let handle = tokio::fs::File::open(&file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let size = handle
        .metadata()
        .await
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let info = client
        .put_artifact(&name, handle, size, codesign.as_deref())
        .await?;
    if info.size != size {
        anyhow::bail!(
            "the server stored {} bytes of {}, which has {size}: upload it again",
            info.size,
            file.display()
        );
    }
    print_info(&info);
    Ok(ExitCode::SUCCESS)
}

fn print_info(info: &ArtifactInfo) {
    println!("url:         {}", info.url);
    println!("sha256:      {}", info.sha256);
    println!("size:        {}", info.size);
    println!("placeholder: {}", placeholder(&info.url));
    let key_id = info
        .codesign
        .as_ref()
        .and_then(|c| c.get("keyId"))
        .and_then(|k| k.as_str());
    match key_id {
        Some(key_id) => {
            println!("signed by:   {key_id}");
            println!("codesign:    {}", code_signing::placeholder(&info.url));
        }
        None => println!("signed by:   (unsigned)"),
    }
}

async fn list(client: &Client) -> Result<ExitCode> {
    #[derive(Deserialize)]
    struct List {
        artifacts: Vec<ArtifactSummary>,
    }
    let artifacts = client
        .json::<List>(client.request(Method::GET, "/artifacts"))
        .await?
        .artifacts;
    if artifacts.is_empty() {
        println!("no artifacts (jobhost-fleet artifact put FILE uploads one)");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = artifacts
        .into_iter()
        .map(|a| {
            vec![
                a.name,
                a.size.to_string(),
                a.key_id.unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print!("{}", render(&["NAME", "BYTES", "SIGNED BY"], &rows));
    Ok(ExitCode::SUCCESS)
}
