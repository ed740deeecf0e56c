//! `jobhost-fleet upload list|get`: what devices uploaded (diagnostics
//! bundles, logs) through `${jobhost:upload-url:<name>}` URLs, read back
//! through the management API.

use super::client::{segment, Client};
use super::table::{format_time, render};
use crate::uploads::{check_target, UploadInfo, PLACEHOLDER_PREFIX};
use anyhow::{Context as _, Result};
use clap::Subcommand;
use futures_util::StreamExt;
use reqwest::Method;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::io::AsyncWriteExt;

/// The upload subcommands.
#[derive(Debug, Subcommand)]
#[command(after_help = "\
Devices upload to `${jobhost:upload-url:<name>}` placeholders in job documents; the service turns each \
into a PUT URL bound to the device, the job and the name, fresh at every delivery.")]
pub enum UploadCommand {
    /// List uploads: thing, job, name, size, when.
    List {
        /// Only this thing's.
        #[arg(long, value_name = "THING")]
        thing: Option<String>,
        /// Only this job's.
        #[arg(long, value_name = "JOB_ID")]
        job: Option<String>,
    },
    /// Save one upload to FILE; prints its size and sha256 (compare with
    /// the device's report, e.g. the diagnostics plugin's `bundleSha256`).
    Get {
        /// The thing that uploaded it.
        thing: String,
        /// The job it was uploaded for.
        job: String,
        /// The upload's name (the placeholder's).
        name: String,
        /// Where to write it (replaced if it exists).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

/// Runs one upload subcommand.
pub async fn run(client: &Client, command: UploadCommand) -> Result<ExitCode> {
    match command {
        UploadCommand::List { thing, job } => list(client, thing, job).await,
        UploadCommand::Get {
            thing,
            job,
            name,
            output,
        } => get(client, &thing, &job, &name, &output).await,
    }
}

async fn list(client: &Client, thing: Option<String>, job: Option<String>) -> Result<ExitCode> {
    #[derive(Deserialize)]
    struct List {
        uploads: Vec<UploadInfo>,
    }
    let mut rb = client.request(Method::GET, "/uploads");
    if let Some(t) = &thing {
        rb = rb.query(&[("thingName", t)]);
    }
    if let Some(j) = &job {
        rb = rb.query(&[("jobId", j)]);
    }
    let uploads = client.json::<List>(rb).await?.uploads;
    if uploads.is_empty() {
        println!("no uploads (a job document asks for one with {PLACEHOLDER_PREFIX}<name>}})");
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = uploads
        .into_iter()
        .map(|u| {
            vec![
                u.thing_name,
                u.job_id,
                u.name,
                u.size.to_string(),
                format_time(u.uploaded_at),
            ]
        })
        .collect();
    print!(
        "{}",
        render(&["THING", "JOB", "NAME", "BYTES", "UPLOADED"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

/// Streams the upload into a temporary file next to `output`, renamed
/// into place once complete.
async fn get(
    client: &Client,
    thing: &str,
    job: &str,
    name: &str,
    output: &PathBuf,
) -> Result<ExitCode> {
    check_target(thing, job, name)?;
    let path = format!(
        "/uploads/{}/{}/{}",
        segment(thing),
        segment(job),
        segment(name)
    );
    let response = client.send(client.request(Method::GET, &path)).await?;
    let tmp = output.with_file_name(format!(
        ".{}.part",
        output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".into())
    ));
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = response.bytes_stream();
    let result: Result<()> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.context("the download was interrupted")?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .with_context(|| format!("cannot write {}", tmp.display()))?;
        }
        file.sync_all()
            .await
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        tokio::fs::rename(&tmp, output)
            .await
            .with_context(|| format!("cannot move the download to {}", output.display()))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    result?;
    println!("saved:  {}", output.display());
    println!("size:   {size}");
    println!("sha256: {}", hex::encode(hasher.finalize()));
    Ok(ExitCode::SUCCESS)
}
