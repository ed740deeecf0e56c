//! Jobs that end are sent as [`ExecutionChange::Job`], after the execution
//! changes of the same commit, whoever ended them: the last execution, an
//! operator, an abort rule, a schedule's end, DeleteJob. Nothing is sent
//! for a write that rolled back. And the event configuration: off until
//! set, kept in the file, and sent in commit order.

use super::rollout::{configs, job_on, names};
use super::*;
use crate::rollout::JobConfigs;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::broadcast::Receiver;
use JobExecutionStatus as S;

/// Every change already sent to `rx`.
fn sent(rx: &mut Receiver<ExecutionChange>) -> Vec<ExecutionChange> {
    let mut all = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(c) => all.push(c),
            Err(TryRecvError::Empty) => return all,
            Err(e) => panic!("unexpected receive error: {e}"),
        }
    }
}

/// The job changes among `changes`.
fn ended(changes: &[ExecutionChange]) -> Vec<&JobChange> {
    changes
        .iter()
        .filter_map(|c| match c {
            ExecutionChange::Job(j) => Some(j),
            _ => None,
        })
        .collect()
}

#[test]
fn a_job_whose_last_execution_ends_is_sent_completed_after_that_execution() {
    let mut s = store();
    s.create_job(
        &CreateJob {
            description: Some("rollout".into()),
            ..job("j1", &["t1", "t2"])
        },
        T0,
    )
    .unwrap();
    let mut rx = s.subscribe();
    s.update("t1", "j1", &upd(S::Succeeded), T0 + 1).unwrap();
    assert!(ended(&sent(&mut rx)).is_empty(), "t2 is still QUEUED");
    s.update("t2", "j1", &upd(S::Failed), T0 + 2).unwrap();
    let changes = sent(&mut rx);
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(matches!(&changes[0], ExecutionChange::Updated(r) if r.thing_name == "t2"));
    let ExecutionChange::Job(j) = &changes[1] else {
        panic!("the job's end comes last: {changes:?}");
    };
    assert_eq!(
        (j.operation, j.status, j.at, j.completed_at),
        (
            JobOperation::Completed,
            JobStatus::Completed,
            T0 + 2,
            Some(T0 + 2)
        )
    );
    assert_eq!(j.job_id, "j1");
    assert_eq!(
        j.targets,
        [crate::arn::thing_arn("t1"), crate::arn::thing_arn("t2")],
        "targets as ARNs"
    );
    assert_eq!(j.description.as_deref(), Some("rollout"));
    assert_eq!((j.created_at, j.last_updated_at), (T0, T0 + 2));
    assert_eq!(
        (
            j.process_details.number_of_succeeded_things,
            j.process_details.number_of_failed_things
        ),
        (1, 1)
    );
    assert_eq!(j.target_selection, TargetSelection::Snapshot);
}

#[test]
fn an_operators_cancel_is_sent_once_with_its_comment_and_force() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    let mut rx = s.subscribe();
    s.cancel_job("j1", false, None, Some("wrong build"), T0 + 1)
        .unwrap();
    let changes = sent(&mut rx);
    let jobs = ended(&changes);
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].operation, jobs[0].force_canceled, jobs[0].at),
        (JobOperation::Canceled, false, T0 + 1)
    );
    assert_eq!(jobs[0].comment.as_deref(), Some("wrong build"));
    assert!(matches!(changes.last(), Some(ExecutionChange::Job(_))));

    // Forcing the cancel of a CANCELED job cancels the running execution,
    // but the job does not end twice; nor does its last execution ending
    // complete it.
    s.cancel_job("j1", true, None, None, T0 + 2).unwrap();
    let changes = sent(&mut rx);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(matches!(&changes[0], ExecutionChange::Updated(r) if r.thing_name == "t1"));
}

#[test]
fn an_abort_rule_and_a_schedules_end_are_sent_as_cancels() {
    let mut s = store();
    let targets = names(4);
    let abort = configs(
        None,
        Some(
            json!({ "criteriaList": [{ "failureType": "FAILED", "action": "CANCEL",
            "thresholdPercentage": 50.0, "minNumberOfExecutedThings": 1 }] }),
        ),
        None,
        T0,
    );
    s.create_job_with(&job_on("j1", &targets), &abort, T0)
        .unwrap();
    let mut rx = s.subscribe();
    s.update("t000", "j1", &upd(S::Failed), T0 + 1).unwrap();
    let changes = sent(&mut rx);
    // The failure, the three cancelled executions, then the job.
    assert_eq!(changes.len(), 5, "{changes:?}");
    let ExecutionChange::Job(j) = &changes[4] else {
        panic!("the job's end comes last: {changes:?}");
    };
    assert_eq!(j.operation, JobOperation::Canceled);
    assert!(j.comment.as_deref().unwrap().contains("abortConfig"));
    assert_eq!(j.process_details.number_of_canceled_things, 3);

    let end = crate::rollout::datetime::format_utc(T0 + 1800);
    let scheduled: JobConfigs = configs(
        None,
        None,
        Some(json!({ "endTime": end, "endBehavior": "CANCEL" })),
        T0,
    );
    s.create_job_with(&job_on("j2", &targets), &scheduled, T0)
        .unwrap();
    sent(&mut rx);
    s.advance_rollouts(T0 + 1800).unwrap();
    let changes = sent(&mut rx);
    let jobs = ended(&changes);
    assert_eq!(jobs.len(), 1, "{changes:?}");
    assert_eq!(
        (jobs[0].job_id.as_str(), jobs[0].operation, jobs[0].at),
        ("j2", JobOperation::Canceled, T0 + 1800)
    );
    assert!(jobs[0].comment.as_deref().unwrap().contains("endTime"));
}

#[test]
fn deleting_sends_each_execution_with_its_last_status_then_the_job() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    let progress = UpdateRequest {
        status_details: Some(details(&[("step", "flash")])),
        ..upd(S::InProgress)
    };
    s.update("t1", "j1", &progress, T0 + 1).unwrap();
    let mut rx = s.subscribe();
    s.delete_job("j1", true, T0 + 5).unwrap();
    let changes = sent(&mut rx);
    assert_eq!(changes.len(), 3, "{changes:?}");
    let ExecutionChange::Deleted {
        thing_name,
        status,
        status_details,
        deleted_at,
        ..
    } = &changes[0]
    else {
        panic!("an execution first: {changes:?}");
    };
    assert_eq!(
        (thing_name.as_str(), *status, *deleted_at),
        ("t1", S::InProgress, T0 + 5)
    );
    assert_eq!(
        status_details.as_ref().and_then(|d| d.get("step")),
        Some("flash")
    );
    assert!(matches!(
        &changes[1],
        ExecutionChange::Deleted {
            status: S::Queued,
            ..
        }
    ));
    let ExecutionChange::Job(j) = &changes[2] else {
        panic!("the job last: {changes:?}");
    };
    assert_eq!(
        (j.operation, j.status, j.at, j.last_updated_at),
        (JobOperation::Deleted, JobStatus::InProgress, T0 + 5, T0)
    );

    // DeleteJobExecution of a terminal execution: the status it had.
    s.create_job(&job("j2", &["t1"]), T0 + 6).unwrap();
    s.update("t1", "j2", &upd(S::Rejected), T0 + 7).unwrap();
    sent(&mut rx);
    s.delete_execution("j2", "t1", 1, false, T0 + 8).unwrap();
    let changes = sent(&mut rx);
    assert!(
        matches!(
            changes.as_slice(),
            [ExecutionChange::Deleted {
                status: S::Rejected,
                deleted_at,
                ..
            }] if *deleted_at == T0 + 8
        ),
        "{changes:?}"
    );
}

#[test]
fn a_job_ended_in_a_write_that_rolled_back_is_not_sent() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let mut rx = s.subscribe();
    {
        let tx = s.write_tx().unwrap();
        tx.execute(
            "UPDATE jobs SET status = 'COMPLETED' WHERE job_id = 'j1'",
            [],
        )
        .unwrap();
        // Dropped: rolled back.
    }
    s.publish([]);
    assert!(sent(&mut rx).is_empty());
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::InProgress);
    // The trigger is this connection's: nothing of it is in the file.
    let on_disk: i64 = s
        .conn
        .query_row(
            "SELECT COUNT(*) FROM main.sqlite_master WHERE name IN ('job_ended', 'job_endings')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(on_disk, 0);
}

#[test]
fn event_configurations_are_off_until_set_kept_in_the_file_and_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    {
        let mut s = Store::open(&path).unwrap();
        assert_eq!(
            s.event_configurations().unwrap(),
            EventConfigurations::default(),
            "AWS's default: nothing published, never configured"
        );
        let mut rx = s.subscribe();
        let now = s
            .update_event_configurations(&[(EventType::Job, true)], T0)
            .unwrap();
        assert!(now.job && !now.job_execution);
        assert_eq!((now.created_at, now.last_modified_at), (Some(T0), Some(T0)));
        assert_eq!(
            sent(&mut rx),
            [ExecutionChange::EventConfigurations(now)],
            "subscribers learn it in commit order"
        );
        s.update_event_configurations(
            &[(EventType::JobExecution, true), (EventType::Job, false)],
            T0 + 5,
        )
        .unwrap();
        // Nothing to change: nothing sent.
        s.update_event_configurations(&[], T0 + 6).unwrap();
        assert_eq!(sent(&mut rx).len(), 1);
    }
    let s = Store::open(&path).unwrap();
    let kept = s.event_configurations().unwrap();
    assert!(!kept.job && kept.job_execution);
    assert_eq!(
        (kept.created_at, kept.last_modified_at),
        (Some(T0), Some(T0 + 5))
    );
    assert!(kept.enabled(EventType::JobExecution) && !kept.enabled(EventType::Job));
}
