//! The job execution as the device sees it
//! (<https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_JobExecution.html>).

use crate::{JobExecutionStatus, StatusDetails};
use serde::{Deserialize, Deserializer, Serialize};

/// Seconds since the Unix epoch. AWS sends seconds (the examples of
/// <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>);
/// some documentation shows milliseconds, so values above 10^11 are read as
/// milliseconds.
pub type Timestamp = i64;

/// JobExecution (JobExecutionData in the AWS SDKs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobExecution {
    /// The job.
    pub job_id: String,
    /// The thing it runs on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub thing_name: String,
    /// The document: a JSON value (an object in practice) over MQTT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_document: Option<serde_json::Value>,
    /// Current status.
    pub status: JobExecutionStatus,
    /// Details the device last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<StatusDetails>,
    /// When it was queued.
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub queued_at: Timestamp,
    /// When it first went IN_PROGRESS.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_seconds_opt"
    )]
    pub started_at: Option<Timestamp>,
    /// When it last changed.
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub last_updated_at: Timestamp,
    /// Grows with every update; the `expectedVersion` of the next update.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub version_number: u64,
    /// Which execution of the job on this thing (a retry is a new number).
    #[serde(default, deserialize_with = "lenient_u64")]
    pub execution_number: u64,
}

/// JobExecutionState: what VersionMismatch and InvalidStateTransition
/// rejections, and `includeJobExecutionState`, carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobExecutionState {
    /// Current status.
    pub status: JobExecutionStatus,
    /// Current details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<StatusDetails>,
    /// Current version.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub version_number: u64,
}

/// JobExecutionSummary: an entry of the pending lists and of `notify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobExecutionSummary {
    /// The job.
    pub job_id: String,
    /// When it was queued.
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub queued_at: Timestamp,
    /// When it started, once it has.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_seconds_opt"
    )]
    pub started_at: Option<Timestamp>,
    /// When it last changed.
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub last_updated_at: Timestamp,
    /// Current version.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub version_number: u64,
    /// Which execution.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub execution_number: u64,
}

/// A number that may arrive as a JSON string: the AWS embedded-C SDK sends
/// `"expectedVersion":"2"` and AWS IoT accepts it
/// (<https://github.com/aws/Jobs-for-AWS-IoT-embedded-sdk>, `source/jobs.c`).
pub(crate) fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(u64),
        Str(String),
    }
    match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => Ok(n),
        NumOrStr::Str(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

/// [`lenient_u64`] for optional fields.
pub(crate) fn lenient_u64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "lenient_u64")] u64);
    Option::<Wrap>::deserialize(d).map(|o| o.map(|w| w.0))
}

fn lenient_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let n = f64::deserialize(d)?;
    Ok(if n > 1e11 {
        (n / 1000.0) as i64
    } else {
        n as i64
    })
}

fn lenient_seconds_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "lenient_seconds")] Timestamp);
    Option::<Wrap>::deserialize(d).map(|o| o.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_notify_next_execution() {
        let e: JobExecution = serde_json::from_str(
            r#"{ "jobId":"job1","status":"QUEUED","queuedAt":1517016947,"lastUpdatedAt":1517016947,
                 "versionNumber":1,"executionNumber":1,"jobDocument":{"operation":"test"} }"#,
        )
        .unwrap();
        assert_eq!(e.job_id, "job1");
        assert_eq!(e.status, JobExecutionStatus::Queued);
        assert_eq!(e.execution_number, 1);
        assert_eq!(e.job_document.unwrap()["operation"], "test");
        assert_eq!(e.started_at, None);
    }

    #[test]
    fn millisecond_timestamps_and_string_numbers_are_tolerated() {
        let s: JobExecutionSummary = serde_json::from_str(
            r#"{"jobId":"j","queuedAt":1517016947123,"lastUpdatedAt":1517016948,"versionNumber":"3","executionNumber":2}"#,
        )
        .unwrap();
        assert_eq!(s.queued_at, 1517016947);
        assert_eq!(s.version_number, 3);
    }
}
