//! What each store change becomes: the topic, the stream's name, and the
//! payload with the fields of AWS's examples
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/events-jobs.html>),
//! from changes a real (in-memory) store sends.

use super::AwsEvent;
use crate::store::{CreateJob, EventType, ExecutionChange, Store};
use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::JobExecutionStatus as S;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use tokio::sync::broadcast::Receiver;

const T0: i64 = 1_700_000_000;

fn job(id: &str, targets: &[&str]) -> CreateJob {
    CreateJob {
        job_id: id.to_owned(),
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        document: json!({"operation": "test"}).into(),
        description: Some("firmware 2.1".into()),
        ..CreateJob::default()
    }
}

/// The events of every change sent so far.
fn events(rx: &mut Receiver<ExecutionChange>) -> Vec<AwsEvent> {
    let mut all = Vec::new();
    while let Ok(change) = rx.try_recv() {
        all.extend(AwsEvent::from_change(&change));
    }
    all
}

fn payload(e: &AwsEvent) -> Value {
    serde_json::from_str(&e.payload).unwrap()
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn is_uuid_v4(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
        && parts[2].starts_with('4')
        && matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b')
}

#[test]
fn executions_that_end_are_job_execution_events_with_awss_fields() {
    let mut s = Store::open_in_memory().unwrap();
    let mut rx = s.subscribe();
    s.create_job(&job("j1", &["t1", "t2", "t3", "t4"]), T0)
        .unwrap();
    let progress = UpdateRequest {
        status_details: Some([("step".to_owned(), "3/3".to_owned())].into()),
        ..UpdateRequest::new(S::InProgress)
    };
    s.update("t1", "j1", &progress, T0 + 1).unwrap();
    assert!(events(&mut rx).is_empty(), "QUEUED and IN_PROGRESS: none");

    s.update("t1", "j1", &UpdateRequest::new(S::Succeeded), T0 + 2)
        .unwrap();
    let [e] = events(&mut rx).try_into().unwrap();
    assert_eq!(e.event_type, EventType::JobExecution);
    assert_eq!(e.topic(), "$aws/events/jobExecution/j1/succeeded");
    assert_eq!(e.name(), "jobExecution/succeeded");
    let p = payload(&e);
    assert_eq!(
        keys(&p),
        BTreeSet::from([
            "eventType",
            "eventId",
            "timestamp",
            "operation",
            "jobId",
            "thingArn",
            "status",
            "statusDetails"
        ])
    );
    assert_eq!(p["eventType"], "JOB_EXECUTION");
    assert_eq!(p["eventId"], e.event_id.as_str());
    assert!(is_uuid_v4(&e.event_id), "{}", e.event_id);
    assert_eq!(p["timestamp"], T0 + 2, "epoch seconds");
    assert_eq!(p["operation"], "succeeded");
    assert_eq!(p["jobId"], "j1");
    assert_eq!(p["thingArn"], "arn:aws:iot:local:000000000000:thing/t1");
    assert_eq!(p["status"], "SUCCEEDED");
    assert_eq!(p["statusDetails"], json!({"step": "3/3"}));

    s.update("t2", "j1", &UpdateRequest::new(S::Failed), T0 + 3)
        .unwrap();
    s.update("t3", "j1", &UpdateRequest::new(S::Rejected), T0 + 3)
        .unwrap();
    s.cancel_execution("j1", "t4", false, None, T0 + 4).unwrap();
    let ops: Vec<(String, String)> = events(&mut rx)
        .iter()
        .map(|e| (e.topic(), payload(e)["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        ops,
        [
            ("$aws/events/jobExecution/j1/failed".into(), "FAILED".into()),
            (
                "$aws/events/jobExecution/j1/rejected".into(),
                "REJECTED".into()
            ),
            (
                "$aws/events/jobExecution/j1/canceled".into(),
                "CANCELED".into()
            ),
            ("$aws/events/job/j1/completed".into(), "COMPLETED".into()),
        ]
    );

    // A timeout, and no statusDetails when none were reported.
    s.create_job(
        &CreateJob {
            in_progress_timeout_minutes: Some(1),
            ..job("j2", &["t1"])
        },
        T0,
    )
    .unwrap();
    s.update("t1", "j2", &UpdateRequest::new(S::InProgress), T0)
        .unwrap();
    events(&mut rx);
    s.expire_timeouts(T0 + 60).unwrap();
    let all = events(&mut rx);
    assert_eq!(all[0].topic(), "$aws/events/jobExecution/j2/timed_out");
    let p = payload(&all[0]);
    assert_eq!(p["status"], "TIMED_OUT");
    assert!(p.get("statusDetails").is_none(), "{p}");
}

#[test]
fn a_completed_job_is_a_job_event_with_awss_fields() {
    let mut s = Store::open_in_memory().unwrap();
    let mut rx = s.subscribe();
    let arn = "arn:aws:iot:eu-west-1:123456789012:thing/t2";
    s.create_job(&job("j1", &["t1", arn]), T0).unwrap();
    s.update("t1", "j1", &UpdateRequest::new(S::Succeeded), T0 + 1)
        .unwrap();
    s.update("t2", "j1", &UpdateRequest::new(S::Failed), T0 + 2)
        .unwrap();
    let all = events(&mut rx);
    let e = all.last().unwrap();
    assert_eq!(e.event_type, EventType::Job);
    assert_eq!(e.topic(), "$aws/events/job/j1/completed");
    assert_eq!(e.name(), "job/completed");
    let p = payload(e);
    assert_eq!(
        keys(&p),
        BTreeSet::from([
            "eventType",
            "eventId",
            "timestamp",
            "operation",
            "jobId",
            "status",
            "targetSelection",
            "targets",
            "description",
            "completedAt",
            "createdAt",
            "lastUpdatedAt",
            "jobProcessDetails"
        ])
    );
    assert_eq!(p["eventType"], "JOB");
    assert_eq!(p["operation"], "completed");
    assert_eq!(p["status"], "COMPLETED");
    assert_eq!(p["timestamp"], T0 + 2);
    assert_eq!(p["targetSelection"], "SNAPSHOT");
    assert_eq!(
        p["targets"],
        json!([
            "arn:aws:iot:local:000000000000:thing/t1",
            "arn:aws:iot:local:000000000000:thing/t2"
        ]),
        "thing names as ARNs (an ARN target is stored as its thing name)"
    );
    assert_eq!(p["description"], "firmware 2.1");
    assert_eq!(p["createdAt"], T0 * 1000, "epoch milliseconds");
    assert_eq!(p["lastUpdatedAt"], (T0 + 2) * 1000);
    assert_eq!(p["completedAt"], (T0 + 2) * 1000);
    assert_eq!(
        p["jobProcessDetails"],
        json!({
            "numberOfCanceledThings": 0, "numberOfRejectedThings": 0,
            "numberOfFailedThings": 1, "numberOfRemovedThings": 0,
            "numberOfSucceededThings": 1, "numberOfTimedOutThings": 0
        })
    );
}

#[test]
fn canceled_and_deleted_jobs_and_their_executions() {
    let mut s = Store::open_in_memory().unwrap();
    s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    s.update("t1", "j1", &UpdateRequest::new(S::InProgress), T0)
        .unwrap();
    let mut rx = s.subscribe();
    s.cancel_job("j1", true, Some("BAD_BUILD"), Some("rolled back"), T0 + 1)
        .unwrap();
    let all = events(&mut rx);
    let names: Vec<String> = all.iter().map(AwsEvent::name).collect();
    assert_eq!(
        names,
        [
            "jobExecution/canceled",
            "jobExecution/canceled",
            "job/canceled"
        ]
    );
    let p = payload(&all[2]);
    assert_eq!(p["status"], "CANCELED");
    assert_eq!(p["forceCanceled"], true);
    assert_eq!(p["comment"], "rolled back");
    assert_eq!(p["jobProcessDetails"]["numberOfCanceledThings"], 2);
    assert!(p.get("completedAt").is_none());
    assert!(p.get("reasonCode").is_none(), "not in AWS's event");

    s.delete_job("j1", false, T0 + 9).unwrap();
    let all = events(&mut rx);
    let topics: Vec<String> = all.iter().map(AwsEvent::topic).collect();
    assert_eq!(
        topics,
        [
            "$aws/events/jobExecution/j1/deleted",
            "$aws/events/jobExecution/j1/deleted",
            "$aws/events/job/j1/deleted"
        ]
    );
    let p = payload(&all[0]);
    assert_eq!(p["operation"], "deleted");
    assert_eq!(
        p["status"], "CANCELED",
        "the execution's status before the deletion"
    );
    assert_eq!(p["timestamp"], T0 + 9);
    let p = payload(&all[2]);
    assert_eq!(p["status"], "DELETED");
    assert_eq!(p["timestamp"], T0 + 9);
    assert_eq!(p["comment"], "rolled back");
    assert!(p.get("jobProcessDetails").is_none(), "{p}");
    assert!(p.get("forceCanceled").is_none(), "{p}");
    assert_ne!(all[0].event_id, all[1].event_id);
}

#[test]
fn configuration_changes_make_no_event() {
    let mut s = Store::open_in_memory().unwrap();
    let mut rx = s.subscribe();
    s.update_event_configurations(&[(EventType::Job, true)], T0)
        .unwrap();
    assert!(events(&mut rx).is_empty());
}
