//! `jobhost-fleet job watch JOB` without `--thing`: a job's progress over
//! all its things, as a bar and counts, until the job ends.
//!
//! The counts are DescribeJob's `jobProcessDetails` (each thing's latest
//! execution) plus the targets a staged rollout has not released yet
//! (`jobhost.rollout.unreleasedThings`), so that the bar's total is every
//! target from the start. On a terminal the line is redrawn in place;
//! into a pipe or a file a line is written whenever a count changes.

use super::client::{segment, Client};
use anyhow::{Context as _, Result};
use reqwest::Method;
use serde_json::Value;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// How often the job is read: each read counts every execution, so less
/// often than a single execution's watch.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Width of the bar, in characters.
const BAR: usize = 30;

/// What DescribeJob says about the job's things.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The job's status (IN_PROGRESS, SCHEDULED, COMPLETED, CANCELED, ...).
    pub status: String,
    pub succeeded: u64,
    pub failed: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub canceled: u64,
    pub removed: u64,
    pub in_progress: u64,
    pub queued: u64,
    /// Targets a staged rollout has not notified yet.
    pub unreleased: u64,
}

impl Progress {
    /// Reads a DescribeJob reply (`{"job": {...}}`).
    pub fn from_describe(reply: &Value) -> Result<Progress> {
        let job = reply.get("job").unwrap_or(reply);
        let status = job["status"]
            .as_str()
            .context("DescribeJob returned no job status")?
            .to_owned();
        let d = &job["jobProcessDetails"];
        let n = |key: &str| d[key].as_u64().unwrap_or(0);
        Ok(Progress {
            status,
            succeeded: n("numberOfSucceededThings"),
            failed: n("numberOfFailedThings"),
            rejected: n("numberOfRejectedThings"),
            timed_out: n("numberOfTimedOutThings"),
            canceled: n("numberOfCanceledThings"),
            removed: n("numberOfRemovedThings"),
            in_progress: n("numberOfInProgressThings"),
            queued: n("numberOfQueuedThings"),
            unreleased: job["jobhost"]["rollout"]["unreleasedThings"]
                .as_u64()
                .unwrap_or(0),
        })
    }

    /// Things whose execution ended, whichever way.
    pub fn ended(&self) -> u64 {
        self.succeeded + self.failed + self.rejected + self.timed_out + self.canceled + self.removed
    }

    /// Every target: ended, running, waiting, or not yet released.
    pub fn total(&self) -> u64 {
        self.ended() + self.in_progress + self.queued + self.unreleased
    }

    /// Whether the job is over: no execution of it will change again.
    pub fn job_ended(&self) -> bool {
        matches!(self.status.as_str(), "COMPLETED" | "CANCELED")
    }

    /// One line: the bar, then the counts that are not zero, in words
    /// (the bar alone says nothing to a screen reader or a log).
    pub fn line(&self, job_id: &str) -> String {
        let total = self.total();
        let filled = (self.ended() * BAR as u64)
            .checked_div(total)
            .map_or(0, |n| usize::try_from(n).unwrap_or(BAR));
        let mut counts = Vec::new();
        for (n, what) in [
            (self.succeeded, "succeeded"),
            (self.failed, "failed"),
            (self.rejected, "rejected"),
            (self.timed_out, "timed out"),
            (self.canceled, "canceled"),
            (self.removed, "removed"),
            (self.in_progress, "in progress"),
            (self.queued, "queued"),
            (self.unreleased, "not yet released"),
        ] {
            if n > 0 {
                counts.push(format!("{n} {what}"));
            }
        }
        format!(
            "{job_id} {} [{}{}] {}/{} ended: {}",
            self.status,
            "#".repeat(filled),
            "-".repeat(BAR - filled),
            self.ended(),
            total,
            if counts.is_empty() {
                "no things yet".to_owned()
            } else {
                counts.join(", ")
            }
        )
    }
}

/// Polls DescribeJob until the job is COMPLETED or CANCELED. Exit status:
/// 0 if it completed with every thing SUCCEEDED, 2 otherwise; an error
/// (exit 1) when `timeout` passes first.
pub async fn run(client: &Client, job_id: &str, timeout: Option<u64>) -> Result<ExitCode> {
    let deadline = timeout.map(|s| Instant::now() + Duration::from_secs(s));
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let terminal = std::io::stdout().is_terminal();
    let mut shown: Option<Progress> = None;
    let path = format!("/jobs/{}", segment(job_id));
    loop {
        ticks.tick().await;
        let read = client.json::<Value>(client.request(Method::GET, &path));
        let reply = match deadline {
            Some(d) => match tokio::time::timeout_at(d, read).await {
                Ok(reply) => reply?,
                Err(_) => return Err(gave_up(job_id, timeout, shown.as_ref(), terminal)),
            },
            None => read.await?,
        };
        let now = Progress::from_describe(&reply)?;
        if shown.as_ref() != Some(&now) {
            let mut out = std::io::stdout().lock();
            if terminal {
                write!(out, "\r\x1b[2K{}", now.line(job_id))?;
            } else {
                writeln!(out, "{}", now.line(job_id))?;
            }
            out.flush()?;
            shown = Some(now);
        }
        if let Some(p) = shown.as_ref().filter(|p| p.job_ended()) {
            if terminal {
                println!();
            }
            let all_succeeded = p.status == "COMPLETED" && p.succeeded == p.total();
            return Ok(if all_succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(super::EXIT_NOT_SUCCEEDED)
            });
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(gave_up(job_id, timeout, shown.as_ref(), terminal));
        }
    }
}

fn gave_up(
    job_id: &str,
    timeout: Option<u64>,
    shown: Option<&Progress>,
    terminal: bool,
) -> anyhow::Error {
    if terminal && shown.is_some() {
        println!();
    }
    let secs = timeout.unwrap_or(0);
    match shown {
        Some(p) => anyhow::anyhow!(
            "gave up after {secs} s: job {job_id} is still {} ({} of {} things ended)",
            p.status,
            p.ended(),
            p.total()
        ),
        None => anyhow::anyhow!("gave up after {secs} s: the jobs API did not answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_line_counts_every_target_and_names_each_count() {
        let p = Progress::from_describe(&json!({ "job": {
            "status": "IN_PROGRESS",
            "jobProcessDetails": {
                "numberOfSucceededThings": 5, "numberOfFailedThings": 1,
                "numberOfInProgressThings": 2, "numberOfQueuedThings": 2,
                "numberOfRejectedThings": 0, "numberOfCanceledThings": 0,
                "numberOfRemovedThings": 0, "numberOfTimedOutThings": 0,
            },
            "jobhost": { "rollout": { "releasedThings": 10, "unreleasedThings": 10 } },
        }}))
        .unwrap();
        assert_eq!((p.ended(), p.total()), (6, 20));
        assert_eq!(
            p.line("fw-1"),
            "fw-1 IN_PROGRESS [#########---------------------] 6/20 ended: \
             5 succeeded, 1 failed, 2 in progress, 2 queued, 10 not yet released"
        );
        assert!(!p.job_ended());
    }

    #[test]
    fn a_job_with_no_executions_yet_draws_an_empty_bar() {
        let p = Progress::from_describe(&json!({ "job": {
            "status": "SCHEDULED", "jobProcessDetails": {},
        }}))
        .unwrap();
        assert_eq!(
            p.line("later"),
            format!(
                "later SCHEDULED [{}] 0/0 ended: no things yet",
                "-".repeat(BAR)
            )
        );
    }
}
