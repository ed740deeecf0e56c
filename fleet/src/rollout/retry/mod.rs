//! `jobExecutionsRetryConfig`: when an execution that ended FAILED or
//! TIMED_OUT is run again, as a new execution of the same job on the same
//! thing (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-configurations-details.html#job-retry-configuration>).
//! The shapes are botocore's `iot` model (2015-05-28):
//! `JobExecutionsRetryConfig`, `RetryCriteria`, `RetryableFailureType`,
//! `NumberOfRetries`.
//!
//! What AWS documents, and what this service decides where it does not:
//!
//! - a criterion gives a failure type (FAILED, TIMED_OUT, or ALL: both)
//!   its number of retries, 0-10; "for a single device, you can specify up
//!   to 10 retries for both failure types combined", so the numbers of a
//!   `criteriaList` (at most two criteria) may add up to 10 at most;
//! - REJECTED, CANCELED and REMOVED executions are never retried;
//! - each failure type is governed by one criterion: its own if the list
//!   has one, else ALL's (AWS does not say how ALL combines with a type of
//!   its own; a wildcard yielding to the specific rule is the reading that
//!   gives every number in the list a use). A criterion's retries are spent
//!   by the failures of the types it governs: `ALL: 3` alone is three
//!   retries in all, whatever the failures; with `FAILED: 2` beside it,
//!   FAILED executions get two and TIMED_OUT ones three;
//! - after creation "the number of retries can't be updated. You can only
//!   set the number of retries to 0 by using the UpdateJob API operation"
//!   (<https://docs.aws.amazon.com/iot/latest/developerguide/job-configurations-api.html#job-retry-api>):
//!   UpdateJob's criteria must all say 0, and each stops the retries of its
//!   failure type ([`RetryConfig::stop`]).
//!
//! A leaf like the rest of [`crate::rollout`]: the store counts what each
//! thing has spent and asks [`RetryConfig::allows`].

use super::fields::Obj;
use super::ConfigError;
use jobhost_protocol::JobExecutionStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(test)]
pub(crate) mod tests;

/// The most retries one thing gets from one job, both failure types
/// combined (the developer guide, above); also each criterion's maximum
/// (`NumberOfRetries`: 0-10).
pub const MAX_RETRIES: u32 = 10;

/// The most criteria in a `criteriaList` (`RetryCriteriaList`: 1-2).
const MAX_CRITERIA: usize = 2;

/// `jobExecutionsRetryConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryConfig {
    /// One or two criteria, of distinct failure types.
    pub criteria_list: Vec<RetryCriterion>,
}

/// `RetryCriteria`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryCriterion {
    /// The failures it retries.
    pub failure_type: RetryableFailureType,
    /// How many times, 0-10.
    pub number_of_retries: u32,
}

/// `RetryableFailureType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryableFailureType {
    /// Executions their device reported FAILED.
    Failed,
    /// Executions the in-progress or step timer ended.
    TimedOut,
    /// Both.
    All,
}

impl RetryableFailureType {
    const NAMES: [&str; 3] = ["FAILED", "TIMED_OUT", "ALL"];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::All => "ALL",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Failed, Self::TimedOut, Self::All]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// How an execution ended that a retry may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Its device reported FAILED.
    Failed,
    /// A timer ended it: TIMED_OUT.
    TimedOut,
}

impl Failure {
    const ALL: [Failure; 2] = [Failure::Failed, Failure::TimedOut];

    /// The failure an execution that ended with `status` is, if a retry
    /// may follow it: FAILED or TIMED_OUT.
    pub fn of_status(status: JobExecutionStatus) -> Option<Self> {
        match status {
            JobExecutionStatus::Failed => Some(Self::Failed),
            JobExecutionStatus::TimedOut => Some(Self::TimedOut),
            _ => None,
        }
    }

    fn failure_type(self) -> RetryableFailureType {
        match self {
            Self::Failed => RetryableFailureType::Failed,
            Self::TimedOut => RetryableFailureType::TimedOut,
        }
    }
}

/// The retries a thing has had from one job, by the failure that caused
/// each: what its latest execution records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetriesSpent {
    /// Retries that followed a FAILED execution.
    pub failed: u32,
    /// Retries that followed a TIMED_OUT execution.
    pub timed_out: u32,
}

impl RetriesSpent {
    /// AWS's `retryAttempt`: how many retries came before, and including,
    /// this execution (0 for the first).
    pub fn attempt(self) -> u32 {
        self.failed.saturating_add(self.timed_out)
    }

    /// The count of the next execution, a retry after `cause`.
    pub fn after(self, cause: Failure) -> Self {
        match cause {
            Failure::Failed => Self {
                failed: self.failed.saturating_add(1),
                ..self
            },
            Failure::TimedOut => Self {
                timed_out: self.timed_out.saturating_add(1),
                ..self
            },
        }
    }

    fn of(self, cause: Failure) -> u32 {
        match cause {
            Failure::Failed => self.failed,
            Failure::TimedOut => self.timed_out,
        }
    }
}

impl RetryConfig {
    /// Reads and checks CreateJob's `jobExecutionsRetryConfig`; each
    /// error names the field.
    pub fn from_json(v: &Value) -> Result<Self, ConfigError> {
        let mut o = Obj::new("jobExecutionsRetryConfig".into(), v)?;
        let items = o.objects("criteriaList")?;
        let items = o.required("criteriaList", items)?;
        if items.is_empty() || items.len() > MAX_CRITERIA {
            return Err(o.error(
                "criteriaList",
                format!(
                    "must have 1 to {MAX_CRITERIA} criteria, not {}",
                    items.len()
                ),
            ));
        }
        let mut criteria_list: Vec<RetryCriterion> = Vec::with_capacity(items.len());
        for mut c in items {
            let failure_type = c.choice(
                "failureType",
                &RetryableFailureType::NAMES,
                RetryableFailureType::parse,
            )?;
            let retries = c.int("numberOfRetries", 0..=MAX_RETRIES)?;
            let criterion = RetryCriterion {
                failure_type: c.required("failureType", failure_type)?,
                number_of_retries: c.required("numberOfRetries", retries)?,
            };
            if let Some(i) = criteria_list
                .iter()
                .position(|earlier| earlier.failure_type == criterion.failure_type)
            {
                return Err(c.error(
                    "failureType",
                    format!(
                        "{} is given twice (criteriaList[{i}] has it already)",
                        criterion.failure_type.as_str()
                    ),
                ));
            }
            c.finish()?;
            criteria_list.push(criterion);
        }
        let total: u32 = criteria_list.iter().map(|c| c.number_of_retries).sum();
        if total > MAX_RETRIES {
            return Err(o.error(
                "criteriaList",
                format!(
                    "asks for {total} retries in all; a thing gets at most {MAX_RETRIES}, \
                     both failure types combined"
                ),
            ));
        }
        o.finish()?;
        Ok(Self { criteria_list })
    }

    /// Reads UpdateJob's `jobExecutionsRetryConfig`: as CreateJob's, but
    /// every `numberOfRetries` must be 0, the only change AWS allows after
    /// creation.
    pub fn from_update_json(v: &Value) -> Result<Self, ConfigError> {
        let config = Self::from_json(v)?;
        if let Some(i) = config
            .criteria_list
            .iter()
            .position(|c| c.number_of_retries != 0)
        {
            return Err(ConfigError::new(
                &format!("jobExecutionsRetryConfig.criteriaList[{i}].numberOfRetries"),
                format!(
                    "is {}, but after a job is created its number of retries can only be set \
                     to 0 (stopping the retries of that failure type)",
                    config.criteria_list[i].number_of_retries
                ),
            ));
        }
        Ok(config)
    }

    /// The criterion that governs failures of `cause`: its own, else ALL.
    fn governing(&self, cause: Failure) -> Option<&RetryCriterion> {
        let find =
            |t: RetryableFailureType| self.criteria_list.iter().find(|c| c.failure_type == t);
        find(cause.failure_type()).or_else(|| find(RetryableFailureType::All))
    }

    /// The failure type of the criterion that governs `cause`.
    fn governing_type(&self, cause: Failure) -> Option<RetryableFailureType> {
        self.governing(cause).map(|c| c.failure_type)
    }

    /// Whether a thing whose latest execution ended with `cause`, having
    /// had `spent` retries so far, gets another one: the criterion that
    /// governs `cause` has retries left, counting the retries caused by
    /// every failure type it governs, and the thing is below
    /// [`MAX_RETRIES`].
    pub fn allows(&self, cause: Failure, spent: RetriesSpent) -> bool {
        let Some(rule) = self.governing(cause) else {
            return false;
        };
        let used: u32 = Failure::ALL
            .into_iter()
            .filter(|f| self.governing_type(*f) == Some(rule.failure_type))
            .map(|f| spent.of(f))
            .sum();
        used < rule.number_of_retries && spent.attempt() < MAX_RETRIES
    }

    /// The configuration after UpdateJob's `update` (every criterion 0,
    /// [`RetryConfig::from_update_json`]) on a job that had `current`:
    /// each failure type an update criterion names gets no more retries,
    /// the other keeps its own. In AWS's shape, at most two criteria: ALL
    /// sets every criterion to 0; FAILED or TIMED_OUT sets the criterion
    /// that governs the type to 0 when it governs that type alone, and
    /// otherwise (ALL governs both, or nothing governs it) adds the type
    /// with 0.
    pub fn stop(current: Option<&RetryConfig>, update: &RetryConfig) -> RetryConfig {
        let mut config = current.cloned().unwrap_or(RetryConfig {
            criteria_list: Vec::new(),
        });
        for u in &update.criteria_list {
            let cause = match u.failure_type {
                RetryableFailureType::All => {
                    config
                        .criteria_list
                        .iter_mut()
                        .for_each(|c| c.number_of_retries = 0);
                    if config.criteria_list.is_empty() {
                        config.criteria_list.push(u.clone());
                    }
                    continue;
                }
                RetryableFailureType::Failed => Failure::Failed,
                RetryableFailureType::TimedOut => Failure::TimedOut,
            };
            let governing = config.governing_type(cause);
            let shared = Failure::ALL
                .into_iter()
                .any(|f| f != cause && config.governing_type(f) == governing);
            match governing {
                Some(t) if !shared => {
                    for c in config
                        .criteria_list
                        .iter_mut()
                        .filter(|c| c.failure_type == t)
                    {
                        c.number_of_retries = 0;
                    }
                }
                _ => config.criteria_list.push(u.clone()),
            }
        }
        config
    }
}
