//! `jobhost-fleet job watch`: follows one job execution until it ends
//! (`--thing`), or the whole job (`super::progress`).
//!
//! It polls DescribeJobExecution every [`POLL_INTERVAL`] rather than
//! listening on MQTT: the HTTP API is the one interface an operator's
//! machine is sure to reach, and a watcher needs no broker credentials.

use super::client::Client;
use super::table::format_time;
use anyhow::Result;
use clap::Args;
use jobhost_protocol::JobExecutionStatus;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// How often the execution is read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// `job watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The job.
    job_id: String,
    /// The thing whose execution to follow; without it, the whole job:
    /// a progress bar with the count of things per status.
    #[arg(long, value_name = "THING")]
    thing: Option<String>,
    /// Give up (exit 1) after this many seconds; the default waits forever.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
}

/// Polls until the latest execution of the job on the thing is terminal,
/// or without a thing, until the job ends.
pub async fn run(client: &Client, args: WatchArgs) -> Result<ExitCode> {
    let Some(thing) = args.thing.clone() else {
        return super::progress::run(client, &args.job_id, args.timeout).await;
    };
    let started = Instant::now();
    let deadline = args.timeout.map(|s| started + Duration::from_secs(s));
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut shown: Option<(JobExecutionStatus, BTreeMap<String, String>)> = None;
    loop {
        ticks.tick().await;
        let read = client.describe_execution(&args.job_id, &thing);
        let execution = match deadline {
            Some(d) => match tokio::time::timeout_at(d, read).await {
                Ok(result) => result?,
                Err(_) => return Err(timed_out(&args, &thing, shown.as_ref())),
            },
            None => read.await?,
        };
        let now = (execution.status, execution.status_details.details_map);
        if shown.as_ref() != Some(&now) {
            println!(
                "{} {} {} {}",
                format_time(execution.last_updated_at),
                thing,
                now.0,
                serde_json::to_string(&now.1)?
            );
            shown = Some(now);
        }
        if let Some((status, _)) = &shown {
            if status.is_terminal() {
                return Ok(if *status == JobExecutionStatus::Succeeded {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(super::EXIT_NOT_SUCCEEDED)
                });
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(timed_out(&args, &thing, shown.as_ref()));
        }
    }
}

fn timed_out(
    args: &WatchArgs,
    thing: &str,
    shown: Option<&(JobExecutionStatus, BTreeMap<String, String>)>,
) -> anyhow::Error {
    let secs = args.timeout.unwrap_or(0);
    match shown {
        Some((status, _)) => anyhow::anyhow!(
            "gave up after {secs} s: the execution of {} on {} is still {status}",
            args.job_id,
            thing
        ),
        None => anyhow::anyhow!("gave up after {secs} s: the jobs API did not answer",),
    }
}
