//! Control plane: CreateJob, DescribeJob, List*, CancelJob,
//! CancelJobExecution, DeleteJob.

use super::*;
use crate::arn::thing_arn;
use jobhost_protocol::requests::StartNextRequest;
use JobExecutionStatus as S;

#[test]
fn create_job_queues_one_execution_per_target() {
    let mut s = store();
    let j = s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    assert_eq!(j.status, JobStatus::InProgress);
    assert_eq!(j.targets, [thing_arn("t1"), thing_arn("t2")]);
    assert_eq!(
        (j.created_at, j.last_updated_at, j.completed_at),
        (T0, T0, None)
    );
    assert_eq!(j.process_details.number_of_queued_things, 2);
    for t in ["t1", "t2"] {
        let e = exec(&s, "j1", t).execution;
        assert_eq!(e.status, S::Queued);
        assert_eq!((e.execution_number, e.version_number), (1, 1));
        assert_eq!(
            (e.queued_at, e.last_updated_at, e.started_at),
            (T0, T0, None)
        );
        assert_eq!(e.status_details, None);
    }
}

#[test]
fn create_job_rejects_invalid_job_ids() {
    let mut s = store();
    for id in ["", "has space", "colon:no", &"j".repeat(65)] {
        let err = s.create_job(&job(id, &["t1"]), T0).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidRequest(_)),
            "{id:?}: {err}"
        );
    }
    assert!(s.create_job(&job(&"j".repeat(64), &["t1"]), T0).is_ok());
}

#[test]
fn create_job_rejects_missing_or_invalid_targets() {
    let mut s = store();
    for targets in [
        &[][..],
        &["bad/name"][..],
        &["ok", ""][..],
        &["arn:aws:iot:eu-west-1:1:job/j"][..],
    ] {
        let err = s.create_job(&job("j1", targets), T0).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidRequest(_)),
            "{targets:?}: {err}"
        );
    }
    // A thing group must exist.
    let err = s
        .create_job(
            &job("j1", &["t1", "arn:aws:iot:eu-west-1:1:thinggroup/g"]),
            T0,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    assert!(
        s.list_jobs(None).unwrap().is_empty(),
        "nothing half-created"
    );
}

#[test]
fn create_job_dedupes_targets_and_accepts_thing_arns() {
    let mut s = store();
    let j = s
        .create_job(
            &job(
                "j1",
                &[
                    "t1",
                    "t2",
                    "t1",
                    "arn:aws:iot:eu-west-1:123:thing/t2",
                    "a:b",
                ],
            ),
            T0,
        )
        .unwrap();
    // Returned as ARNs of this service's region and account.
    assert_eq!(
        j.targets,
        [thing_arn("t1"), thing_arn("t2"), thing_arn("a:b")]
    );
    assert_eq!(s.list_executions_for_job("j1").unwrap().len(), 3);
}

#[test]
fn create_job_limits_the_document_to_32768_characters_as_submitted() {
    let mut s = store();
    // AWS counts the characters of the string submitted: whitespace
    // counts, and a two-byte character counts once.
    let text = |n: usize| format!("{{\n  \"p\": \"{}\"\n}}", "é".repeat(n - 13));
    assert_eq!(
        text(JOB_DOCUMENT_MAX_CHARS).chars().count(),
        JOB_DOCUMENT_MAX_CHARS
    );
    let ok = CreateJob {
        document: JobDocument::Text(text(JOB_DOCUMENT_MAX_CHARS)),
        ..job("j1", &["t1"])
    };
    assert!(s.create_job(&ok, T0).is_ok());
    let over = CreateJob {
        document: JobDocument::Text(text(JOB_DOCUMENT_MAX_CHARS + 1)),
        ..job("j2", &["t1"])
    };
    let err = s.create_job(&over, T0).unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidRequest(m) if m.contains("32769 characters")),
        "{err}"
    );
    for not_object in [
        JobDocument::Json(json!("just a string")),
        JobDocument::Text("[1]".into()),
        JobDocument::Text("{nope".into()),
    ] {
        let req = CreateJob {
            document: not_object.clone(),
            ..job("j3", &["t1"])
        };
        assert!(
            matches!(s.create_job(&req, T0), Err(StoreError::InvalidRequest(_))),
            "{not_object:?}"
        );
    }
}

#[test]
fn create_job_refuses_an_existing_id() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let err = s.create_job(&job("j1", &["t2"]), T0 + 1).unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err}");
    assert!(s.list_executions_for_thing("t2").unwrap().is_empty());
}

#[test]
fn create_job_checks_the_in_progress_timeout_range() {
    let mut s = store();
    for bad in [0, 10_081] {
        let err = s
            .create_job(&timed_job("j1", &["t1"], bad), T0)
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidRequest(_)), "{bad}");
    }
    assert!(s.create_job(&timed_job("j1", &["t1"], 1), T0).is_ok());
    let j = s.create_job(&timed_job("j2", &["t1"], 10_080), T0).unwrap();
    assert_eq!(j.in_progress_timeout_minutes, Some(10_080));
}

#[test]
fn describe_job_counts_executions_by_status() {
    let mut s = store();
    s.create_job(&job("j1", &["a", "b", "c", "d", "e"]), T0)
        .unwrap();
    s.update("a", "j1", &upd(S::Succeeded), T0).unwrap();
    s.update("b", "j1", &upd(S::Failed), T0).unwrap();
    s.update("c", "j1", &upd(S::Rejected), T0).unwrap();
    s.update("d", "j1", &upd(S::InProgress), T0).unwrap();
    let d = s.describe_job("j1").unwrap().process_details;
    assert_eq!(
        d,
        ProcessDetails {
            number_of_queued_things: 1,
            number_of_in_progress_things: 1,
            number_of_succeeded_things: 1,
            number_of_failed_things: 1,
            number_of_rejected_things: 1,
            ..ProcessDetails::default()
        }
    );
    s.cancel_job("j1", true, None, None, T0).unwrap();
    let d = s.describe_job("j1").unwrap().process_details;
    assert_eq!(d.number_of_canceled_things, 2);
    assert!(matches!(
        s.describe_job("nope"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn list_jobs_filters_by_status_oldest_first() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.create_job(&job("j2", &["t1"]), T0 + 1).unwrap();
    s.create_job(&job("j3", &["t1"]), T0 + 2).unwrap();
    s.cancel_job("j2", false, None, Some("not needed"), T0 + 3)
        .unwrap();
    let all: Vec<_> = s
        .list_jobs(None)
        .unwrap()
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(all, ["j1", "j2", "j3"]);
    let running: Vec<_> = s
        .list_jobs(Some(JobStatus::InProgress))
        .unwrap()
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(running, ["j1", "j3"]);
    let canceled = s.list_jobs(Some(JobStatus::Canceled)).unwrap();
    assert_eq!(canceled.len(), 1);
    assert_eq!(canceled[0].last_updated_at, T0 + 3);
    assert!(s.list_jobs(Some(JobStatus::Completed)).unwrap().is_empty());
}

#[test]
fn list_and_describe_executions() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    s.create_job(&job("j2", &["t1"]), T0 + 1).unwrap();
    let for_job: Vec<_> = s
        .list_executions_for_job("j1")
        .unwrap()
        .into_iter()
        .map(|r| r.thing_name)
        .collect();
    assert_eq!(for_job, ["t1", "t2"]);
    let for_thing: Vec<_> = s
        .list_executions_for_thing("t1")
        .unwrap()
        .into_iter()
        .map(|r| r.execution.job_id)
        .collect();
    assert_eq!(for_thing, ["j1", "j2"]);
    assert!(s.list_executions_for_thing("unknown").unwrap().is_empty());
    assert!(matches!(
        s.list_executions_for_job("nope"),
        Err(StoreError::NotFound(_))
    ));

    assert_eq!(
        s.describe_execution("j1", "t2", Some(1))
            .unwrap()
            .execution
            .execution_number,
        1
    );
    for (j, t, n) in [
        ("j1", "t3", None),
        ("j2", "t2", None),
        ("j1", "t1", Some(2)),
        ("j1", "t1", Some(u64::MAX)),
    ] {
        assert!(
            matches!(s.describe_execution(j, t, n), Err(StoreError::NotFound(_))),
            "{j} {t} {n:?}"
        );
    }
}

#[test]
fn cancel_job_cancels_queued_executions_only() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2", "t3"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    s.update("t3", "j1", &upd(S::Succeeded), T0).unwrap();
    let changes = s
        .cancel_job("j1", false, None, Some("oops"), T0 + 5)
        .unwrap();
    assert_eq!(things(&changes), ["t2"]);
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Canceled);
    assert_eq!(j.comment.as_deref(), Some("oops"));
    assert!(!j.force_canceled);
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::InProgress);
    let t2 = exec(&s, "j1", "t2");
    assert_eq!(
        (t2.execution.status, t2.execution.version_number),
        (S::Canceled, 2)
    );
    assert_eq!(t2.execution.last_updated_at, T0 + 5);
    assert!(!t2.force_canceled);
    assert_eq!(exec(&s, "j1", "t3").execution.status, S::Succeeded);

    // The IN_PROGRESS one may still finish; the job stays CANCELED.
    s.update("t1", "j1", &upd(S::Succeeded), T0 + 6).unwrap();
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Canceled);
    // Cancelling again without force is a no-op.
    assert!(s
        .cancel_job("j1", false, None, None, T0 + 7)
        .unwrap()
        .is_empty());
}

#[test]
fn cancel_job_with_force_cancels_in_progress_executions() {
    let mut s = store();
    s.create_job(&timed_job("j1", &["t1", "t2"], 10), T0)
        .unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 600));
    let changes = s.cancel_job("j1", true, None, None, T0 + 1).unwrap();
    assert_eq!(things(&changes), ["t1", "t2"]);
    let j = s.describe_job("j1").unwrap();
    assert!(j.force_canceled);
    let t1 = exec(&s, "j1", "t1");
    assert_eq!(
        (t1.execution.status, t1.execution.version_number),
        (S::Canceled, 3)
    );
    assert!(t1.force_canceled);
    assert_eq!(t1.timeout_at, None);
    assert_eq!(
        s.next_deadline().unwrap(),
        None,
        "no timer on a cancelled execution"
    );
    // The device finds out on its next update.
    let r = s
        .update("t1", "j1", &upd(S::Succeeded), T0 + 2)
        .unwrap_err();
    assert_eq!(r.code, jobhost_protocol::ErrorCode::InvalidStateTransition);
}

#[test]
fn force_cancel_of_a_canceled_job_reaches_the_remaining_executions() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    assert!(s
        .cancel_job("j1", false, None, None, T0)
        .unwrap()
        .is_empty());
    assert_eq!(
        things(&s.cancel_job("j1", true, None, None, T0).unwrap()),
        ["t1"]
    );
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::Canceled);
}

#[test]
fn cancel_of_a_completed_job_is_an_invalid_request() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::Succeeded), T0).unwrap();
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);
    for force in [false, true] {
        assert!(matches!(
            s.cancel_job("j1", force, None, None, T0),
            Err(StoreError::InvalidRequest(_))
        ));
    }
    assert!(matches!(
        s.cancel_job("nope", false, None, None, T0),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn cancel_execution_cancels_a_queued_execution_and_completes_the_job() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    s.update("t2", "j1", &upd(S::Succeeded), T0).unwrap();
    let changes = s
        .cancel_execution("j1", "t1", false, Some(1), T0 + 1)
        .unwrap();
    assert_eq!(things(&changes), ["t1"]);
    let e = exec(&s, "j1", "t1").execution;
    assert_eq!((e.status, e.version_number), (S::Canceled, 2));
    let j = s.describe_job("j1").unwrap();
    assert_eq!(
        (j.status, j.completed_at),
        (JobStatus::Completed, Some(T0 + 1))
    );
    assert!(matches!(
        s.cancel_execution("j1", "t9", false, None, T0),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn cancel_execution_in_progress_needs_force() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.start_next("t1", &StartNextRequest::default(), T0)
        .unwrap();
    let err = s.cancel_execution("j1", "t1", false, None, T0).unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidStateTransition(_)),
        "{err}"
    );
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::InProgress);
    s.cancel_execution("j1", "t1", true, None, T0).unwrap();
    let rec = exec(&s, "j1", "t1");
    assert_eq!(rec.execution.status, S::Canceled);
    assert!(rec.force_canceled);
}

#[test]
fn cancel_execution_of_a_terminal_execution_is_an_invalid_state_transition() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::Failed), T0).unwrap();
    for force in [false, true] {
        let err = s.cancel_execution("j1", "t1", force, None, T0).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidStateTransition(_)),
            "{err}"
        );
    }
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::Failed);
}

#[test]
fn cancel_execution_checks_the_expected_version() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let err = s
        .cancel_execution("j1", "t1", false, Some(2), T0)
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict(_)), "{err}");
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::Queued);
}

#[test]
fn delete_job_with_in_progress_executions_needs_force() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2", "t3"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    s.update("t3", "j1", &upd(S::Succeeded), T0).unwrap();
    let err = s.delete_job("j1", false, T0).unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidStateTransition(_)),
        "{err}"
    );
    assert!(s.describe_job("j1").is_ok());
    let changes = s.delete_job("j1", true, T0).unwrap();
    assert_eq!(things(&changes), ["t1", "t2"], "t3 had nothing pending");
    assert!(matches!(s.describe_job("j1"), Err(StoreError::NotFound(_))));
    assert!(s.list_executions_for_thing("t1").unwrap().is_empty());
    assert_eq!(s.head("t1").unwrap(), None);
    let r = s.update("t1", "j1", &upd(S::Succeeded), T0).unwrap_err();
    assert_eq!(r.code, jobhost_protocol::ErrorCode::ResourceNotFound);
}

#[test]
fn delete_job_without_running_executions_needs_no_force() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.create_job(&job("j2", &["t1"]), T0).unwrap();
    assert_eq!(things(&s.delete_job("j1", false, T0).unwrap()), ["t1"]);
    let (in_progress, queued) = s.get_pending("t1").unwrap();
    assert!(in_progress.is_empty());
    assert_eq!(
        queued.iter().map(|q| q.job_id.as_str()).collect::<Vec<_>>(),
        ["j2"]
    );
    assert!(matches!(
        s.delete_job("j1", true, T0),
        Err(StoreError::NotFound(_))
    ));
    // The id can be used again once deleted.
    assert!(s.create_job(&job("j1", &["t1"]), T0 + 1).is_ok());
}
