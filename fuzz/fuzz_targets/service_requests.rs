//! The jobs service's handling of a device's request, as
//! fleet/src/service/handler.rs does it, minus the broker: the first input
//! byte picks the request (get-pending, start-next, describe, update; the
//! topic), the rest is the MQTT payload. It is parsed the handler's way
//! (a `Value`, `status` required on update, then the request type) and
//! applied to a fresh in-memory store holding one QUEUED execution of job
//! `job-1` on thing `dev-1`.
//!
//! Asserts: no panic; no request is answered `InternalError` (that code
//! means the database failed, and devices retry it forever); an accepted
//! update sets the requested status, moves the version up by exactly one,
//! and leaves statusDetails that pass the service's own limits; an accepted
//! start-next hands out job-1 IN_PROGRESS with valid details.
#![no_main]

use jobhost_fleet::store::{CreateJob, Rejection, Store};
use jobhost_protocol::requests::{
    DescribeRequest, GetPendingRequest, StartNextRequest, UpdateRequest,
};
use jobhost_protocol::{ErrorCode, JobExecutionStatus, StatusDetails};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;

const THING: &str = "dev-1";
const JOB: &str = "job-1";
const NOW: i64 = 1_700_000_000;

fn store() -> Store {
    let mut store = Store::open_in_memory().expect("an in-memory store");
    let job: CreateJob = serde_json::from_value(serde_json::json!({
        "jobId": JOB,
        "targets": [THING],
        "document": {"operation": "echo", "message": "hi"},
        "timeoutConfig": {"inProgressTimeoutInMinutes": 60},
    }))
    .expect("a valid CreateJob");
    store
        .create_job(&job, NOW - 10)
        .expect("the job is created");
    store
}

/// The handler's `request`: the type, or InvalidRequest.
fn request<T: DeserializeOwned>(json: Value) -> Option<T> {
    serde_json::from_value(json).ok()
}

fn not_internal<T>(result: Result<T, Rejection>) -> Option<T> {
    match result {
        Ok(x) => Some(x),
        Err(r) => {
            assert_ne!(r.code, ErrorCode::InternalError, "{}", r.message);
            None
        }
    }
}

fn details_valid(details: &Option<StatusDetails>) {
    if let Some(d) = details {
        assert!(
            StatusDetails::validate(d.iter()).is_ok(),
            "stored details break the limits: {d:?}"
        );
    }
}

fuzz_target!(
    init: {
        jobhost_fuzz::seeds(make_seeds);
    },
    |data: &[u8]| {
        let Some((&which, payload)) = data.split_first() else {
            return;
        };
        let Ok(json) = serde_json::from_slice::<Value>(payload) else {
            return;
        };
        match which % 4 {
            0 => {
                if request::<GetPendingRequest>(json).is_some() {
                    let (in_progress, queued) = store().get_pending(THING).expect("get_pending");
                    assert!(in_progress.is_empty() && queued.len() == 1);
                }
            }
            1 => {
                let Some(r) = request::<StartNextRequest>(json) else { return };
                let mut s = store();
                if let Some((execution, _)) = not_internal(s.start_next(THING, &r, NOW)) {
                    let e = execution.expect("job-1 is pending");
                    assert_eq!(e.job_id, JOB);
                    assert_eq!(e.status, JobExecutionStatus::InProgress);
                    details_valid(&e.status_details);
                }
            }
            2 => {
                let Some(r) = request::<DescribeRequest>(json) else { return };
                not_internal(store().describe(THING, JOB, &r));
            }
            _ => {
                if json.get("status").is_none() {
                    return;
                }
                let Some(r) = request::<UpdateRequest>(json) else { return };
                let mut s = store();
                let stored = |s: &Store| {
                    s.describe_execution(JOB, THING, None)
                        .expect("job-1 runs on dev-1")
                        .execution
                };
                let before = stored(&s).version_number;
                if let Some((result, _)) = not_internal(s.update(THING, JOB, &r, NOW)) {
                    let state = result.execution_state;
                    assert_eq!(state.status, r.status);
                    assert_eq!(state.version_number, before + 1);
                    details_valid(&state.status_details);
                    let after = stored(&s);
                    assert_eq!(after.status, r.status);
                    assert_eq!(after.version_number, state.version_number);
                    assert_eq!(after.status_details, state.status_details);
                }
            }
        }
    }
);

fn make_seeds() -> Vec<(String, Vec<u8>)> {
    let seeds: [(&str, u8, &str); 7] = [
        ("get-pending", 0, r#"{"clientToken":"c-1"}"#),
        (
            "start-next",
            1,
            r#"{"statusDetails":{"step":"download"},"stepTimeoutInMinutes":10,"clientToken":"c-2"}"#,
        ),
        (
            "describe",
            2,
            r#"{"executionNumber":1,"includeJobDocument":true}"#,
        ),
        (
            "update-in-progress",
            3,
            r#"{"status":"IN_PROGRESS","statusDetails":{"progress":"50"},"expectedVersion":"1","stepTimeoutInMinutes":5}"#,
        ),
        (
            "update-succeeded",
            3,
            r#"{"status":"SUCCEEDED","statusDetails":{"result":"ok"},"executionNumber":1,"includeJobExecutionState":true}"#,
        ),
        (
            "update-mismatch",
            3,
            r#"{"status":"FAILED","expectedVersion":7}"#,
        ),
        (
            "update-bad-details",
            3,
            r#"{"status":"REJECTED","statusDetails":{"a b":"x\ny"}}"#,
        ),
    ];
    let update: UpdateRequest = serde_json::from_str(seeds[4].2).expect("a seed parses");
    store()
        .update(THING, JOB, &update, NOW)
        .expect("the seed's update is accepted");
    seeds
        .into_iter()
        .map(|(n, b, s)| (n.to_owned(), [&[b][..], s.as_bytes()].concat()))
        .collect()
}
