//! Execution change events: what a subscriber sees, in what order, and
//! that no subscriber (or a slow one) never disturbs a write.

use super::*;
use jobhost_protocol::requests::StartNextRequest;
use jobhost_protocol::ErrorCode;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::broadcast::Receiver;
use JobExecutionStatus as S;

/// Everything already sent to `rx`, as (job, thing, status, version); for
/// an execution's deletion (job, thing, "DELETED", 0), for a job's end
/// (job, "", "JOB completed|canceled|deleted", 0). Sends happen before the
/// store call returns, so no waiting is needed.
fn drain(rx: &mut Receiver<ExecutionChange>) -> Vec<(String, String, String, u64)> {
    let mut seen = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(ExecutionChange::Updated(r)) => seen.push((
                r.execution.job_id,
                r.thing_name,
                r.execution.status.as_str().to_owned(),
                r.execution.version_number,
            )),
            Ok(ExecutionChange::Deleted {
                job_id, thing_name, ..
            }) => seen.push((job_id, thing_name, "DELETED".to_owned(), 0)),
            Ok(ExecutionChange::Job(j)) => seen.push((
                j.job_id,
                String::new(),
                format!("JOB {}", j.operation.as_str()),
                0,
            )),
            Ok(ExecutionChange::EventConfigurations(c)) => {
                seen.push((String::new(), String::new(), format!("CONFIG {c:?}"), 0))
            }
            Err(TryRecvError::Empty) => return seen,
            Err(e) => panic!("unexpected receive error: {e}"),
        }
    }
}

fn ev(job: &str, thing: &str, status: &str, version: u64) -> (String, String, String, u64) {
    (job.to_owned(), thing.to_owned(), status.to_owned(), version)
}

/// The next event, which must be an update.
fn next_record(rx: &mut Receiver<ExecutionChange>) -> ExecutionRecord {
    match rx.try_recv() {
        Ok(ExecutionChange::Updated(r)) => r,
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn a_subscriber_sees_every_state_of_a_run_in_order() {
    let mut s = store();
    let mut rx = s.subscribe();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let queued = next_record(&mut rx);
    assert_eq!(queued.thing_name, "t1");
    assert_eq!(
        (queued.execution.status, queued.execution.version_number),
        (S::Queued, 1)
    );
    assert_eq!(queued.execution.job_document, None, "no document in events");

    let start = StartNextRequest {
        status_details: Some(details(&[("step", "download")])),
        ..StartNextRequest::default()
    };
    s.start_next("t1", &start, T0 + 1).unwrap();
    let progress = UpdateRequest {
        status_details: Some(details(&[("progress", "50")])),
        ..upd(S::InProgress)
    };
    s.update("t1", "j1", &progress, T0 + 2).unwrap();
    s.update("t1", "j1", &upd(S::Succeeded), T0 + 3).unwrap();

    let started = next_record(&mut rx).execution;
    assert_eq!(
        (started.status, started.version_number, started.started_at),
        (S::InProgress, 2, Some(T0 + 1))
    );
    assert_eq!(
        started.status_details.unwrap().get("step"),
        Some("download")
    );
    let progressed = next_record(&mut rx).execution;
    assert_eq!(
        (progressed.status, progressed.version_number),
        (S::InProgress, 3)
    );
    assert_eq!(
        progressed.status_details.unwrap().get("progress"),
        Some("50")
    );
    let done = next_record(&mut rx).execution;
    assert_eq!(
        (done.status, done.version_number, done.last_updated_at),
        (S::Succeeded, 4, T0 + 3)
    );
    assert_eq!(
        done.status_details.unwrap().get("progress"),
        Some("50"),
        "the events carry the stored details"
    );
    assert_eq!(
        drain(&mut rx),
        [ev("j1", "", "JOB completed", 0)],
        "then the job's end"
    );
}

#[test]
fn rejected_requests_and_no_op_reads_send_nothing() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.start_next("t1", &StartNextRequest::default(), T0)
        .unwrap();
    let mut rx = s.subscribe();
    let stale = UpdateRequest {
        expected_version: Some(1),
        ..upd(S::Succeeded)
    };
    let r = s.update("t1", "j1", &stale, T0).unwrap_err();
    assert_eq!(r.code, ErrorCode::VersionMismatch);
    assert!(s.cancel_execution("j1", "t1", false, None, T0).is_err());
    // Resuming the IN_PROGRESS head changes no version.
    s.start_next("t1", &StartNextRequest::default(), T0 + 1)
        .unwrap();
    s.get_pending("t1").unwrap();
    assert!(drain(&mut rx).is_empty());
}

#[test]
fn cancels_are_seen_with_their_new_versions() {
    let mut s = store();
    let mut rx = s.subscribe();
    s.create_job(&job("j1", &["t1", "t2", "t3"]), T0).unwrap();
    s.update("t2", "j1", &upd(S::InProgress), T0).unwrap();
    s.cancel_execution("j1", "t1", false, Some(1), T0 + 1)
        .unwrap();
    s.cancel_job("j1", true, None, None, T0 + 2).unwrap();
    assert_eq!(
        drain(&mut rx),
        [
            ev("j1", "t1", "QUEUED", 1),
            ev("j1", "t2", "QUEUED", 1),
            ev("j1", "t3", "QUEUED", 1),
            ev("j1", "t2", "IN_PROGRESS", 2),
            ev("j1", "t1", "CANCELED", 2),
            ev("j1", "t2", "CANCELED", 3),
            ev("j1", "t3", "CANCELED", 2),
            ev("j1", "", "JOB canceled", 0),
        ]
    );
    // The forced cancel of the running execution says so.
    s.create_job(&job("j2", &["t1"]), T0 + 3).unwrap();
    s.update("t1", "j2", &upd(S::InProgress), T0 + 3).unwrap();
    drain(&mut rx);
    s.cancel_execution("j2", "t1", true, None, T0 + 4).unwrap();
    let r = next_record(&mut rx);
    assert_eq!(r.execution.status, S::Canceled);
    assert!(r.force_canceled);
}

#[test]
fn timeouts_and_deletions_are_seen() {
    let mut s = store();
    s.create_job(&timed_job("j1", &["t1"], 1), T0).unwrap();
    s.create_job(&job("j2", &["t1", "t2"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    s.update("t2", "j2", &upd(S::Succeeded), T0).unwrap();
    let mut rx = s.subscribe();
    s.expire_timeouts(T0 + 60).unwrap();
    let changes = s.delete_job("j2", false, T0 + 61).unwrap();
    assert_eq!(things(&changes), ["t1"], "only t1 had it pending");
    assert_eq!(
        drain(&mut rx),
        [
            ev("j1", "t1", "TIMED_OUT", 3),
            ev("j1", "", "JOB completed", 0),
            ev("j2", "t1", "DELETED", 0),
            ev("j2", "t2", "DELETED", 0),
            ev("j2", "", "JOB deleted", 0),
        ]
    );
}

#[test]
fn writes_need_no_subscriber_and_a_lagging_one_is_told() {
    let mut s = store();
    // Nobody listens: every write still succeeds.
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let rx = s.subscribe();
    drop(rx);
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();

    // A subscriber that reads nothing falls behind by the overflow and then
    // resumes at the oldest event kept, which is still in version order.
    let mut rx = s.subscribe();
    let extra = 3;
    let total = EVENT_CAPACITY + extra;
    for i in 0..total {
        let progress = UpdateRequest {
            status_details: Some(details(&[("i", &i.to_string())])),
            ..upd(S::InProgress)
        };
        s.update("t1", "j1", &progress, T0 + 1).unwrap();
    }
    match rx.try_recv() {
        Err(TryRecvError::Lagged(missed)) => assert_eq!(missed, extra as u64),
        other => panic!("expected Lagged, got {other:?}"),
    }
    let kept = drain(&mut rx);
    assert_eq!(kept.len(), EVENT_CAPACITY);
    let first_kept = 2 + 1 + extra as u64; // version 2 was IN_PROGRESS
    let versions: Vec<u64> = kept.iter().map(|e| e.3).collect();
    let expected: Vec<u64> = (first_kept..first_kept + EVENT_CAPACITY as u64).collect();
    assert_eq!(versions, expected);
    // What a lagging follower re-reads is the newest of them.
    assert_eq!(
        exec(&s, "j1", "t1").execution.version_number,
        *expected.last().unwrap()
    );
}
