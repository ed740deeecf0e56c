//! Every MQTT payload type the agent and the jobs service parse
//! (jobhost-protocol): what the agent reads (notify-next, notify,
//! `$next/get` and describe replies, update replies, rejections) and what
//! the service reads (get-pending, start-next, describe and update
//! requests), plus the topic itself (`JobsTopic::parse`).
//!
//! Payloads are parsed both the agent's way (`serde_json::from_slice`
//! straight into the type, host/src/agent/actor.rs) and the service's way
//! (into a `Value` first, then the type, fleet/src/service/handler.rs).
//!
//! Asserts: no panic; JSON the agent's way accepts, the service's way
//! accepts as the same value (when the payload is a `Value` at all:
//! serde_json skips an unknown field's string without checking its UTF-8); every accepted value serialises, and parses
//! back to the same value (unless it holds a timestamp past year 5138,
//! which the lenient reader takes for milliseconds by design, or a float,
//! which serde_json may print and read back one ulp off); statusDetails that
//! pass the service's `validate` are kept as they are; a topic that parses
//! is rebuilt exactly by `for_thing`.
#![no_main]

use jobhost_fuzz::has_float;
use jobhost_protocol::requests::{
    DescribeRequest, GetPendingRequest, StartNextRequest, UpdateRequest,
};
use jobhost_protocol::responses::{
    ExecutionAccepted, GetPendingAccepted, Notify, NotifyNext, UpdateAccepted,
};
use jobhost_protocol::{ErrorResponse, JobsTopic, StatusDetails};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Debug;

/// Whether a timestamp-like key holds a number above 1e11: the lenient
/// reader takes those for milliseconds and divides them by 1000, so they
/// do not survive a trip (by design).
fn rescaled(v: &Value) -> bool {
    match v {
        Value::Object(map) => map.iter().any(|(k, x)| {
            let time = k == "timestamp" || k.ends_with("At");
            (time && x.as_f64().is_some_and(|n| n > 1e11)) || rescaled(x)
        }),
        Value::Array(items) => items.iter().any(rescaled),
        _ => false,
    }
}

fn check<T>(data: &[u8], value: Option<&Value>)
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let direct = serde_json::from_slice::<T>(data);
    // serde_json does not check the UTF-8 of a string it skips (an unknown
    // field), where a `Value` must hold it: compare only when both read it.
    if let (Ok(direct), Some(value)) = (&direct, value) {
        match serde_json::from_value::<T>(value.clone()) {
            Ok(v) => assert_eq!(&v, direct, "the two ways disagree"),
            Err(e) => panic!("the service's way refuses what the agent's accepts: {e}"),
        }
    }
    let accepted = match direct {
        Ok(x) => Some(x),
        Err(_) => value.and_then(|v| serde_json::from_value::<T>(v.clone()).ok()),
    };
    if let Some(x) = accepted {
        let json = serde_json::to_vec(&x).expect("serialises");
        let back: T = serde_json::from_slice(&json).expect("its own output parses back");
        let (a, b) = (
            serde_json::to_value(&x).expect("serialises"),
            serde_json::to_value(&back).expect("serialises"),
        );
        if rescaled(&a) || has_float(&a) {
            return;
        }
        assert_eq!(a, b, "the round trip changed the value");
    }
}

fuzz_target!(
    init: {
        jobhost_fuzz::seeds(make_seeds);
    },
    |data: &[u8]| {
        if let Ok(topic) = std::str::from_utf8(data) {
            if let Ok((thing, parsed)) = JobsTopic::parse(topic) {
                assert_eq!(parsed.for_thing(&thing), topic);
            }
        }
        let value = serde_json::from_slice::<Value>(data).ok();
        let value = value.as_ref();
        // The agent's side.
        check::<NotifyNext>(data, value);
        check::<Notify>(data, value);
        check::<ExecutionAccepted>(data, value);
        check::<GetPendingAccepted>(data, value);
        check::<UpdateAccepted>(data, value);
        check::<ErrorResponse>(data, value);
        // The service's side.
        check::<GetPendingRequest>(data, value);
        check::<StartNextRequest>(data, value);
        check::<DescribeRequest>(data, value);
        check::<UpdateRequest>(data, value);
        if let Ok(update) = serde_json::from_slice::<UpdateRequest>(data) {
            if let Some(raw) = update.status_details {
                if let Ok(details) = StatusDetails::validate(raw.clone()) {
                    let kept: Vec<(&str, &str)> = details.iter().collect();
                    let given: Vec<(&str, &str)> =
                        raw.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    assert_eq!(kept, given, "validate changed valid details");
                }
            }
        }
    }
);

fn make_seeds() -> Vec<(String, Vec<u8>)> {
    // Payloads as AWS IoT Jobs documents them (the protocol crate's
    // reference), and topics.
    let execution = r#"{"jobId":"job-1","thingName":"dev-1","status":"QUEUED","queuedAt":1700000000,"lastUpdatedAt":1700000000,"versionNumber":1,"executionNumber":1,"jobDocument":{"operation":"echo","message":"hi"}}"#;
    let seeds = [
        ("notify-next", format!(r#"{{"timestamp":1700000001,"execution":{execution}}}"#)),
        ("notify-next-empty", r#"{"timestamp":1700000001}"#.to_owned()),
        ("next-get-accepted", format!(r#"{{"clientToken":"c-1","timestamp":1700000001,"execution":{execution}}}"#)),
        ("notify", r#"{"timestamp":1700000001,"jobs":{"QUEUED":[{"jobId":"job-1","queuedAt":1700000000,"lastUpdatedAt":1700000000,"versionNumber":1,"executionNumber":1}]}}"#.to_owned()),
        ("get-pending-accepted", r#"{"inProgressJobs":[],"queuedJobs":[{"jobId":"job-1","queuedAt":1700000000000,"lastUpdatedAt":1700000000,"versionNumber":"1","executionNumber":1}],"timestamp":1700000001,"clientToken":"t"}"#.to_owned()),
        // Found by this target: microseconds, rescaled at every read.
        ("get-pending-microseconds", r#"{"inProgressJobs":[],"queuedJobs":[{"jobId":"job-1","queuedAt":17000000.0,"lastUpdatedAt":1700000007000000,"versionNumber":0,"executionNumber":0}],"timestamp":1700000002}"#.to_owned()),
        ("update-accepted", r#"{"executionState":{"status":"IN_PROGRESS","statusDetails":{"progress":"50%"},"versionNumber":2},"jobDocument":{"operation":"echo"},"timestamp":1700000002,"clientToken":"c-2"}"#.to_owned()),
        ("rejected", r#"{"code":"VersionMismatch","message":"expectedVersion 1 does not match versionNumber 2","timestamp":1700000002,"clientToken":"c-2","executionState":{"status":"IN_PROGRESS","versionNumber":2}}"#.to_owned()),
        ("get-pending-request", r#"{"clientToken":"c-3"}"#.to_owned()),
        ("start-next-request", r#"{"statusDetails":{"step":"download"},"stepTimeoutInMinutes":10,"clientToken":"c-4"}"#.to_owned()),
        ("describe-request", r#"{"executionNumber":"1","includeJobDocument":true,"clientToken":"c-5"}"#.to_owned()),
        ("update-request", r#"{"status":"SUCCEEDED","statusDetails":{"result":"ok","detailsTruncated":"0"},"expectedVersion":"2","executionNumber":1,"includeJobExecutionState":true,"includeJobDocument":true,"stepTimeoutInMinutes":-1,"clientToken":"c-6"}"#.to_owned()),
        ("topic-notify-next", "$aws/things/dev-1/jobs/notify-next".to_owned()),
        ("topic-next-accepted", "$aws/things/dev-1/jobs/$next/get/accepted".to_owned()),
        ("topic-update-rejected", "$aws/things/dev-1/jobs/job-1/update/rejected".to_owned()),
        ("topic-start-next", "$aws/things/dev-1/jobs/start-next".to_owned()),
    ];
    seeds
        .into_iter()
        .map(|(n, s)| (n.to_owned(), s.into_bytes()))
        .collect()
}
