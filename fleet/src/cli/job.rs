//! `jobhost-fleet job ...`: CreateJob, ListJobs, DescribeJob,
//! ListJobExecutionsForJob, CancelJob, DeleteJob, and `watch`.

use super::client::{segment, Client};
use super::table::{format_time, render};
use super::watch::{self, WatchArgs};
use anyhow::{Context as _, Result};
use clap::{ArgGroup, Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// The job subcommands.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Create a job and queue it on its targets; prints the job id.
    Create(CreateArgs),
    /// List jobs, oldest first.
    List {
        /// Only jobs with this status.
        #[arg(long, value_name = "STATUS", ignore_case = true,
              value_parser = ["IN_PROGRESS", "COMPLETED", "CANCELED", "DELETION_IN_PROGRESS"])]
        status: Option<String>,
    },
    /// Print a job, with its counts per execution status, as JSON.
    Describe {
        /// The job.
        job_id: String,
    },
    /// List a job's executions: thing, status, execution number, last update.
    Executions {
        /// The job.
        job_id: String,
    },
    /// Cancel a job: its QUEUED executions become CANCELED (IN_PROGRESS
    /// ones too with --force).
    Cancel {
        /// The job.
        job_id: String,
        /// Also cancel executions already IN_PROGRESS on their devices.
        #[arg(long)]
        force: bool,
        /// Why, for the record (shown by `job describe`).
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// Delete a job and all its executions.
    Delete {
        /// The job.
        job_id: String,
        /// Delete even if executions are IN_PROGRESS.
        #[arg(long)]
        force: bool,
    },
    /// Follow one execution until it ends, one line per change.
    ///
    /// Prints `<time> <thing> <status> <statusDetails JSON>` whenever the
    /// latest execution of the job on the thing changes status or details,
    /// until it reaches a terminal status. Polls DescribeJobExecution every
    /// 200 ms.
    ///
    /// Exit status: 0 if it SUCCEEDED; 2 if it ended FAILED, REJECTED,
    /// TIMED_OUT, CANCELED or REMOVED; 1 on errors or when --timeout passes
    /// first.
    Watch(WatchArgs),
}

/// `job create`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("doc").required(true).args(["document", "document_json"])))]
pub struct CreateArgs {
    /// The job id: 1-64 characters of [a-zA-Z0-9_-].
    #[arg(long, value_name = "ID")]
    job_id: String,
    /// Things to run the job on (names or thing ARNs); repeatable.
    #[arg(long = "target", value_name = "THING", required = true, num_args = 1..)]
    targets: Vec<String>,
    /// Read the job document (a JSON object) from FILE.
    #[arg(long, value_name = "FILE")]
    document: Option<PathBuf>,
    /// The job document as inline JSON text.
    #[arg(long, value_name = "TEXT")]
    document_json: Option<String>,
    /// Free text for operators.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Mark an execution TIMED_OUT this many minutes after it starts
    /// (1-10080).
    #[arg(long, value_name = "N")]
    timeout_minutes: Option<u32>,
}

/// Runs one job subcommand.
pub async fn run(client: &Client, command: JobCommand) -> Result<ExitCode> {
    match command {
        JobCommand::Create(args) => create(client, args).await?,
        JobCommand::List { status } => list(client, status).await?,
        JobCommand::Describe { job_id } => describe(client, &job_id).await?,
        JobCommand::Executions { job_id } => executions(client, &job_id).await?,
        JobCommand::Cancel {
            job_id,
            force,
            comment,
        } => {
            let mut body = json!({});
            if let Some(c) = comment {
                body["comment"] = Value::String(c);
            }
            let path = format!("/jobs/{}/cancel", segment(&job_id));
            let rb = client
                .request(Method::PUT, &path)
                .query(&[("force", force)])
                .json(&body);
            client.send(rb).await?;
            println!("job {job_id} canceled");
        }
        JobCommand::Delete { job_id, force } => {
            let path = format!("/jobs/{}", segment(&job_id));
            let rb = client
                .request(Method::DELETE, &path)
                .query(&[("force", force)]);
            client.send(rb).await?;
            println!("job {job_id} deleted");
        }
        JobCommand::Watch(args) => return watch::run(client, args).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn create(client: &Client, args: CreateArgs) -> Result<()> {
    // Sent as a string, as AWS's CreateJob takes it; parsed here first so
    // that a typo is reported against the file, with a line and column.
    let (text, origin) = match (args.document, args.document_json) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (text, path.display().to_string())
        }
        (None, Some(text)) => (text, "--document-json".to_owned()),
        (None, None) => anyhow::bail!("give --document FILE or --document-json TEXT"),
    };
    let parsed: Value =
        serde_json::from_str(&text).with_context(|| format!("{origin} is not valid JSON"))?;
    if !parsed.is_object() {
        anyhow::bail!("{origin}: the job document must be a JSON object");
    }
    let mut body = json!({ "targets": args.targets, "document": text });
    if let Some(d) = args.description {
        body["description"] = Value::String(d);
    }
    if let Some(m) = args.timeout_minutes {
        body["timeoutConfig"] = json!({ "inProgressTimeoutInMinutes": m });
    }
    let rb = client
        .request(Method::PUT, &format!("/jobs/{}", segment(&args.job_id)))
        .json(&body);
    let created: Value = client.json(rb).await?;
    println!(
        "{}",
        created["jobId"].as_str().unwrap_or(args.job_id.as_str())
    );
    Ok(())
}

async fn list(client: &Client, status: Option<String>) -> Result<()> {
    let status = status.map(|s| s.to_ascii_uppercase());
    let jobs = client.list_jobs(status.as_deref()).await?;
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.job_id.clone(),
                j.status.to_string(),
                format_time(j.created_at),
                format_time(j.last_updated_at),
            ]
        })
        .collect();
    print!(
        "{}",
        render(&["JOB", "STATUS", "CREATED", "UPDATED"], &rows)
    );
    Ok(())
}

async fn describe(client: &Client, job_id: &str) -> Result<()> {
    let rb = client.request(Method::GET, &format!("/jobs/{}", segment(job_id)));
    let described: Value = client.json(rb).await?;
    let job = described.get("job").unwrap_or(&described);
    println!("{}", serde_json::to_string_pretty(job)?);
    Ok(())
}

async fn executions(client: &Client, job_id: &str) -> Result<()> {
    let list = client.executions_for_job(job_id).await?;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            let s = &e.job_execution_summary;
            vec![
                e.thing().to_owned(),
                s.status.to_string(),
                s.execution_number.to_string(),
                format_time(s.last_updated_at),
            ]
        })
        .collect();
    print!(
        "{}",
        render(&["THING", "STATUS", "EXECUTION", "UPDATED"], &rows)
    );
    Ok(())
}
