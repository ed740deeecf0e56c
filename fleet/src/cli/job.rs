//! `jobhost-fleet job ...`: CreateJob, ListJobs, DescribeJob,
//! ListJobExecutionsForJob, CancelJob, DeleteJob, AssociateTargetsWithJob
//! (`associate`), `watch`, the AWS managed templates (`templates`), and
//! jobs made from a managed or custom template (`create --template`;
//! custom ones are `template`'s).

use super::client::{segment, Client};
use super::job_configs::ConfigArgs;
use super::job_targets::{self, AssociateArgs, Targets};
use super::table::{format_time, render};
use super::watch::{self, WatchArgs};
use anyhow::{Context as _, Result};
use clap::{ArgGroup, Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// The job subcommands.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Create a job and queue it on its targets; prints the job id.
    Create(Box<CreateArgs>),
    /// List jobs, oldest first.
    List {
        /// Only jobs with this status.
        #[arg(long, value_name = "STATUS", ignore_case = true,
              value_parser = ["IN_PROGRESS", "COMPLETED", "CANCELED", "DELETION_IN_PROGRESS"])]
        status: Option<String>,
        /// Only jobs that target this thing group.
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
    },
    /// Add things or thing groups to an IN_PROGRESS continuous job; the
    /// things they reach get executions now.
    Associate(AssociateArgs),
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
    /// Follow a job until it ends, or one execution with --thing.
    ///
    /// Without --thing: a progress bar over all the job's things with the
    /// count per status (`fw-1 IN_PROGRESS [######----] 6/20 ended: 5
    /// succeeded, 1 failed, ...`), redrawn in place on a terminal and one
    /// line per change otherwise, until the job is COMPLETED or CANCELED
    /// (a CONTINUOUS job never completes: use --timeout). Polls DescribeJob
    /// every 500 ms. Exit status: 0 if every thing SUCCEEDED; 2 otherwise.
    ///
    /// With --thing: prints `<time> <thing> <status> <statusDetails JSON>`
    /// whenever the latest execution of the job on the thing changes status
    /// or details, until it reaches a terminal status. Polls
    /// DescribeJobExecution every 200 ms. Exit status: 0 if it SUCCEEDED; 2
    /// if it ended FAILED, REJECTED, TIMED_OUT, CANCELED or REMOVED.
    ///
    /// Either way: 1 on errors or when --timeout passes first.
    Watch(WatchArgs),
    /// List the AWS managed job templates, or show one.
    ///
    /// Without NAME: one line per template with its parameters (optional
    /// ones in brackets). With NAME: the template as JSON, its document
    /// with the `${aws:iot:parameter:<key>}` placeholders that `job create
    /// --template NAME --param key=value` fills in.
    Templates {
        /// A template, e.g. AWS-Download-File.
        name: Option<String>,
    },
}

/// `job create`.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("doc").required(true).args(["document", "document_json", "template"])),
    after_help = "\
Examples:
  jobhost-fleet job create --job-id fw-1 --target my-device --document job.json
  jobhost-fleet job create --job-id dl-1 --target my-device --template AWS-Download-File \\
      --param 'downloadUrl=${aws:iot:s3-presigned-url:http://fleet:8080/artifacts/fw.bin}' \\
      --param filePath=/downloads/fw.bin
  jobhost-fleet job create --job-id rc-1 --target my-device --template AWS-Run-Command \\
      --param command=/usr/bin/uptime
  jobhost-fleet job create --job-id fw-2 --target dev-1 --target dev-2 --document job.json \\
      --rollout-max-per-minute 10 --abort 'FAILED>10%@20' --retry FAILED=2 --timeout-minutes 30
  jobhost-fleet job create --job-id fw-3 --group Berlin --group Munich --document job.json
  jobhost-fleet job create --job-id onboard --group Fleet --continuous --document-json '{\"operation\":\"echo\"}'
  jobhost-fleet job create --job-id fw-7 --target my-device --template fw-update \\
      --param version=7 --timeout-minutes 10

`jobhost-fleet job templates` lists the managed templates and their parameters, \
`jobhost-fleet template list` the custom ones. A job made from a custom template takes its \
document and settings; --description and --timeout-minutes replace the template's."
)]
pub struct CreateArgs {
    /// The job id: 1-64 characters of [a-zA-Z0-9_-].
    #[arg(long, value_name = "ID")]
    job_id: String,
    /// What to run the job on.
    #[command(flatten)]
    targets: Targets,
    /// Keep following the groups: a thing that joins one later gets an
    /// execution, one that leaves has its QUEUED execution REMOVED (AWS's
    /// targetSelection CONTINUOUS). Without it the groups are expanded
    /// once, when the job is created.
    #[arg(long)]
    continuous: bool,
    /// Read the job document (a JSON object) from FILE.
    #[arg(long, value_name = "FILE")]
    document: Option<PathBuf>,
    /// The job document as inline JSON text.
    #[arg(long, value_name = "TEXT")]
    document_json: Option<String>,
    /// Instead of a document: a job template (AWS's `jobTemplateArn`), an
    /// AWS managed one by name or ARN (e.g. AWS-Download-File) or a custom
    /// one by id or ARN (`jobhost-fleet template create`); its document is
    /// filled in with the --param values.
    #[arg(long, value_name = "NAME|ID|ARN")]
    template: Option<String>,
    /// A template parameter, KEY=VALUE (AWS's `documentParameters`);
    /// repeatable. See `job templates NAME` for a managed template's keys;
    /// a custom template needs one for each `${aws:iot:parameter:KEY}` in
    /// its document.
    #[arg(long = "param", value_name = "KEY=VALUE", requires = "template", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Free text for operators.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Mark an execution TIMED_OUT this many minutes after it starts
    /// (1-10080).
    #[arg(long, value_name = "N")]
    timeout_minutes: Option<u32>,
    /// Rollout, abort, retry, schedule and URL lifetime.
    #[command(flatten)]
    configs: ConfigArgs,
}

/// Runs one job subcommand.
pub async fn run(client: &Client, command: JobCommand) -> Result<ExitCode> {
    match command {
        JobCommand::Create(args) => create(client, *args).await?,
        JobCommand::List { status, group } => list(client, status, group).await?,
        JobCommand::Associate(args) => job_targets::associate(client, args).await?,
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
        JobCommand::Templates { name: None } => list_templates(client).await?,
        JobCommand::Templates { name: Some(name) } => describe_template(client, &name).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn create(client: &Client, args: CreateArgs) -> Result<()> {
    let mut body = json!({ "targets": args.targets.into_targets() });
    if args.continuous {
        body["targetSelection"] = Value::String("CONTINUOUS".into());
    }
    if let Some(template) = args.template {
        let mut parameters = BTreeMap::new();
        for (key, value) in args.params {
            if parameters.insert(key.clone(), value).is_some() {
                anyhow::bail!("--param {key} is given twice");
            }
        }
        body["jobTemplateArn"] = Value::String(template);
        body["documentParameters"] = json!(parameters);
    } else {
        body["document"] = Value::String(document_text(args.document, args.document_json)?);
    }
    if let Some(d) = args.description {
        body["description"] = Value::String(d);
    }
    if let Some(m) = args.timeout_minutes {
        body["timeoutConfig"] = json!({ "inProgressTimeoutInMinutes": m });
    }
    args.configs.apply(&mut body)?;
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

/// The document, sent as a string as AWS's CreateJob takes it; parsed here
/// first so that a typo is reported against the file, with a line and
/// column.
pub(super) fn document_text(file: Option<PathBuf>, inline: Option<String>) -> Result<String> {
    let (text, origin) = match (file, inline) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (text, path.display().to_string())
        }
        (None, Some(text)) => (text, "--document-json".to_owned()),
        (None, None) => {
            anyhow::bail!("give --document FILE, --document-json TEXT or --template NAME")
        }
    };
    let parsed: Value =
        serde_json::from_str(&text).with_context(|| format!("{origin} is not valid JSON"))?;
    if !parsed.is_object() {
        anyhow::bail!("{origin}: the job document must be a JSON object");
    }
    Ok(text)
}

/// `--param KEY=VALUE`: split at the first `=`; the value may hold more.
fn parse_param(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// `job templates`: name, parameters (optional ones in brackets),
/// description.
async fn list_templates(client: &Client) -> Result<()> {
    let listed: Value = client
        .json(client.request(Method::GET, "/managed-job-templates"))
        .await?;
    let mut rows = Vec::new();
    for summary in listed["managedJobTemplates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = summary["templateName"].as_str().unwrap_or_default();
        let described = client.describe_template(name).await?;
        let parameters: Vec<String> = described["documentParameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let key = p["key"].as_str().unwrap_or_default();
                if p["optional"].as_bool().unwrap_or(false) {
                    format!("[{key}]")
                } else {
                    key.to_owned()
                }
            })
            .collect();
        rows.push(vec![
            name.to_owned(),
            parameters.join(" "),
            summary["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ]);
    }
    print!(
        "{}",
        render(&["TEMPLATE", "PARAMETERS", "DESCRIPTION"], &rows)
    );
    Ok(())
}

/// `job templates NAME`: DescribeManagedJobTemplate, with the document
/// shown as JSON rather than as the string AWS sends.
async fn describe_template(client: &Client, name: &str) -> Result<()> {
    let mut described = client.describe_template(name).await?;
    if let Some(text) = described["document"].as_str() {
        if let Ok(document) = serde_json::from_str::<Value>(text) {
            described["document"] = document;
        }
    }
    println!("{}", serde_json::to_string_pretty(&described)?);
    Ok(())
}

async fn list(client: &Client, status: Option<String>, group: Option<String>) -> Result<()> {
    let status = status.map(|s| s.to_ascii_uppercase());
    let jobs = client
        .list_jobs(status.as_deref(), group.as_deref())
        .await?;
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
