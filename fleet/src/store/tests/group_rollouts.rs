//! Jobs on thing groups together with staged rollouts, schedules, retries
//! and abort rules: a group's members are released at the rollout's rate,
//! a thing that joins a continuous job later is not held back by it, one
//! that leaves before its release just leaves the rollout, a SCHEDULED job
//! queues nothing, a retry is REMOVED with its thing and restarted on its
//! return, and abort rules count each member once.

use super::rollout::{configs, progress, rate};
use super::*;
use crate::rollout::retry::tests::criteria;
use crate::rollout::{JobConfigs, RawConfigs};
use jobhost_protocol::requests::StartNextRequest;
use JobExecutionStatus as S;

/// Things t0..t(n-1), all in static group Fleet.
fn fleet_of(s: &mut Store, n: usize) -> Vec<String> {
    s.create_thing_group("Fleet", None, &GroupProperties::default(), T0)
        .unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    for t in &names {
        s.create_thing(t, None, T0).unwrap();
        s.add_thing_to_thing_group(t, "Fleet", false, T0).unwrap();
    }
    names
}

/// A job on group Fleet.
fn on_fleet(id: &str, selection: TargetSelection) -> CreateJob {
    CreateJob {
        target_selection: selection,
        ..job(id, &["Fleet"])
    }
}

/// (thing, executionNumber, status, retryAttempt) of every execution.
fn runs(s: &Store, job_id: &str) -> Vec<(String, u64, S, u32)> {
    s.list_executions_for_job(job_id)
        .unwrap()
        .into_iter()
        .map(|r| {
            let e = r.execution;
            (r.thing_name, e.execution_number, e.status, r.retry_attempt)
        })
        .collect()
}

fn run(thing: &str, number: u64, status: S, attempt: u32) -> (String, u64, S, u32) {
    (thing.to_owned(), number, status, attempt)
}

#[test]
fn a_job_on_a_group_releases_its_members_at_the_rollout_rate() {
    let mut s = store();
    fleet_of(&mut s, 4);
    // 60 a minute: one a second.
    let (j, changes) = s
        .create_job_with(&on_fleet("j", TargetSelection::Snapshot), &rate(60), T0)
        .unwrap();
    assert_eq!(things(&changes), ["t0"]);
    assert_eq!(j.process_details.number_of_queued_things, 1);
    assert_eq!(progress(&s, "j").unreleased_things, 3);
    assert!(s.advance_rollouts(T0).unwrap().is_empty(), "spent for now");
    assert_eq!(things(&s.advance_rollouts(T0 + 1).unwrap()), ["t1"]);
    assert_eq!(progress(&s, "j").unreleased_things, 2);
}

#[test]
fn a_thing_joining_a_continuous_rollout_is_not_held_back_by_its_rate() {
    let mut s = store();
    fleet_of(&mut s, 3);
    s.create_job_with(&on_fleet("j", TargetSelection::Continuous), &rate(1), T0)
        .unwrap();
    assert_eq!(progress(&s, "j").unreleased_things, 2);
    s.create_thing("late", None, T0 + 1).unwrap();
    let changes = s
        .add_thing_to_thing_group("late", "Fleet", false, T0 + 1)
        .unwrap();
    assert_eq!(things(&changes), ["late"], "queued at once");
    assert_eq!(exec(&s, "j", "late").execution.status, S::Queued);
    assert_eq!(
        progress(&s, "j").unreleased_things,
        2,
        "the rest still wait"
    );
}

#[test]
fn a_thing_leaving_before_its_release_leaves_the_rollout_with_nothing_removed() {
    let mut s = store();
    fleet_of(&mut s, 3);
    s.create_job_with(&on_fleet("j", TargetSelection::Continuous), &rate(1), T0)
        .unwrap();
    let changes = s
        .remove_thing_from_thing_group("t2", "Fleet", T0 + 1)
        .unwrap();
    assert!(changes.is_empty(), "t2 had nothing to be told");
    assert_eq!(progress(&s, "j").unreleased_things, 1);
    assert_eq!(runs(&s, "j"), [run("t0", 1, S::Queued, 0)]);
    // A minute later the rollout releases t1, never t2.
    assert_eq!(things(&s.advance_rollouts(T0 + 61).unwrap()), ["t1"]);
    assert!(s.advance_rollouts(T0 + 200).unwrap().is_empty());
    assert!(s.describe_execution("j", "t2", None).is_err());
    // Back in the group, it waits no more: it joins as any thing does.
    let changes = s
        .add_thing_to_thing_group("t2", "Fleet", false, T0 + 300)
        .unwrap();
    assert_eq!(things(&changes), ["t2"]);
}

#[test]
fn a_scheduled_continuous_job_queues_nothing_until_its_start() {
    let mut s = store();
    fleet_of(&mut s, 1);
    let start = crate::rollout::datetime::format_utc(T0 + 3600);
    let c = configs(None, None, Some(json!({ "startTime": start })), T0);
    let (j, _) = s
        .create_job_with(&on_fleet("j", TargetSelection::Continuous), &c, T0)
        .unwrap();
    assert_eq!(j.status, JobStatus::Scheduled);
    s.create_thing("late", None, T0 + 1).unwrap();
    let changes = s
        .add_thing_to_thing_group("late", "Fleet", false, T0 + 1)
        .unwrap();
    assert!(changes.is_empty(), "nothing is queued before the start");
    assert!(s.describe_execution("j", "late", None).is_err());
    let mut released = s.advance_rollouts(T0 + 3600).unwrap().things;
    assert_eq!(
        std::mem::take(&mut released)
            .into_iter()
            .collect::<Vec<_>>(),
        ["late", "t0"]
    );
    assert_eq!(s.describe_job("j").unwrap().status, JobStatus::InProgress);
}

#[test]
fn a_canceled_continuous_job_with_a_rollout_takes_no_joiners() {
    let mut s = store();
    fleet_of(&mut s, 2);
    s.create_job_with(&on_fleet("j", TargetSelection::Continuous), &rate(1), T0)
        .unwrap();
    s.cancel_job("j", false, None, None, T0 + 1).unwrap();
    s.create_thing("late", None, T0 + 2).unwrap();
    let changes = s
        .add_thing_to_thing_group("late", "Fleet", false, T0 + 2)
        .unwrap();
    assert!(changes.is_empty());
    assert!(s.describe_execution("j", "late", None).is_err());
    assert!(s.advance_rollouts(T0 + 100).unwrap().is_empty());
}

fn retrying() -> JobConfigs {
    let retry = criteria(&[("FAILED", 2)]);
    JobConfigs::from_json(
        RawConfigs {
            retry: Some(&retry),
            ..RawConfigs::default()
        },
        T0,
    )
    .unwrap()
}

/// Claims `thing`'s next execution and ends it with `status`.
fn fail(s: &mut Store, thing: &str, now: i64) {
    let (e, _) = s
        .start_next(thing, &StartNextRequest::default(), now)
        .unwrap();
    let e = e.expect("an execution to run");
    s.update(thing, &e.job_id, &upd(S::Failed), now).unwrap();
}

#[test]
fn a_queued_retry_is_removed_when_its_thing_leaves_and_restarted_when_it_returns() {
    let mut s = store();
    fleet_of(&mut s, 1);
    s.create_job_with(&on_fleet("j", TargetSelection::Continuous), &retrying(), T0)
        .unwrap();
    fail(&mut s, "t0", T0 + 1);
    assert_eq!(
        runs(&s, "j"),
        [run("t0", 1, S::Failed, 0), run("t0", 2, S::Queued, 1)]
    );
    s.remove_thing_from_thing_group("t0", "Fleet", T0 + 2)
        .unwrap();
    assert_eq!(runs(&s, "j")[1], run("t0", 2, S::Removed, 1));
    let changes = s
        .add_thing_to_thing_group("t0", "Fleet", false, T0 + 3)
        .unwrap();
    assert_eq!(things(&changes), ["t0"]);
    // The lost retry again: same attempt, next number; one retry is left.
    assert_eq!(runs(&s, "j")[2], run("t0", 3, S::Queued, 1));
    fail(&mut s, "t0", T0 + 4);
    assert_eq!(runs(&s, "j")[3], run("t0", 4, S::Queued, 2));
    fail(&mut s, "t0", T0 + 5);
    assert_eq!(runs(&s, "j").len(), 4, "both retries spent");
}

#[test]
fn a_thing_that_left_is_not_retried() {
    let mut s = store();
    fleet_of(&mut s, 1);
    s.create_job_with(&on_fleet("j", TargetSelection::Continuous), &retrying(), T0)
        .unwrap();
    s.start_next("t0", &StartNextRequest::default(), T0 + 1)
        .unwrap();
    // IN_PROGRESS runs on after its thing leaves...
    s.remove_thing_from_thing_group("t0", "Fleet", T0 + 2)
        .unwrap();
    assert_eq!(runs(&s, "j"), [run("t0", 1, S::InProgress, 0)]);
    // ...and its failure is not followed by a retry.
    s.update("t0", "j", &upd(S::Failed), T0 + 3).unwrap();
    assert_eq!(runs(&s, "j"), [run("t0", 1, S::Failed, 0)]);
}

#[test]
fn abort_rules_count_each_member_of_a_group_once() {
    let mut s = store();
    let members = fleet_of(&mut s, 4);
    // Fleet and t0 directly: t0 is one thing, counted once.
    let rule = json!({ "criteriaList": [{ "failureType": "FAILED", "action": "CANCEL",
        "thresholdPercentage": 50.0, "minNumberOfExecutedThings": 3 }] });
    let c = configs(None, Some(rule), None, T0);
    s.create_job_with(&job("j", &["Fleet", "arn:aws:iot:r:1:thing/t0"]), &c, T0)
        .unwrap();
    assert_eq!(runs(&s, "j").len(), members.len());
    s.update("t0", "j", &upd(S::Failed), T0 + 1).unwrap();
    s.update("t1", "j", &upd(S::Succeeded), T0 + 1).unwrap();
    // 1 of 2: below the minimum of 3 executed things.
    assert_eq!(s.describe_job("j").unwrap().status, JobStatus::InProgress);
    s.update("t2", "j", &upd(S::Failed), T0 + 2).unwrap();
    // 2 of 3 failed: the job is aborted, t3's execution cancelled.
    let j = s.describe_job("j").unwrap();
    assert_eq!(j.status, JobStatus::Canceled);
    assert_eq!(j.reason_code.as_deref(), Some("FAILED"));
    assert_eq!(exec(&s, "j", "t3").execution.status, S::Canceled);
}
