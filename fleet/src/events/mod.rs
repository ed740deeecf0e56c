//! AWS IoT Jobs events for monitoring applications
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html>):
//! what the store's committed changes
//! ([`ExecutionChange`](crate::store::ExecutionChange)) become, with
//! AWS's topics and payloads, and the task that publishes them on the
//! broker.
//!
//! - `$aws/events/job/<jobId>/completed|canceled|deleted` (event type
//!   JOB). AWS also has `cancellation_in_progress` and
//!   `deletion_in_progress`, because its cancellations and deletions take
//!   time; here each is one transaction, so a job never is in either state
//!   and those two events are never sent.
//! - `$aws/events/jobExecution/<jobId>/succeeded|failed|rejected|canceled|timed_out|removed|deleted`
//!   (event type JOB_EXECUTION): an execution reached a terminal status,
//!   or was deleted (with its job, or by DeleteJobExecution).
//!
//! On the broker each type is published only while enabled
//! (UpdateEventConfigurations; both are disabled until then, as in AWS),
//! and only an operator identity may subscribe (`crate::broker::policy`).
//! The HTTP API streams the same events as Server-Sent Events, whatever
//! the configuration (`crate::api`).
//!
//! # Layout
//!
//! - `payload`: [`AwsEvent`]: a change's topic and payload.
//! - `broker`: [`publish_on_broker`], the publishing task.

mod broker;
mod payload;

#[cfg(test)]
mod tests;

pub use broker::publish_on_broker;
pub use payload::AwsEvent;

/// What a monitoring application subscribes to for every job and job
/// execution event.
pub const SUBSCRIPTION: &str = "$aws/events/#";
