//! The `$aws/things/{thing}/jobs/...` topic map
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>), built and
//! parsed in one place so that agent and service cannot disagree.

use std::fmt;

/// The prefix every jobs topic of a thing starts with.
const PREFIX: &str = "$aws/things/";

/// Maximum length of a thing name (AWS).
pub const MAX_THING_NAME_CHARS: usize = 128;

/// The literal job id that DescribeJobExecution accepts for "the next one".
pub const NEXT: &str = "$next";

/// A request the device publishes, or the operation a reply belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operation {
    /// GetPendingJobExecutions: `jobs/get`.
    GetPending,
    /// StartNextPendingJobExecution: `jobs/start-next`.
    StartNext,
    /// DescribeJobExecution: `jobs/{jobId}/get` (job id may be `$next`).
    Describe(String),
    /// UpdateJobExecution: `jobs/{jobId}/update`.
    Update(String),
}

/// Which reply to an [`Operation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reply {
    /// `/accepted`
    Accepted,
    /// `/rejected`
    Rejected,
}

/// Every topic of the jobs API, for one thing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobsTopic {
    /// A request from the device.
    Request(Operation),
    /// The service's reply to a request.
    Reply(Operation, Reply),
    /// JobExecutionsChanged: `jobs/notify`.
    Notify,
    /// NextJobExecutionChanged: `jobs/notify-next`.
    NotifyNext,
}

/// A topic that is in the jobs namespace of some thing but maps to no API
/// (the service answers those with `InvalidTopic`), or is not a jobs topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Not under `$aws/things/{thing}/jobs/`.
    #[error("not a jobs topic: {0}")]
    NotJobs(String),
    /// Under the jobs namespace, but no such API.
    #[error("no jobs API at {0}")]
    Invalid(String),
}

/// Whether `name` is a valid thing name: 1–128 of `[a-zA-Z0-9:_-]`.
pub fn is_valid_thing_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_THING_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'))
}

/// Whether `id` is a valid job id: 1–64 of `[a-zA-Z0-9_-]`.
pub fn is_valid_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= crate::limits::MAX_JOB_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

impl JobsTopic {
    /// The full topic for `thing`.
    pub fn for_thing(&self, thing: &str) -> String {
        format!("{PREFIX}{thing}/jobs/{self}")
    }

    /// Splits a full topic into (thing, jobs topic).
    pub fn parse(topic: &str) -> Result<(String, JobsTopic), TopicError> {
        let not_jobs = || TopicError::NotJobs(topic.to_owned());
        let rest = topic.strip_prefix(PREFIX).ok_or_else(not_jobs)?;
        let (thing, rest) = rest.split_once('/').ok_or_else(not_jobs)?;
        let tail = rest.strip_prefix("jobs/").ok_or_else(not_jobs)?;
        if !is_valid_thing_name(thing) {
            return Err(not_jobs());
        }
        let invalid = || TopicError::Invalid(topic.to_owned());
        let parts: Vec<&str> = tail.split('/').collect();
        let reply = |s: &str| match s {
            "accepted" => Some(Reply::Accepted),
            "rejected" => Some(Reply::Rejected),
            _ => None,
        };
        let parsed = match parts.as_slice() {
            ["notify"] => JobsTopic::Notify,
            ["notify-next"] => JobsTopic::NotifyNext,
            ["get"] => JobsTopic::Request(Operation::GetPending),
            ["start-next"] => JobsTopic::Request(Operation::StartNext),
            ["get", r] => JobsTopic::Reply(Operation::GetPending, reply(r).ok_or_else(invalid)?),
            ["start-next", r] => {
                JobsTopic::Reply(Operation::StartNext, reply(r).ok_or_else(invalid)?)
            }
            [job, "get"] if *job == NEXT || is_valid_job_id(job) => {
                JobsTopic::Request(Operation::Describe((*job).to_owned()))
            }
            [job, "update"] if is_valid_job_id(job) => {
                JobsTopic::Request(Operation::Update((*job).to_owned()))
            }
            [job, "get", r] if *job == NEXT || is_valid_job_id(job) => JobsTopic::Reply(
                Operation::Describe((*job).to_owned()),
                reply(r).ok_or_else(invalid)?,
            ),
            [job, "update", r] if is_valid_job_id(job) => JobsTopic::Reply(
                Operation::Update((*job).to_owned()),
                reply(r).ok_or_else(invalid)?,
            ),
            _ => return Err(invalid()),
        };
        Ok((thing.to_owned(), parsed))
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::GetPending => f.write_str("get"),
            Operation::StartNext => f.write_str("start-next"),
            Operation::Describe(job) => write!(f, "{job}/get"),
            Operation::Update(job) => write!(f, "{job}/update"),
        }
    }
}

/// The part after `$aws/things/{thing}/jobs/`.
impl fmt::Display for JobsTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobsTopic::Request(op) => write!(f, "{op}"),
            JobsTopic::Reply(op, Reply::Accepted) => write!(f, "{op}/accepted"),
            JobsTopic::Reply(op, Reply::Rejected) => write!(f, "{op}/rejected"),
            JobsTopic::Notify => f.write_str("notify"),
            JobsTopic::NotifyNext => f.write_str("notify-next"),
        }
    }
}

/// Filters a device subscribes to: notifications and every reply (replies
/// arrive whether or not the device subscribed, but the filters make the
/// agent portable to brokers that route strictly by subscription).
pub fn device_subscriptions(thing: &str) -> Vec<String> {
    let base = format!("{PREFIX}{thing}/jobs");
    vec![
        format!("{base}/notify"),
        format!("{base}/notify-next"),
        format!("{base}/get/+"),
        format!("{base}/start-next/+"),
        format!("{base}/+/get/+"),
        format!("{base}/+/update/+"),
    ]
}

/// The filter a jobs service subscribes to: every thing's jobs topics.
pub const SERVICE_SUBSCRIPTION: &str = "$aws/things/+/jobs/#";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_round_trips() {
        let job = || "job-1".to_owned();
        let all = [
            JobsTopic::Notify,
            JobsTopic::NotifyNext,
            JobsTopic::Request(Operation::GetPending),
            JobsTopic::Request(Operation::StartNext),
            JobsTopic::Request(Operation::Describe(job())),
            JobsTopic::Request(Operation::Describe(NEXT.into())),
            JobsTopic::Request(Operation::Update(job())),
            JobsTopic::Reply(Operation::GetPending, Reply::Accepted),
            JobsTopic::Reply(Operation::StartNext, Reply::Rejected),
            JobsTopic::Reply(Operation::Describe(NEXT.into()), Reply::Accepted),
            JobsTopic::Reply(Operation::Update(job()), Reply::Rejected),
        ];
        for t in all {
            let full = t.for_thing("thing-1");
            assert!(full.starts_with("$aws/things/thing-1/jobs/"), "{full}");
            assert_eq!(JobsTopic::parse(&full), Ok(("thing-1".to_owned(), t)));
        }
    }

    #[test]
    fn exact_spellings() {
        assert_eq!(
            JobsTopic::NotifyNext.for_thing("t"),
            "$aws/things/t/jobs/notify-next"
        );
        assert_eq!(
            JobsTopic::Reply(Operation::Update("j".into()), Reply::Accepted).for_thing("t"),
            "$aws/things/t/jobs/j/update/accepted"
        );
        assert_eq!(
            JobsTopic::Request(Operation::Describe(NEXT.into())).for_thing("t"),
            "$aws/things/t/jobs/$next/get"
        );
    }

    #[test]
    fn jobs_namespace_without_an_api_is_invalid_topic() {
        for t in [
            "$aws/things/t/jobs/bogus",
            "$aws/things/t/jobs/j/delete",
            "$aws/things/t/jobs/$next/update",
            "$aws/things/t/jobs/get/maybe",
        ] {
            assert_eq!(
                JobsTopic::parse(t),
                Err(TopicError::Invalid(t.into())),
                "{t}"
            );
        }
        for t in [
            "aws/things/t/jobs/get",
            "$aws/things/t/shadow/get",
            "$aws/things/bad name/jobs/get",
        ] {
            assert!(
                matches!(JobsTopic::parse(t), Err(TopicError::NotJobs(_))),
                "{t}"
            );
        }
    }

    #[test]
    fn names_follow_aws_patterns() {
        assert!(is_valid_thing_name("dev:ice_1-A"));
        assert!(!is_valid_thing_name("a/b"));
        assert!(!is_valid_thing_name(&"x".repeat(129)));
        assert!(is_valid_job_id("job_1-A"));
        assert!(!is_valid_job_id("job:1"));
        assert!(!is_valid_job_id(&"j".repeat(65)));
    }
}
