//! A job's staged rollout, abort rules, schedule and retries: AWS IoT's
//! `jobExecutionsRolloutConfig`, `abortConfig`, `schedulingConfig` and
//! `jobExecutionsRetryConfig`
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-configurations-details.html>),
//! read from a CreateJob body and checked, and the arithmetic over them:
//! the current rollout rate, how many targets it allows now, whether a
//! maintenance window is open, whether a failed execution is retried.
//!
//! A leaf: no I/O, no clock, no store. The store applies these rules to
//! its rows (`store::rollout`), the service's scheduler task calls the
//! store once a second (`server`), and the HTTP API parses and returns
//! the configurations in AWS's shape.
//!
//! # Layout
//!
//! - [`config`]: the configurations, AWS's shapes, and [`JobConfigs`],
//!   read from JSON with every limit checked.
//! - `fields`: reading a JSON object so that each refusal names its field.
//! - [`rate`]: the rollout rate and how it is spent, second by second.
//! - [`retry`]: `jobExecutionsRetryConfig`, and which failures are retried.
//! - `schedule`: start, end and maintenance windows.
//! - [`cron`]: the cron expressions of maintenance windows.
//! - [`datetime`]: AWS's `StringDateTime`.

/// Gives `$t`, a type read from text by `$t::parse` that keeps the text
/// in its `text` field, the conversions its
/// `#[serde(try_from = "String", into = "String")]` needs: it is
/// (de)serialised as the text the caller wrote, and checked when read.
macro_rules! text_form {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                Self::parse(&text)
            }
        }

        impl From<$t> for String {
            fn from(value: $t) -> String {
                value.text
            }
        }
    };
}
use text_form;

pub mod config;
pub mod cron;
pub mod datetime;
mod fields;
pub mod rate;
pub mod retry;
mod schedule;

#[cfg(test)]
mod tests;

pub use config::{
    AbortConfig, AbortCriterion, EndBehavior, FailureType, JobConfigs, RawConfigs, RolloutConfig,
    SchedulingConfig,
};
pub use retry::{Failure, RetriesSpent, RetryConfig};

/// A configuration that breaks a rule: the message starts with the path of
/// the field (`jobExecutionsRolloutConfig.maximumPerMinute`), so that the
/// API's 400 names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} {message}")]
pub struct ConfigError {
    /// The field, as a JSON path from the request body.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}
