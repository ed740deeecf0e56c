//! Abort rules: checked after each execution that ends (device update or
//! timeout), in order, over the executions that completed; a rule met
//! cancels the job's QUEUED executions and unreleased targets.

use super::rollout::{configs, job_on, names, progress, rate, tick_each_second};
use super::*;
use crate::rollout::JobConfigs;
use serde_json::Value;
use JobExecutionStatus as S;

fn rule(failure_type: &str, percent: f64, min: u32) -> Value {
    json!({ "failureType": failure_type, "action": "CANCEL",
            "thresholdPercentage": percent, "minNumberOfExecutedThings": min })
}

fn abort(rules: &[Value]) -> JobConfigs {
    configs(None, Some(json!({ "criteriaList": rules })), None, T0)
}

#[test]
fn a_rule_met_cancels_the_queued_executions_and_leaves_the_running_ones() {
    let mut s = store();
    let targets = names(10);
    s.create_job_with(
        &job_on("j1", &targets),
        &abort(&[rule("FAILED", 30.0, 5)]),
        T0,
    )
    .unwrap();
    for t in &targets[..3] {
        s.update(t, "j1", &upd(S::Succeeded), T0 + 1).unwrap();
    }
    s.update("t003", "j1", &upd(S::InProgress), T0 + 1).unwrap();
    s.update("t004", "j1", &upd(S::InProgress), T0 + 1).unwrap();
    // 1 failure of 4 completed: below the minimum of 5 executed things.
    let (_, changed) = s.update("t005", "j1", &upd(S::Failed), T0 + 2).unwrap();
    assert_eq!(things(&changed), ["t005"]);
    // 2 of 5: 40 %, at least 30 % with 5 executed: the job is aborted.
    let (_, changed) = s.update("t006", "j1", &upd(S::Failed), T0 + 3).unwrap();
    assert_eq!(
        things(&changed),
        ["t006", "t007", "t008", "t009"],
        "the cancelled executions' devices are notified"
    );
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Canceled);
    assert_eq!(j.reason_code.as_deref(), Some("FAILED"));
    let comment = j.comment.unwrap();
    assert!(
        comment.contains("abortConfig.criteriaList[0]") && comment.contains("2 of 5"),
        "{comment}"
    );
    assert!(!j.force_canceled);
    assert_eq!(j.last_updated_at, T0 + 3);
    for t in ["t007", "t008", "t009"] {
        assert_eq!(exec(&s, "j1", t).execution.status, S::Canceled);
    }
    // IN_PROGRESS executions are not cancelled and may still finish.
    assert_eq!(exec(&s, "j1", "t003").execution.status, S::InProgress);
    s.update("t003", "j1", &upd(S::Succeeded), T0 + 4).unwrap();
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Canceled);
}

#[test]
fn a_rule_counts_only_completed_executions_and_needs_a_failure() {
    let mut s = store();
    let c = abort(&[rule("ALL", 0.0, 2)]);
    s.create_job_with(&job_on("j1", &names(4)), &c, T0).unwrap();
    // A cancelled execution never ran: it is not an executed thing.
    s.cancel_execution("j1", "t000", false, None, T0).unwrap();
    s.update("t001", "j1", &upd(S::Succeeded), T0).unwrap();
    s.update("t002", "j1", &upd(S::Succeeded), T0).unwrap();
    // 0 % failures meets a 0 % threshold only once there is a failure.
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::InProgress);
    s.update("t003", "j1", &upd(S::Rejected), T0).unwrap();
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Canceled);
    assert_eq!(j.reason_code.as_deref(), Some("ALL"));
}

#[test]
fn rules_are_checked_in_order_and_each_counts_its_failure_type() {
    let mut s = store();
    let c = abort(&[rule("REJECTED", 50.0, 2), rule("ALL", 50.0, 2)]);
    s.create_job_with(&job_on("j1", &names(5)), &c, T0).unwrap();
    s.update("t000", "j1", &upd(S::Failed), T0).unwrap();
    // 1 FAILED of 1: the REJECTED rule counts no failure, the ALL rule
    // wants 2 executed things.
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::InProgress);
    s.update("t001", "j1", &upd(S::Succeeded), T0).unwrap();
    // 1 of 2 are FAILED, REJECTED or TIMED_OUT: 50 %, the second rule.
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Canceled);
    assert_eq!(j.reason_code.as_deref(), Some("ALL"));
    assert!(j.comment.unwrap().contains("criteriaList[1]"));
}

#[test]
fn a_timeout_is_a_failure_the_rules_count() {
    let mut s = store();
    let c = abort(&[rule("TIMED_OUT", 50.0, 2)]);
    let req = CreateJob {
        in_progress_timeout_minutes: Some(1),
        ..job_on("j1", &names(4))
    };
    s.create_job_with(&req, &c, T0).unwrap();
    s.update("t000", "j1", &upd(S::Succeeded), T0).unwrap();
    s.update("t001", "j1", &upd(S::InProgress), T0).unwrap();
    let changed = s.expire_timeouts(T0 + 60).unwrap();
    assert_eq!(things(&changed), ["t001", "t002", "t003"]);
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Canceled);
    assert_eq!(j.reason_code.as_deref(), Some("TIMED_OUT"));
    assert_eq!(exec(&s, "j1", "t002").execution.status, S::Canceled);
}

#[test]
fn an_abort_stops_a_staged_rollout() {
    let mut s = store();
    let c = JobConfigs {
        abort: abort(&[rule("FAILED", 50.0, 2)]).abort,
        ..rate(60)
    };
    s.create_job_with(&job_on("j1", &names(30)), &c, T0)
        .unwrap();
    tick_each_second(&mut s, T0 + 1, T0 + 2);
    s.update("t000", "j1", &upd(S::Failed), T0 + 2).unwrap();
    let (_, changed) = s.update("t001", "j1", &upd(S::Failed), T0 + 2).unwrap();
    assert_eq!(things(&changed), ["t001", "t002"]);
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Canceled);
    assert_eq!(progress(&s, "j1").unreleased_things, 0);
    assert_eq!(tick_each_second(&mut s, T0 + 3, T0 + 30), vec![0; 28]);
    assert_eq!(s.list_executions_for_job("j1").unwrap().len(), 3);
}

#[test]
fn a_job_that_ended_is_not_aborted() {
    let mut s = store();
    let c = abort(&[rule("FAILED", 10.0, 1)]);
    s.create_job_with(&job_on("j1", &names(2)), &c, T0).unwrap();
    s.update("t000", "j1", &upd(S::InProgress), T0).unwrap();
    s.cancel_job("j1", false, None, Some("by hand"), T0 + 1)
        .unwrap();
    s.update("t000", "j1", &upd(S::Failed), T0 + 2).unwrap();
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.comment.as_deref(), Some("by hand"));
    assert_eq!(j.reason_code, None, "the operator's cancel, not an abort");
}
