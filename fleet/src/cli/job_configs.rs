//! `job create`'s flags for AWS's job configurations: staged rollout,
//! abort rules, retries, scheduling and presigned-URL lifetime, turned into
//! the CreateJob fields of the same names.
//!
//! Only the shorthand syntaxes (`FAILED>10%@20`, `FAILED=3`, `CRON,MINUTES`)
//! are checked here; ranges and combinations are the service's to check,
//! so that the CLI, the HTTP API and AWS SDKs get one set of rules and the
//! same error naming the field.

use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde_json::{json, Map, Value};

/// The job configuration flags of `job create`.
#[derive(Debug, Default, Args)]
pub struct ConfigArgs {
    /// Staged rollout: notify at most N things a minute (1-1000; AWS's
    /// jobExecutionsRolloutConfig.maximumPerMinute).
    #[arg(long, value_name = "N", help_heading = "Rollout")]
    rollout_max_per_minute: Option<u32>,
    /// Exponential rollout: things notified a minute at first (1-1000).
    #[arg(
        long,
        value_name = "N",
        requires_all = ["rollout_increment_factor", "rollout_increase_after"],
        help_heading = "Rollout"
    )]
    rollout_base_rate: Option<u32>,
    /// Exponential rollout: the factor the rate grows by (1.1-5).
    #[arg(
        long,
        value_name = "F",
        requires = "rollout_base_rate",
        help_heading = "Rollout"
    )]
    rollout_increment_factor: Option<f64>,
    /// Exponential rollout: grow the rate each time this many more things
    /// were notified or succeeded, `notified=N` or `succeeded=N`.
    #[arg(
        long,
        value_name = "WHEN=N",
        requires = "rollout_base_rate",
        value_parser = parse_increase,
        help_heading = "Rollout"
    )]
    rollout_increase_after: Option<(String, u64)>,
    /// Cancel the job when a share of the things executed so far failed:
    /// `TYPE>PERCENT%@MIN`, e.g. `FAILED>10%@20` (more than 10 % FAILED
    /// once at least 20 things ran). TYPE is FAILED, REJECTED, TIMED_OUT
    /// or ALL. Repeatable (AWS's abortConfig).
    #[arg(long = "abort", value_name = "RULE", value_parser = parse_abort, help_heading = "Abort and retry")]
    abort: Vec<Value>,
    /// Run an execution again when it ends this way: `TYPE=N`, e.g.
    /// `FAILED=3`; TYPE is FAILED, TIMED_OUT or ALL. Repeatable, at most 10
    /// retries in all (AWS's jobExecutionsRetryConfig).
    #[arg(long = "retry", value_name = "TYPE=N", value_parser = parse_retry, help_heading = "Abort and retry")]
    retry: Vec<Value>,
    /// Release no execution before this time, `YYYY-MM-DDTHH:MM` in UTC
    /// (status SCHEDULED until then; AWS's schedulingConfig.startTime).
    #[arg(long, value_name = "TIME", help_heading = "Schedule")]
    start_time: Option<String>,
    /// Stop the rollout at this time, `YYYY-MM-DDTHH:MM` in UTC.
    #[arg(long, value_name = "TIME", help_heading = "Schedule")]
    end_time: Option<String>,
    /// What the end time does: STOP_ROLLOUT (default), CANCEL or
    /// FORCE_CANCEL.
    #[arg(long, value_name = "BEHAVIOR", requires = "end_time", ignore_case = true,
          value_parser = ["STOP_ROLLOUT", "CANCEL", "FORCE_CANCEL"], help_heading = "Schedule")]
    end_behavior: Option<String>,
    /// Release only inside this window: `CRON,MINUTES`, e.g.
    /// `cron(0 2 ? * SUN *),120` (AWS's 6-field cron, UTC). Repeatable.
    #[arg(long = "maintenance-window", value_name = "CRON,MINUTES", value_parser = parse_window, help_heading = "Schedule")]
    maintenance_windows: Vec<Value>,
    /// How long the presigned URLs in the document stay valid, in seconds
    /// (60-3600; AWS's presignedUrlConfig.expiresInSec).
    #[arg(long, value_name = "SECS")]
    url_expiry: Option<u64>,
}

impl ConfigArgs {
    /// Adds the CreateJob fields these flags ask for to `body`.
    pub fn apply(self, body: &mut Value) -> Result<()> {
        let Value::Object(body) = body else {
            bail!("the CreateJob body is not a JSON object");
        };
        let mut rollout = Map::new();
        if let Some(n) = self.rollout_max_per_minute {
            rollout.insert("maximumPerMinute".into(), n.into());
        }
        if let (Some(base), Some(factor), Some((when, n))) = (
            self.rollout_base_rate,
            self.rollout_increment_factor,
            self.rollout_increase_after,
        ) {
            let criteria = if when == "notified" {
                json!({ "numberOfNotifiedThings": n })
            } else {
                json!({ "numberOfSucceededThings": n })
            };
            rollout.insert(
                "exponentialRate".into(),
                json!({
                    "baseRatePerMinute": base,
                    "incrementFactor": factor,
                    "rateIncreaseCriteria": criteria,
                }),
            );
        }
        if !rollout.is_empty() {
            body.insert("jobExecutionsRolloutConfig".into(), rollout.into());
        }
        if !self.abort.is_empty() {
            body.insert("abortConfig".into(), json!({ "criteriaList": self.abort }));
        }
        if !self.retry.is_empty() {
            body.insert(
                "jobExecutionsRetryConfig".into(),
                json!({ "criteriaList": self.retry }),
            );
        }
        let mut scheduling = Map::new();
        if let Some(t) = self.start_time {
            scheduling.insert("startTime".into(), t.into());
        }
        if let Some(t) = self.end_time {
            scheduling.insert("endTime".into(), t.into());
        }
        if let Some(b) = self.end_behavior {
            scheduling.insert("endBehavior".into(), b.to_ascii_uppercase().into());
        }
        if !self.maintenance_windows.is_empty() {
            scheduling.insert("maintenanceWindows".into(), self.maintenance_windows.into());
        }
        if !scheduling.is_empty() {
            body.insert("schedulingConfig".into(), scheduling.into());
        }
        if let Some(secs) = self.url_expiry {
            body.insert("presignedUrlConfig".into(), json!({ "expiresInSec": secs }));
        }
        Ok(())
    }
}

/// `notified=N` or `succeeded=N`.
fn parse_increase(s: &str) -> Result<(String, u64)> {
    let (when, n) = s
        .split_once('=')
        .context("expected notified=N or succeeded=N")?;
    let when = when.trim().to_ascii_lowercase();
    if when != "notified" && when != "succeeded" {
        bail!("expected notified=N or succeeded=N, not `{s}`");
    }
    let n = n
        .trim()
        .parse()
        .with_context(|| format!("`{n}` is not a number of things"))?;
    Ok((when, n))
}

/// `TYPE>PERCENT%@MIN` → one abortConfig criterion (action CANCEL).
fn parse_abort(s: &str) -> Result<Value> {
    const SYNTAX: &str = "expected TYPE>PERCENT%@MIN, e.g. FAILED>10%@20";
    let (kind, rest) = s.split_once('>').context(SYNTAX)?;
    let (percent, min) = rest.split_once("%@").context(SYNTAX)?;
    let kind = failure_type(kind, &["FAILED", "REJECTED", "TIMED_OUT", "ALL"])?;
    let percent: f64 = percent
        .trim()
        .parse()
        .with_context(|| format!("`{percent}` is not a percentage ({SYNTAX})"))?;
    let min: u64 = min
        .trim()
        .parse()
        .with_context(|| format!("`{min}` is not a number of things ({SYNTAX})"))?;
    Ok(json!({
        "failureType": kind,
        "action": "CANCEL",
        "thresholdPercentage": percent,
        "minNumberOfExecutedThings": min,
    }))
}

/// `TYPE=N` → one jobExecutionsRetryConfig criterion.
fn parse_retry(s: &str) -> Result<Value> {
    let (kind, n) = s
        .split_once('=')
        .context("expected TYPE=N, e.g. FAILED=3")?;
    let kind = failure_type(kind, &["FAILED", "TIMED_OUT", "ALL"])?;
    let n: u64 = n
        .trim()
        .parse()
        .with_context(|| format!("`{n}` is not a number of retries"))?;
    Ok(json!({ "failureType": kind, "numberOfRetries": n }))
}

/// `CRON,MINUTES` → one maintenance window. The cron expression may hold
/// commas itself (`MON,WED`): the duration is after the last one.
fn parse_window(s: &str) -> Result<Value> {
    let (cron, minutes) = s
        .rsplit_once(',')
        .context("expected CRON,MINUTES, e.g. 'cron(0 2 ? * SUN *),120'")?;
    let minutes: u64 = minutes
        .trim()
        .parse()
        .with_context(|| format!("`{minutes}` is not a number of minutes"))?;
    Ok(json!({ "startTime": cron.trim(), "durationInMinutes": minutes }))
}

fn failure_type(kind: &str, allowed: &[&str]) -> Result<String> {
    let kind = kind.trim().to_ascii_uppercase();
    if allowed.contains(&kind.as_str()) {
        Ok(kind)
    } else {
        bail!(
            "unknown failure type `{kind}`: one of {}",
            allowed.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        configs: ConfigArgs,
    }

    fn body(args: &[&str]) -> Result<Value> {
        let cli = Cli::try_parse_from(std::iter::once("job-create").chain(args.iter().copied()))?;
        let mut body = json!({ "targets": ["t1"] });
        cli.configs.apply(&mut body)?;
        Ok(body)
    }

    #[test]
    fn each_flag_becomes_the_aws_field_of_its_name() {
        let b = body(&[
            "--rollout-max-per-minute",
            "50",
            "--rollout-base-rate",
            "2",
            "--rollout-increment-factor",
            "1.5",
            "--rollout-increase-after",
            "succeeded=10",
            "--abort",
            "FAILED>10%@20",
            "--abort",
            "timed_out>5.5%@100",
            "--retry",
            "FAILED=3",
            "--retry",
            "TIMED_OUT=1",
            "--start-time",
            "2027-01-01T02:00",
            "--end-time",
            "2027-01-02T02:00",
            "--end-behavior",
            "cancel",
            "--maintenance-window",
            "cron(0 2 ? * MON,WED *),120",
            "--url-expiry",
            "600",
        ])
        .unwrap();
        assert_eq!(
            b,
            json!({
                "targets": ["t1"],
                "jobExecutionsRolloutConfig": {
                    "maximumPerMinute": 50,
                    "exponentialRate": {
                        "baseRatePerMinute": 2,
                        "incrementFactor": 1.5,
                        "rateIncreaseCriteria": { "numberOfSucceededThings": 10 },
                    },
                },
                "abortConfig": { "criteriaList": [
                    { "failureType": "FAILED", "action": "CANCEL",
                      "thresholdPercentage": 10.0, "minNumberOfExecutedThings": 20 },
                    { "failureType": "TIMED_OUT", "action": "CANCEL",
                      "thresholdPercentage": 5.5, "minNumberOfExecutedThings": 100 },
                ]},
                "jobExecutionsRetryConfig": { "criteriaList": [
                    { "failureType": "FAILED", "numberOfRetries": 3 },
                    { "failureType": "TIMED_OUT", "numberOfRetries": 1 },
                ]},
                "schedulingConfig": {
                    "startTime": "2027-01-01T02:00",
                    "endTime": "2027-01-02T02:00",
                    "endBehavior": "CANCEL",
                    "maintenanceWindows": [
                        { "startTime": "cron(0 2 ? * MON,WED *)", "durationInMinutes": 120 },
                    ],
                },
                "presignedUrlConfig": { "expiresInSec": 600 },
            })
        );
    }

    #[test]
    fn no_flags_add_nothing() {
        assert_eq!(body(&[]).unwrap(), json!({ "targets": ["t1"] }));
    }

    #[test]
    fn a_malformed_shorthand_is_refused_saying_the_syntax() {
        let cases = [
            (&["--abort", "FAILED10%@20"][..], "TYPE>PERCENT%@MIN"),
            (
                &["--abort", "CANCELED>10%@20"][..],
                "unknown failure type `CANCELED`",
            ),
            (
                &["--abort", "FAILED>ten%@20"][..],
                "`ten` is not a percentage",
            ),
            (
                &["--retry", "REJECTED=1"][..],
                "one of FAILED, TIMED_OUT, ALL",
            ),
            (&["--retry", "FAILED"][..], "TYPE=N"),
            (
                &["--maintenance-window", "cron(0 2 * * ? *)"][..],
                "CRON,MINUTES",
            ),
            (
                &["--rollout-base-rate", "2"][..],
                "--rollout-increment-factor",
            ),
            (
                &[
                    "--rollout-base-rate",
                    "2",
                    "--rollout-increment-factor",
                    "2",
                    "--rollout-increase-after",
                    "started=3",
                ][..],
                "notified=N or succeeded=N",
            ),
            (&["--end-behavior", "CANCEL"][..], "--end-time"),
        ];
        for (args, expected) in cases {
            let error = body(args).unwrap_err().to_string();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
    }
}
