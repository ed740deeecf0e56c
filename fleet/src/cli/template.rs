//! `jobhost-fleet template ...`: custom job templates (CreateJobTemplate,
//! ListJobTemplates, DescribeJobTemplate, DeleteJobTemplate). Jobs are made
//! from one with `job create --template ID`; the AWS managed templates are
//! `job templates`.

use super::client::{segment, Client};
use super::job::document_text;
use super::table::{format_time, render};
use crate::arn::job_arn;
use anyhow::{Context as _, Result};
use clap::{ArgGroup, Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// The template subcommands.
#[derive(Debug, Subcommand)]
#[command(after_help = "\
A job made from a template copies its document and settings: deleting the template leaves the \
job as it is. `jobhost-fleet job templates` lists the AWS managed templates instead.")]
pub enum TemplateCommand {
    /// Create a custom job template; prints its ARN.
    // Boxed: its flags make it several times the size of the others.
    Create(Box<CreateArgs>),
    /// List the custom job templates, oldest first.
    List,
    /// Print a template, its document and its settings, as JSON.
    Describe {
        /// The template's id.
        template_id: String,
    },
    /// Delete a template; the jobs made from it run on unchanged.
    Delete {
        /// The template's id.
        template_id: String,
    },
}

/// `template create`.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("source").required(true).args(["document", "document_json", "from_job"])),
    after_help = "\
The JSON options take AWS's shapes, as `aws iot create-job-template` does.

Examples:
  jobhost-fleet template create fw-update --description 'firmware update' --document fw.json \\
      --timeout-minutes 30 \\
      --job-executions-retry-config '{\"criteriaList\":[{\"failureType\":\"FAILED\",\"numberOfRetries\":2}]}'
  jobhost-fleet template create fw-again --description 'as fw-1 ran' --from-job fw-1
  jobhost-fleet job create --job-id fw-7 --target my-device --template fw-update --param version=7

A document may hold ${aws:iot:parameter:<key>} placeholders; `job create --template ID --param \
key=value` fills them in, and needs a value for each."
)]
pub struct CreateArgs {
    /// The template id: 1-64 characters of [a-zA-Z0-9_-].
    template_id: String,
    /// What the template is for (required, as in AWS); also the default
    /// description of its jobs.
    #[arg(long, value_name = "TEXT")]
    description: String,
    /// Read the job document (a JSON object) from FILE.
    #[arg(long, value_name = "FILE")]
    document: Option<PathBuf>,
    /// The job document as inline JSON text.
    #[arg(long, value_name = "TEXT")]
    document_json: Option<String>,
    /// Copy this job's document and settings (a job id or ARN; AWS's
    /// `jobArn`); the settings given here replace the job's.
    #[arg(long, value_name = "JOB")]
    from_job: Option<String>,
    /// Its jobs' executions become TIMED_OUT this many minutes after they
    /// start (1-10080).
    #[arg(long, value_name = "N")]
    timeout_minutes: Option<u32>,
    /// `presignedUrlConfig`, e.g. '{"expiresInSec":600}'.
    #[arg(long, value_name = "JSON")]
    presigned_url_config: Option<String>,
    /// `jobExecutionsRolloutConfig`, e.g. '{"maximumPerMinute":10}'.
    #[arg(long, value_name = "JSON")]
    job_executions_rollout_config: Option<String>,
    /// `abortConfig`, e.g.
    /// '{"criteriaList":[{"failureType":"FAILED","action":"CANCEL","thresholdPercentage":20,"minNumberOfExecutedThings":10}]}'.
    #[arg(long, value_name = "JSON")]
    abort_config: Option<String>,
    /// `jobExecutionsRetryConfig`, e.g.
    /// '{"criteriaList":[{"failureType":"ALL","numberOfRetries":2}]}'.
    #[arg(long, value_name = "JSON")]
    job_executions_retry_config: Option<String>,
    /// `maintenanceWindows`, e.g.
    /// '[{"startTime":"cron(0 2 ? * SUN *)","durationInMinutes":120}]'.
    #[arg(long, value_name = "JSON")]
    maintenance_windows: Option<String>,
}

/// Runs one template subcommand.
pub async fn run(client: &Client, command: TemplateCommand) -> Result<ExitCode> {
    match command {
        TemplateCommand::Create(args) => create(client, *args).await?,
        TemplateCommand::List => list(client).await?,
        TemplateCommand::Describe { template_id } => describe(client, &template_id).await?,
        TemplateCommand::Delete { template_id } => {
            let path = format!("/job-templates/{}", segment(&template_id));
            client.send(client.request(Method::DELETE, &path)).await?;
            println!("template {template_id} deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn create(client: &Client, args: CreateArgs) -> Result<()> {
    let mut body = json!({ "description": args.description });
    match args.from_job {
        Some(job) if job.starts_with("arn:") => body["jobArn"] = Value::String(job),
        Some(job) => body["jobArn"] = Value::String(job_arn(&job)),
        None => body["document"] = Value::String(document_text(args.document, args.document_json)?),
    }
    if let Some(m) = args.timeout_minutes {
        body["timeoutConfig"] = json!({ "inProgressTimeoutInMinutes": m });
    }
    for (field, flag, value) in [
        (
            "presignedUrlConfig",
            "--presigned-url-config",
            args.presigned_url_config,
        ),
        (
            "jobExecutionsRolloutConfig",
            "--job-executions-rollout-config",
            args.job_executions_rollout_config,
        ),
        ("abortConfig", "--abort-config", args.abort_config),
        (
            "jobExecutionsRetryConfig",
            "--job-executions-retry-config",
            args.job_executions_retry_config,
        ),
        (
            "maintenanceWindows",
            "--maintenance-windows",
            args.maintenance_windows,
        ),
    ] {
        if let Some(text) = value {
            let parsed: Value =
                serde_json::from_str(&text).with_context(|| format!("{flag} is not valid JSON"))?;
            body[field] = parsed;
        }
    }
    let path = format!("/job-templates/{}", segment(&args.template_id));
    let created: Value = client
        .json(client.request(Method::PUT, &path).json(&body))
        .await?;
    println!(
        "{}",
        created["jobTemplateArn"]
            .as_str()
            .unwrap_or(args.template_id.as_str())
    );
    Ok(())
}

/// `template list`: every page of ListJobTemplates, as a table.
async fn list(client: &Client) -> Result<()> {
    let mut rows = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut rb = client.request(Method::GET, "/job-templates");
        if let Some(t) = &token {
            rb = rb.query(&[("nextToken", t)]);
        }
        let page: Value = client.json(rb).await?;
        for t in page["jobTemplates"].as_array().into_iter().flatten() {
            let text = |key: &str| t[key].as_str().unwrap_or_default().to_owned();
            let created = t["createdAt"].as_i64().unwrap_or_default();
            rows.push(vec![
                text("jobTemplateId"),
                format_time(created),
                text("description"),
            ]);
        }
        match page["nextToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    print!("{}", render(&["TEMPLATE", "CREATED", "DESCRIPTION"], &rows));
    Ok(())
}

/// `template describe`: DescribeJobTemplate, with the document shown as
/// JSON rather than as the string AWS sends.
async fn describe(client: &Client, template_id: &str) -> Result<()> {
    let path = format!("/job-templates/{}", segment(template_id));
    let mut described: Value = client.json(client.request(Method::GET, &path)).await?;
    if let Some(text) = described["document"].as_str() {
        if let Ok(document) = serde_json::from_str::<Value>(text) {
            described["document"] = document;
        }
    }
    println!("{}", serde_json::to_string_pretty(&described)?);
    Ok(())
}
