//! Retries (`jobExecutionsRetryConfig`): an execution that ends FAILED or
//! TIMED_OUT is followed, in the same transaction, by a new execution of
//! the job on the thing while its criterion has retries left; nothing
//! cancelled is retried; the job completes once the last retry has ended.

use super::rollout::{job_on, names};
use super::*;
use crate::rollout::retry::tests::criteria;
use crate::rollout::{JobConfigs, RawConfigs, RetryConfig};
use jobhost_protocol::requests::StartNextRequest;
use jobhost_protocol::ErrorCode;
use serde_json::Value;
use JobExecutionStatus as S;

/// Configurations read as the API reads them: `retry` and, if given,
/// `abort`.
fn configs(retry: &[(&str, u32)], abort: Option<Value>) -> JobConfigs {
    let retry = criteria(retry);
    JobConfigs::from_json(
        RawConfigs {
            retry: Some(&retry),
            abort: abort.as_ref(),
            ..RawConfigs::default()
        },
        T0,
    )
    .expect("valid configurations")
}

fn retrying(retry: &[(&str, u32)]) -> JobConfigs {
    configs(retry, None)
}

/// Claims the thing's next execution of a job and ends it with `status`;
/// returns the number of the execution it ended.
fn run(s: &mut Store, thing: &str, status: S, now: i64) -> u64 {
    let (e, _) = s
        .start_next(thing, &StartNextRequest::default(), now)
        .unwrap();
    let e = e.expect("an execution to run");
    let (result, _) = s.update(thing, &e.job_id, &upd(status), now).unwrap();
    assert_eq!(result.execution_state.status, status);
    e.execution_number
}

/// (executionNumber, status, retryAttempt, versionNumber) of every
/// execution of `job` on `thing`, oldest first.
fn history(s: &Store, job: &str, thing: &str) -> Vec<(u64, S, u32, u64)> {
    s.list_executions_for_job(job)
        .unwrap()
        .into_iter()
        .filter(|r| r.thing_name == thing)
        .map(|r| {
            let e = r.execution;
            (
                e.execution_number,
                e.status,
                r.retry_attempt,
                e.version_number,
            )
        })
        .collect()
}

#[test]
fn a_failed_execution_is_retried_up_to_its_number_of_retries_then_stays_failed() {
    let mut s = store();
    let mut rx = s.subscribe();
    let (j, _) = s
        .create_job_with(&job("j1", &["t1", "t2"]), &retrying(&[("FAILED", 2)]), T0)
        .unwrap();
    assert_eq!(
        serde_json::to_value(&j).unwrap()["jobExecutionsRetryConfig"],
        criteria(&[("FAILED", 2)]),
        "DescribeJob returns it in AWS's shape"
    );

    s.update("t1", "j1", &upd(S::InProgress), T0 + 1).unwrap();
    while rx.try_recv().is_ok() {}
    let (_, changed) = s.update("t1", "j1", &upd(S::Failed), T0 + 2).unwrap();
    assert_eq!(things(&changed), ["t1"], "its device is notified");
    // The retry: a new execution, QUEUED at version 1, the next number.
    let retry = exec(&s, "j1", "t1");
    assert_eq!(
        (
            retry.execution.execution_number,
            retry.execution.status,
            retry.execution.version_number,
            retry.execution.queued_at,
            retry.retry_attempt
        ),
        (2, S::Queued, 1, T0 + 2, 1)
    );
    // Events: the failure, then the retry from its first state.
    let seen: Vec<(u64, S)> = std::iter::from_fn(|| rx.try_recv().ok())
        .map(|c| match c {
            ExecutionChange::Updated(r) => (r.execution.execution_number, r.execution.status),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(seen, [(1, S::Failed), (2, S::Queued)]);
    // The failed execution stays as it ended, readable by its number.
    let first = s.describe_execution("j1", "t1", Some(1)).unwrap();
    assert_eq!(
        (first.execution.status, first.retry_attempt),
        (S::Failed, 0)
    );
    // The device sees the retry as its next pending execution.
    let (_, queued) = s.get_pending("t1").unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].execution_number, 2);
    // jobProcessDetails counts each thing's latest execution: QUEUED.
    let d = s.describe_job("j1").unwrap().process_details;
    assert_eq!(
        (d.number_of_queued_things, d.number_of_failed_things),
        (2, 0)
    );

    s.update("t2", "j1", &upd(S::Succeeded), T0 + 3).unwrap();
    assert_eq!(run(&mut s, "t1", S::Failed, T0 + 4), 2);
    assert_eq!(
        s.describe_job("j1").unwrap().status,
        JobStatus::InProgress,
        "a job is not complete while a retry is queued"
    );
    assert_eq!(run(&mut s, "t1", S::Failed, T0 + 5), 3);
    // Two retries spent: the third failure stays FAILED, and the job is
    // complete.
    assert_eq!(
        history(&s, "j1", "t1"),
        [
            (1, S::Failed, 0, 3),
            (2, S::Failed, 1, 3),
            (3, S::Failed, 2, 3)
        ]
    );
    assert!(s.get_pending("t1").unwrap().1.is_empty());
    let j = s.describe_job("j1").unwrap();
    assert_eq!(
        (j.status, j.completed_at),
        (JobStatus::Completed, Some(T0 + 5))
    );
    assert_eq!(j.process_details.number_of_failed_things, 1);
}

#[test]
fn a_retry_that_succeeds_ends_the_retries_and_completes_the_job() {
    let mut s = store();
    s.create_job_with(&job("j1", &["t1"]), &retrying(&[("FAILED", 5)]), T0)
        .unwrap();
    run(&mut s, "t1", S::Failed, T0 + 1);
    assert_eq!(run(&mut s, "t1", S::Succeeded, T0 + 2), 2);
    assert_eq!(
        history(&s, "j1", "t1"),
        [(1, S::Failed, 0, 3), (2, S::Succeeded, 1, 3)]
    );
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);
    // An update naming the old execution finds it ended.
    let old = UpdateRequest {
        execution_number: Some(1),
        ..upd(S::InProgress)
    };
    let r = s.update("t1", "j1", &old, T0 + 3).unwrap_err();
    assert_eq!(r.code, ErrorCode::InvalidStateTransition);
    assert_eq!(r.execution_state.unwrap().status, S::Failed);
}

#[test]
fn a_timed_out_execution_is_retried_by_a_timed_out_criterion_only() {
    let mut s = store();
    let req = timed_job("j1", &["t1"], 1);
    s.create_job_with(&req, &retrying(&[("TIMED_OUT", 1)]), T0)
        .unwrap();
    s.start_next("t1", &StartNextRequest::default(), T0)
        .unwrap();
    let changed = s.expire_timeouts(T0 + 60).unwrap();
    assert_eq!(things(&changed), ["t1"]);
    let retry = exec(&s, "j1", "t1");
    assert_eq!(
        (
            retry.execution.execution_number,
            retry.execution.status,
            retry.retry_attempt
        ),
        (2, S::Queued, 1)
    );
    assert_eq!(
        s.describe_execution("j1", "t1", Some(1))
            .unwrap()
            .execution
            .status,
        S::TimedOut
    );
    // The retry's in-progress timer runs from its own start.
    s.start_next("t1", &StartNextRequest::default(), T0 + 100)
        .unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 160));
    // A FAILED retry is not retried: the criterion is TIMED_OUT's.
    s.update("t1", "j1", &upd(S::Failed), T0 + 101).unwrap();
    assert_eq!(exec(&s, "j1", "t1").execution.execution_number, 2);
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);

    // And a FAILED criterion does not retry timeouts.
    s.create_job_with(
        &timed_job("j2", &["t1"], 1),
        &retrying(&[("FAILED", 3)]),
        T0,
    )
    .unwrap();
    s.start_next("t1", &StartNextRequest::default(), T0 + 200)
        .unwrap();
    s.expire_timeouts(T0 + 260).unwrap();
    assert_eq!(history(&s, "j2", "t1"), [(1, S::TimedOut, 0, 3)]);
    assert_eq!(s.describe_job("j2").unwrap().status, JobStatus::Completed);
}

#[test]
fn all_retries_both_failure_types_from_one_budget() {
    let mut s = store();
    let req = timed_job("j1", &["t1"], 1);
    s.create_job_with(&req, &retrying(&[("ALL", 2)]), T0)
        .unwrap();
    run(&mut s, "t1", S::Failed, T0);
    s.start_next("t1", &StartNextRequest::default(), T0 + 10)
        .unwrap();
    s.expire_timeouts(T0 + 70).unwrap();
    // One FAILED and one TIMED_OUT retry: ALL's two are spent.
    assert_eq!(run(&mut s, "t1", S::Failed, T0 + 80), 3);
    assert_eq!(
        history(&s, "j1", "t1"),
        [
            (1, S::Failed, 0, 3),
            (2, S::TimedOut, 1, 3),
            (3, S::Failed, 2, 3)
        ]
    );
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);
}

#[test]
fn a_rejected_execution_is_never_retried() {
    let mut s = store();
    s.create_job_with(&job("j1", &["t1"]), &retrying(&[("ALL", 10)]), T0)
        .unwrap();
    run(&mut s, "t1", S::Rejected, T0);
    assert_eq!(history(&s, "j1", "t1"), [(1, S::Rejected, 0, 3)]);
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);
}

#[test]
fn nothing_cancelled_is_retried() {
    let mut s = store();
    let c = retrying(&[("ALL", 5)]);
    // CancelJobExecution of a queued retry: cancelled, not retried, and
    // the job completes.
    s.create_job_with(&job("j1", &["t1"]), &c, T0).unwrap();
    run(&mut s, "t1", S::Failed, T0);
    s.cancel_execution("j1", "t1", false, None, T0 + 1).unwrap();
    assert_eq!(
        history(&s, "j1", "t1"),
        [(1, S::Failed, 0, 3), (2, S::Canceled, 1, 2)]
    );
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);

    // CancelJob with force under a running retry: CANCELED, no retry.
    s.create_job_with(&job("j2", &["t1"]), &c, T0).unwrap();
    run(&mut s, "t1", S::Failed, T0);
    s.start_next("t1", &StartNextRequest::default(), T0 + 1)
        .unwrap();
    s.cancel_job("j2", true, None, None, T0 + 2).unwrap();
    assert_eq!(
        history(&s, "j2", "t1"),
        [(1, S::Failed, 0, 3), (2, S::Canceled, 1, 3)]
    );

    // CancelJob without force leaves an IN_PROGRESS execution running; it
    // may still fail, and a cancelled job retries nothing.
    s.create_job_with(&job("j3", &["t1"]), &c, T0).unwrap();
    s.start_next("t1", &StartNextRequest::default(), T0)
        .unwrap();
    s.cancel_job("j3", false, None, None, T0 + 1).unwrap();
    s.update("t1", "j3", &upd(S::Failed), T0 + 2).unwrap();
    assert_eq!(history(&s, "j3", "t1"), [(1, S::Failed, 0, 3)]);
    assert!(s.get_pending("t1").unwrap().1.is_empty());

    // Nor does a timeout under a cancelled job.
    s.create_job_with(&timed_job("j4", &["t1"], 1), &c, T0)
        .unwrap();
    s.start_next("t1", &StartNextRequest::default(), T0)
        .unwrap();
    s.cancel_job("j4", false, None, None, T0 + 1).unwrap();
    s.expire_timeouts(T0 + 60).unwrap();
    assert_eq!(history(&s, "j4", "t1"), [(1, S::TimedOut, 0, 3)]);
}

#[test]
fn an_abort_rule_counts_a_failure_being_retried_and_cancels_the_retry() {
    let mut s = store();
    let abort = json!({ "criteriaList": [{ "failureType": "FAILED", "action": "CANCEL",
        "thresholdPercentage": 50, "minNumberOfExecutedThings": 2 }] });
    let targets = names(4);
    s.create_job_with(
        &job_on("j1", &targets),
        &configs(&[("FAILED", 5)], Some(abort)),
        T0,
    )
    .unwrap();
    s.update("t000", "j1", &upd(S::Failed), T0).unwrap();
    assert_eq!(exec(&s, "j1", "t000").execution.status, S::Queued);
    // t000 counts as failed while its retry waits: 1 of 2 is 50 %.
    let (_, changed) = s.update("t001", "j1", &upd(S::Succeeded), T0 + 1).unwrap();
    assert_eq!(
        things(&changed),
        ["t000", "t001", "t002", "t003"],
        "the queued retry is cancelled with the rest"
    );
    let j = s.describe_job("j1").unwrap();
    assert_eq!(
        (j.status, j.reason_code.as_deref()),
        (JobStatus::Canceled, Some("FAILED"))
    );
    assert_eq!(
        history(&s, "j1", "t000"),
        [(1, S::Failed, 0, 2), (2, S::Canceled, 1, 2)]
    );
}

#[test]
fn an_abort_rule_counts_a_thing_by_its_latest_completed_execution() {
    let mut s = store();
    let abort = json!({ "criteriaList": [{ "failureType": "FAILED", "action": "CANCEL",
        "thresholdPercentage": 60, "minNumberOfExecutedThings": 2 }] });
    s.create_job_with(
        &job_on("j1", &names(3)),
        &configs(&[("FAILED", 1)], Some(abort)),
        T0,
    )
    .unwrap();
    run(&mut s, "t000", S::Failed, T0);
    run(&mut s, "t000", S::Succeeded, T0 + 1);
    // t000 succeeded on its retry, t001 failed: 1 of 2 is below 60 %.
    run(&mut s, "t001", S::Failed, T0 + 2);
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::InProgress);
    assert_eq!(exec(&s, "j1", "t001").execution.status, S::Queued);
}

#[test]
fn timeouts_in_one_sweep_meet_an_abort_rule_before_any_retry() {
    let mut s = store();
    let abort = json!({ "criteriaList": [{ "failureType": "TIMED_OUT", "action": "CANCEL",
        "thresholdPercentage": 100, "minNumberOfExecutedThings": 2 }] });
    let req = CreateJob {
        in_progress_timeout_minutes: Some(1),
        ..job_on("j1", &names(3))
    };
    s.create_job_with(&req, &configs(&[("TIMED_OUT", 3)], Some(abort)), T0)
        .unwrap();
    for t in ["t000", "t001"] {
        s.start_next(t, &StartNextRequest::default(), T0).unwrap();
    }
    let changed = s.expire_timeouts(T0 + 60).unwrap();
    assert_eq!(things(&changed), ["t000", "t001", "t002"]);
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Canceled);
    for t in ["t000", "t001"] {
        assert_eq!(history(&s, "j1", t), [(1, S::TimedOut, 0, 3)], "{t}");
    }
}

#[test]
fn update_job_sets_retries_to_zero_and_the_queued_retry_is_the_last() {
    let mut s = store();
    s.create_job_with(
        &timed_job("j1", &["t1"], 1),
        &retrying(&[("FAILED", 3), ("TIMED_OUT", 3)]),
        T0,
    )
    .unwrap();
    run(&mut s, "t1", S::Failed, T0);
    let zero = RetryConfig::from_update_json(&criteria(&[("FAILED", 0)])).unwrap();
    let j = s
        .update_job(
            "j1",
            &UpdateJob {
                stop_retries: Some(zero),
                ..UpdateJob::default()
            },
            T0 + 1,
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(j.plan.job_executions_retry_config).unwrap(),
        criteria(&[("FAILED", 0), ("TIMED_OUT", 3)])
    );
    // The retry already queued runs; its failure is not retried again.
    assert_eq!(run(&mut s, "t1", S::Failed, T0 + 2), 2);
    assert_eq!(exec(&s, "j1", "t1").execution.execution_number, 2);
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);

    // The store refuses anything but 0, whoever calls it.
    let raised: RetryConfig = serde_json::from_value(criteria(&[("FAILED", 1)])).unwrap();
    let e = s
        .update_job(
            "j1",
            &UpdateJob {
                stop_retries: Some(raised),
                ..UpdateJob::default()
            },
            T0 + 3,
        )
        .unwrap_err();
    assert!(
        matches!(e, StoreError::InvalidRequest(ref m) if m.contains("only be set to 0")),
        "{e}"
    );
}
