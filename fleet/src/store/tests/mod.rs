//! Unit tests of the store: one per rule of the AWS IoT Jobs state machine,
//! grouped by plane. Time is injected, so every test is deterministic.

mod abort;
mod commit;
mod control;
mod device;
mod documents;
mod events;
mod group_rollouts;
mod groups;
mod job_events;
mod lists;
mod migration;
mod persistence;
mod plans;
mod retry;
mod rollout;
mod schedule;
mod settings;
mod targets;
mod templates;
mod things;
mod timeouts;

use super::*;
use jobhost_protocol::requests::{RawStatusDetails, UpdateRequest};
use jobhost_protocol::JobExecutionStatus;
use serde_json::json;

/// An arbitrary "now".
const T0: i64 = 1_700_000_000;

fn store() -> Store {
    Store::open_in_memory().expect("in-memory store")
}

/// A job with a small object document.
fn job(id: &str, targets: &[&str]) -> CreateJob {
    CreateJob {
        job_id: id.to_owned(),
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        document: json!({"operation": "test", "job": id}).into(),
        ..CreateJob::default()
    }
}

/// A job with an in-progress timeout.
fn timed_job(id: &str, targets: &[&str], minutes: u32) -> CreateJob {
    CreateJob {
        in_progress_timeout_minutes: Some(minutes),
        ..job(id, targets)
    }
}

fn details(pairs: &[(&str, &str)]) -> RawStatusDetails {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn upd(status: JobExecutionStatus) -> UpdateRequest {
    UpdateRequest::new(status)
}

/// The control-plane view of the latest execution.
fn exec(s: &Store, job_id: &str, thing: &str) -> ExecutionRecord {
    s.describe_execution(job_id, thing, None)
        .expect("execution exists")
}

fn things(c: &Changes) -> Vec<&str> {
    c.things.iter().map(String::as_str).collect()
}

#[test]
fn store_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Store>();
}

#[test]
fn public_types_use_aws_field_names() {
    let mut s = store();
    let created = s.create_job(&timed_job("j1", &["t1"], 5), T0).unwrap();
    let v = serde_json::to_value(&created).unwrap();
    assert_eq!(v["jobId"], "j1");
    assert_eq!(v["status"], "IN_PROGRESS");
    assert_eq!(v["createdAt"], T0);
    assert_eq!(v["lastUpdatedAt"], T0);
    assert_eq!(v["timeoutConfig"]["inProgressTimeoutInMinutes"], 5);
    assert_eq!(v["jobProcessDetails"]["numberOfQueuedThings"], 1);
    assert_eq!(v["jobProcessDetails"]["numberOfSucceededThings"], 0);
    assert!(v.get("completedAt").is_none());
    let back: Job = serde_json::from_value(v).unwrap();
    assert_eq!(back, created);

    assert_eq!(
        serde_json::to_value(JobStatus::DeletionInProgress).unwrap(),
        "DELETION_IN_PROGRESS"
    );
    assert_eq!("CANCELED".parse::<JobStatus>(), Ok(JobStatus::Canceled));

    // A CreateJob body as AWS shapes it (job id in the URL path).
    let req: CreateJob = serde_json::from_value(json!({
        "targets": ["t1"], "document": {"a": 1},
        "timeoutConfig": {"inProgressTimeoutInMinutes": 7}
    }))
    .unwrap();
    assert_eq!(req.job_id, "");
    assert_eq!(req.in_progress_timeout_minutes, Some(7));

    let rec = serde_json::to_value(exec(&s, "j1", "t1")).unwrap();
    assert_eq!(rec["thingName"], "t1");
    assert_eq!(rec["execution"]["jobId"], "j1");
    assert_eq!(rec["execution"]["status"], "QUEUED");
}

#[test]
fn rejections_become_aws_rejected_payloads() {
    let r = Rejection::new(jobhost_protocol::ErrorCode::ResourceNotFound, "gone");
    let resp = r.into_response(Some("tok".into()), T0);
    let v = serde_json::to_value(&resp).unwrap();
    assert_eq!(v["code"], "ResourceNotFound");
    assert_eq!(v["clientToken"], "tok");
    assert_eq!(v["timestamp"], T0);
    assert!(v.get("executionState").is_none());

    let internal: Rejection = StoreError::Json(serde_json::from_str::<u8>("x").unwrap_err()).into();
    assert_eq!(internal.code, jobhost_protocol::ErrorCode::InternalError);
}
