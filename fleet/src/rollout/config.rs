//! The configurations as AWS shapes them (the botocore `iot` model,
//! 2015-05-28: `JobExecutionsRolloutConfig`, `AbortConfig`,
//! `SchedulingConfig`; `JobExecutionsRetryConfig` is [`super::retry`]'s),
//! read from a CreateJob body with every limit checked. They serialise back to the same shape: the store keeps them as
//! that JSON, and DescribeJob returns them.

use super::cron::CronExpression;
use super::datetime::StringDateTime;
use super::fields::Obj;
use super::retry::RetryConfig;
use super::ConfigError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most things a rollout notifies per minute, and the rate of a
/// rollout that names none: `maximumPerMinute` "ranges from 1 to 1000. If
/// you don't set the value, it uses 1000 as the default value"
/// (<https://docs.aws.amazon.com/iot/latest/developerguide/job-configurations-api.html>).
/// The current botocore model states only the minimum (1) for
/// `MaxJobExecutionsPerMin`; the 1000 is the developer guide's and
/// `RolloutRatePerMinute`'s.
pub const MAX_PER_MINUTE: u32 = 1000;

/// `jobExecutionsRolloutConfig`: how fast targets are notified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutConfig {
    /// A constant rate, 1-1000 per minute; with `exponential_rate`, its
    /// ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_per_minute: Option<u32>,
    /// A rate that grows as targets are notified or succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponential_rate: Option<ExponentialRate>,
}

/// `ExponentialRolloutRate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExponentialRate {
    /// The starting rate, 1-1000 per minute.
    pub base_rate_per_minute: u32,
    /// What the rate is multiplied by at each increase: 1.1-5, one decimal.
    pub increment_factor: f64,
    /// When the rate increases.
    pub rate_increase_criteria: RateIncreaseCriteria,
}

/// `RateIncreaseCriteria`: the rate increases each time this many more
/// things were notified, or succeeded, whichever comes first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateIncreaseCriteria {
    /// Every this many notified things.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_notified_things: Option<u32>,
    /// Every this many SUCCEEDED things.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_succeeded_things: Option<u32>,
}

/// `abortConfig`: when to cancel the job because too many executions
/// failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortConfig {
    /// Checked in order; the first one met cancels the job.
    pub criteria_list: Vec<AbortCriterion>,
}

/// `AbortCriteria`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortCriterion {
    /// Which outcomes count as failures.
    pub failure_type: FailureType,
    /// What to do: only CANCEL exists.
    pub action: AbortAction,
    /// The share of failures, in percent (0-100, two decimals), at or
    /// above which the job is cancelled.
    pub threshold_percentage: f64,
    /// How many executions must have ended before the rule applies.
    pub min_number_of_executed_things: u32,
}

/// `JobExecutionFailureType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureType {
    /// FAILED executions.
    Failed,
    /// REJECTED executions.
    Rejected,
    /// TIMED_OUT executions.
    TimedOut,
    /// All three.
    All,
}

impl FailureType {
    const NAMES: [&str; 4] = ["FAILED", "REJECTED", "TIMED_OUT", "ALL"];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "FAILED",
            Self::Rejected => "REJECTED",
            Self::TimedOut => "TIMED_OUT",
            Self::All => "ALL",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Failed, Self::Rejected, Self::TimedOut, Self::All]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// `AbortAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AbortAction {
    /// Cancel the job: QUEUED executions are cancelled, unreleased targets
    /// dropped; IN_PROGRESS ones run on.
    Cancel,
}

/// `schedulingConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingConfig {
    /// No target is notified before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<StringDateTime>,
    /// No target is notified after this; then `end_behavior` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<StringDateTime>,
    /// What happens at `end_time` (STOP_ROLLOUT when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_behavior: Option<EndBehavior>,
    /// When given, targets are notified only inside one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_windows: Vec<MaintenanceWindow>,
}

/// `JobEndBehavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndBehavior {
    /// Notify no more targets; executions already notified run on.
    StopRollout,
    /// Cancel the job as CancelJob does: QUEUED executions are cancelled.
    Cancel,
    /// Cancel the job as CancelJob with `force` does: IN_PROGRESS
    /// executions too.
    ForceCancel,
}

impl EndBehavior {
    const NAMES: [&str; 3] = ["STOP_ROLLOUT", "CANCEL", "FORCE_CANCEL"];

    fn parse(s: &str) -> Option<Self> {
        match s {
            "STOP_ROLLOUT" => Some(Self::StopRollout),
            "CANCEL" => Some(Self::Cancel),
            "FORCE_CANCEL" => Some(Self::ForceCancel),
            _ => None,
        }
    }
}

/// `MaintenanceWindow`: a recurring window, from each time `start_time`
/// fires, `duration_in_minutes` long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// When each window opens.
    pub start_time: CronExpression,
    /// How long each stays open: 1-1430 minutes.
    pub duration_in_minutes: u32,
}

/// A job's rollout, abort, scheduling and retry configurations, each
/// optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobConfigs {
    /// `jobExecutionsRolloutConfig`.
    pub rollout: Option<RolloutConfig>,
    /// `abortConfig`.
    pub abort: Option<AbortConfig>,
    /// `schedulingConfig`.
    pub scheduling: Option<SchedulingConfig>,
    /// `jobExecutionsRetryConfig` ([`super::retry`]).
    pub retry: Option<RetryConfig>,
}

/// The raw configurations of a CreateJob body, as JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawConfigs<'a> {
    /// `jobExecutionsRolloutConfig`.
    pub rollout: Option<&'a Value>,
    /// `abortConfig`.
    pub abort: Option<&'a Value>,
    /// `schedulingConfig`.
    pub scheduling: Option<&'a Value>,
    /// `jobExecutionsRetryConfig`.
    pub retry: Option<&'a Value>,
}

/// AWS's scheduling limits
/// (<https://docs.aws.amazon.com/iot/latest/apireference/API_SchedulingConfig.html>).
mod limits {
    const MINUTE: i64 = 60;
    const DAY: i64 = 86_400;
    /// startTime and endTime: at least thirty minutes from now; the two
    /// at least thirty minutes apart.
    pub const MIN_LEAD: i64 = 30 * MINUTE;
    /// startTime: up to a year ahead.
    pub const MAX_START_AHEAD: i64 = 365 * DAY;
    /// endTime: no later than two years from now, or from startTime.
    pub const MAX_END_AHEAD: i64 = 2 * 365 * DAY;
    /// A maintenance window: 1-1430 minutes (`DurationInMinutes`).
    pub const WINDOW_MINUTES: std::ops::RangeInclusive<u32> = 1..=1430;
}

impl JobConfigs {
    /// Reads and checks the configurations of a CreateJob at `now`
    /// (scheduling times are checked against it). Each error names the
    /// field.
    pub fn from_json(raw: RawConfigs<'_>, now: i64) -> Result<Self, ConfigError> {
        Ok(Self {
            rollout: raw.rollout.map(parse_rollout).transpose()?,
            abort: raw.abort.map(parse_abort).transpose()?,
            scheduling: raw
                .scheduling
                .map(|v| parse_scheduling(v, now))
                .transpose()?,
            retry: raw.retry.map(RetryConfig::from_json).transpose()?,
        })
    }

    /// Whether targets wait for a rollout or a schedule to release them,
    /// instead of all being notified when the job is created.
    pub fn gates_release(&self) -> bool {
        self.rollout.is_some() || self.scheduling.is_some()
    }
}

fn parse_rollout(v: &Value) -> Result<RolloutConfig, ConfigError> {
    let mut o = Obj::new("jobExecutionsRolloutConfig".into(), v)?;
    let maximum_per_minute = o.int("maximumPerMinute", 1..=MAX_PER_MINUTE)?;
    let exponential_rate = match o.object("exponentialRate")? {
        None => None,
        Some(mut e) => {
            let base = e.int("baseRatePerMinute", 1..=MAX_PER_MINUTE)?;
            let factor = e.number("incrementFactor", 1.1..=5.0, 1)?;
            let criteria = match e.object("rateIncreaseCriteria")? {
                None => None,
                Some(mut c) => {
                    let criteria = RateIncreaseCriteria {
                        number_of_notified_things: c.int("numberOfNotifiedThings", 1..=u32::MAX)?,
                        number_of_succeeded_things: c
                            .int("numberOfSucceededThings", 1..=u32::MAX)?,
                    };
                    if criteria.number_of_notified_things.is_none()
                        && criteria.number_of_succeeded_things.is_none()
                    {
                        return Err(e.error(
                            "rateIncreaseCriteria",
                            "needs numberOfNotifiedThings or numberOfSucceededThings",
                        ));
                    }
                    c.finish()?;
                    Some(criteria)
                }
            };
            let rate = ExponentialRate {
                base_rate_per_minute: e.required("baseRatePerMinute", base)?,
                increment_factor: e.required("incrementFactor", factor)?,
                rate_increase_criteria: e.required("rateIncreaseCriteria", criteria)?,
            };
            e.finish()?;
            Some(rate)
        }
    };
    o.finish()?;
    if let (Some(max), Some(e)) = (maximum_per_minute, &exponential_rate) {
        if e.base_rate_per_minute > max {
            return Err(ConfigError::new(
                "jobExecutionsRolloutConfig.exponentialRate.baseRatePerMinute",
                format!(
                    "{} is above maximumPerMinute ({max}), which caps the rate",
                    e.base_rate_per_minute
                ),
            ));
        }
    }
    Ok(RolloutConfig {
        maximum_per_minute,
        exponential_rate,
    })
}

fn parse_abort(v: &Value) -> Result<AbortConfig, ConfigError> {
    let mut o = Obj::new("abortConfig".into(), v)?;
    let items = o.objects("criteriaList")?;
    let items = o.required("criteriaList", items)?;
    if items.is_empty() {
        return Err(o.error("criteriaList", "needs at least one criterion"));
    }
    let mut criteria_list = Vec::with_capacity(items.len());
    for mut c in items {
        let failure_type = c.choice("failureType", &FailureType::NAMES, FailureType::parse)?;
        let action = c.choice("action", &["CANCEL"], |s| {
            (s == "CANCEL").then_some(AbortAction::Cancel)
        })?;
        let threshold = c.number("thresholdPercentage", 0.0..=100.0, 2)?;
        let min = c.int("minNumberOfExecutedThings", 1..=u32::MAX)?;
        criteria_list.push(AbortCriterion {
            failure_type: c.required("failureType", failure_type)?,
            action: c.required("action", action)?,
            threshold_percentage: c.required("thresholdPercentage", threshold)?,
            min_number_of_executed_things: c.required("minNumberOfExecutedThings", min)?,
        });
        c.finish()?;
    }
    o.finish()?;
    Ok(AbortConfig { criteria_list })
}

fn parse_scheduling(v: &Value, now: i64) -> Result<SchedulingConfig, ConfigError> {
    use limits::*;
    let mut o = Obj::new("schedulingConfig".into(), v)?;
    let time = |o: &mut Obj<'_>, key: &'static str| -> Result<_, ConfigError> {
        o.string(key)?
            .map(|s| StringDateTime::parse(s).map_err(|e| o.error(key, e)))
            .transpose()
    };
    let start_time = time(&mut o, "startTime")?;
    let end_time = time(&mut o, "endTime")?;
    let end_behavior = o.choice("endBehavior", &EndBehavior::NAMES, EndBehavior::parse)?;
    let mut maintenance_windows = Vec::new();
    for mut w in o.objects("maintenanceWindows")?.unwrap_or_default() {
        let cron = w
            .string("startTime")?
            .map(|s| CronExpression::parse(s).map_err(|e| w.error("startTime", e)))
            .transpose()?;
        let minutes = w.int("durationInMinutes", WINDOW_MINUTES)?;
        maintenance_windows.push(MaintenanceWindow {
            start_time: w.required("startTime", cron)?,
            duration_in_minutes: w.required("durationInMinutes", minutes)?,
        });
        w.finish()?;
    }
    let begins = start_time.as_ref().map_or(now, StringDateTime::epoch);
    if let Some(start) = &start_time {
        let at = start.epoch();
        if at < now + MIN_LEAD || at > now + MAX_START_AHEAD {
            return Err(o.error(
                "startTime",
                format!("{start} must be 30 minutes to a year from now"),
            ));
        }
    }
    if let Some(end) = &end_time {
        let at = end.epoch();
        if at < now + MIN_LEAD || at > now + MAX_END_AHEAD {
            return Err(o.error(
                "endTime",
                format!("{end} must be 30 minutes to two years from now"),
            ));
        }
        if at < begins + MIN_LEAD || at > begins + MAX_END_AHEAD {
            return Err(o.error(
                "endTime",
                format!("{end} must be 30 minutes to two years after startTime"),
            ));
        }
    }
    o.finish()?;
    Ok(SchedulingConfig {
        start_time,
        end_time,
        end_behavior,
        maintenance_windows,
    })
}
