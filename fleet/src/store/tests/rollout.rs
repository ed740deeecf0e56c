//! Staged rollouts: targets wait unseen until released, releases follow
//! the rate second by second, the rate grows with its criteria, and a
//! reopened store goes on from its log instead of granting a new minute.

use super::*;
use crate::rollout::{JobConfigs, RawConfigs};
use serde_json::Value;
use JobExecutionStatus as S;

/// `n` thing names, `t000`, `t001`, ...
pub(super) fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i:03}")).collect()
}

/// A job on `targets`.
pub(super) fn job_on(id: &str, targets: &[String]) -> CreateJob {
    CreateJob {
        targets: targets.to_vec(),
        ..job(id, &[])
    }
}

/// Configurations read as the API reads them, at `now`.
pub(super) fn configs(
    rollout: Option<Value>,
    abort: Option<Value>,
    scheduling: Option<Value>,
    now: i64,
) -> JobConfigs {
    JobConfigs::from_json(
        RawConfigs {
            rollout: rollout.as_ref(),
            abort: abort.as_ref(),
            scheduling: scheduling.as_ref(),
            ..RawConfigs::default()
        },
        now,
    )
    .expect("valid configurations")
}

/// A constant rollout of `per_minute`.
pub(super) fn rate(per_minute: u32) -> JobConfigs {
    configs(
        Some(json!({ "maximumPerMinute": per_minute })),
        None,
        None,
        T0,
    )
}

/// The rollout's progress, as DescribeJob shows it.
pub(super) fn progress(s: &Store, job_id: &str) -> RolloutProgress {
    s.describe_job(job_id)
        .unwrap()
        .plan
        .jobhost
        .expect("a rollout shows its progress")
        .rollout
}

/// Ticks once a second from `from` to `to` (inclusive); returns how many
/// things each tick released.
pub(super) fn tick_each_second(s: &mut Store, from: i64, to: i64) -> Vec<usize> {
    (from..=to)
        .map(|t| s.advance_rollouts(t).unwrap().things.len())
        .collect()
}

#[test]
fn unreleased_targets_have_no_execution_and_their_devices_see_nothing() {
    let mut s = store();
    let targets = names(5);
    let (j, changes) = s
        .create_job_with(&job_on("j1", &targets), &rate(60), T0)
        .unwrap();
    // 60 a minute is one a second: the first target now, in target order.
    assert_eq!(things(&changes), ["t000"]);
    assert_eq!(j.status, JobStatus::InProgress);
    let arns: Vec<String> = targets.iter().map(|t| crate::arn::thing_arn(t)).collect();
    assert_eq!(j.targets, arns, "DescribeJob lists every target, as ARNs");
    assert_eq!(j.process_details.number_of_queued_things, 1);
    assert!(j.plan.is_concurrent);
    assert_eq!(
        j.plan.jobhost.unwrap().rollout,
        RolloutProgress {
            released_things: 1,
            unreleased_things: 4,
            rate_per_minute: Some(60),
            last_released_at: Some(T0),
        }
    );
    assert_eq!(exec(&s, "j1", "t000").execution.status, S::Queued);
    for t in &targets[1..] {
        assert!(matches!(
            s.describe_execution("j1", t, None),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.get_pending(t).unwrap(), (vec![], vec![]));
        assert_eq!(s.head(t).unwrap(), None);
        assert!(s.pending_list(t).unwrap().is_empty());
        let (next, _) = s.start_next(t, &Default::default(), T0).unwrap();
        assert_eq!(next, None, "{t} has nothing to start");
        let err = s.update(t, "j1", &upd(S::InProgress), T0).unwrap_err();
        assert_eq!(err.code, jobhost_protocol::ErrorCode::ResourceNotFound);
    }
    assert_eq!(s.list_executions_for_job("j1").unwrap().len(), 1);
}

#[test]
fn a_rollout_releases_in_target_order_at_its_rate_each_second() {
    let mut s = store();
    let targets = names(100);
    s.create_job_with(&job_on("j1", &targets), &rate(600), T0)
        .unwrap();
    // 600 a minute: 10 a second, the first 10 at creation.
    assert_eq!(tick_each_second(&mut s, T0 + 1, T0 + 5), [10; 5]);
    // A second tick in the same second releases nothing more.
    assert!(s.advance_rollouts(T0 + 5).unwrap().is_empty());
    let released: Vec<String> = s
        .list_executions_for_job("j1")
        .unwrap()
        .into_iter()
        .map(|r| r.thing_name)
        .collect();
    assert_eq!(released, targets[..60]);
    for r in s.list_executions_for_job("j1").unwrap() {
        let i: i64 = r.thing_name[1..].parse().unwrap();
        assert_eq!(r.execution.queued_at, T0 + i / 10, "{}", r.thing_name);
    }
    assert_eq!(tick_each_second(&mut s, T0 + 6, T0 + 9), [10, 10, 10, 10]);
    assert_eq!(progress(&s, "j1").unreleased_things, 0);
    assert!(!s.describe_job("j1").unwrap().plan.is_concurrent);
    assert!(!s.rollouts_active().unwrap());
}

#[test]
fn a_late_tick_catches_up_a_few_seconds_but_never_a_minute_more_than_the_rate() {
    let mut s = store();
    s.create_job_with(&job_on("j1", &names(300)), &rate(120), T0)
        .unwrap();
    assert_eq!(progress(&s, "j1").released_things, 2);
    // Three seconds late: three seconds of rate.
    assert_eq!(s.advance_rollouts(T0 + 3).unwrap().things.len(), 6);
    // A minute late: five seconds of rate at most.
    assert_eq!(s.advance_rollouts(T0 + 63).unwrap().things.len(), 10);
    // Whatever the ticks, never more than 120 in any 60 seconds.
    let mut log = vec![(T0, 2), (T0 + 3, 6), (T0 + 63, 10)];
    for t in T0 + 64..T0 + 200 {
        let n = s.advance_rollouts(t).unwrap().things.len();
        log.push((t, n));
    }
    for &(end, _) in &log {
        let in_window: usize = log
            .iter()
            .filter(|(t, _)| *t > end - 60 && *t <= end)
            .map(|(_, n)| n)
            .sum();
        assert!(
            in_window <= 120,
            "{in_window} released in the minute to {end}"
        );
    }
}

#[test]
fn a_reopened_store_spends_what_is_left_of_the_minute_not_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    {
        let mut s = Store::open(&path).unwrap();
        // 10 a minute: one a second for ten seconds, then nothing until
        // the minute has passed.
        s.create_job_with(&job_on("j1", &names(50)), &rate(10), T0)
            .unwrap();
        assert_eq!(tick_each_second(&mut s, T0 + 1, T0 + 9), [1; 9]);
        assert_eq!(tick_each_second(&mut s, T0 + 10, T0 + 12), [0; 3]);
    }
    let mut s = Store::open(&path).unwrap();
    assert!(s.rollouts_active().unwrap());
    assert_eq!(progress(&s, "j1").released_things, 10);
    // A fresh budget would release 5 (five seconds of catch-up) now; the
    // log says the minute's 10 are spent.
    assert_eq!(tick_each_second(&mut s, T0 + 13, T0 + 59), [0; 47]);
    // The first release of the minute has left the window.
    assert_eq!(s.advance_rollouts(T0 + 60).unwrap().things.len(), 1);
    assert_eq!(progress(&s, "j1").released_things, 11);
}

#[test]
fn the_exponential_rate_grows_after_each_notified_threshold() {
    let mut s = store();
    let c = configs(
        Some(json!({ "exponentialRate": {
            "baseRatePerMinute": 60, "incrementFactor": 2,
            "rateIncreaseCriteria": { "numberOfNotifiedThings": 10 }
        }})),
        None,
        None,
        T0,
    );
    s.create_job_with(&job_on("j1", &names(200)), &c, T0)
        .unwrap();
    // 60 a minute, one a second, until 10 are notified; then 120 (2 a
    // second) until 20; then 240 (4 a second).
    assert_eq!(tick_each_second(&mut s, T0 + 1, T0 + 9), [1; 9]);
    assert_eq!(progress(&s, "j1").rate_per_minute, Some(120));
    assert_eq!(tick_each_second(&mut s, T0 + 10, T0 + 14), [2; 5]);
    assert_eq!(progress(&s, "j1").rate_per_minute, Some(240));
    assert_eq!(tick_each_second(&mut s, T0 + 15, T0 + 16), [4, 4]);
}

#[test]
fn the_exponential_rate_grows_after_each_succeeded_threshold() {
    let mut s = store();
    let c = configs(
        Some(json!({ "exponentialRate": {
            "baseRatePerMinute": 60, "incrementFactor": 3,
            "rateIncreaseCriteria": { "numberOfSucceededThings": 2 }
        }})),
        None,
        None,
        T0,
    );
    s.create_job_with(&job_on("j1", &names(100)), &c, T0)
        .unwrap();
    assert_eq!(tick_each_second(&mut s, T0 + 1, T0 + 3), [1, 1, 1]);
    // Notified things alone do not count.
    assert_eq!(progress(&s, "j1").rate_per_minute, Some(60));
    for t in ["t000", "t001"] {
        s.update(t, "j1", &upd(S::Succeeded), T0 + 3).unwrap();
    }
    assert_eq!(progress(&s, "j1").rate_per_minute, Some(180));
    assert_eq!(tick_each_second(&mut s, T0 + 4, T0 + 5), [3, 3]);
}

#[test]
fn cancel_job_drops_the_unreleased_targets_and_stops_the_rollout() {
    let mut s = store();
    s.create_job_with(&job_on("j1", &names(20)), &rate(60), T0)
        .unwrap();
    tick_each_second(&mut s, T0 + 1, T0 + 2);
    s.update("t001", "j1", &upd(S::InProgress), T0 + 2).unwrap();
    let changed = s
        .cancel_job("j1", false, None, Some("stop"), T0 + 3)
        .unwrap();
    assert_eq!(things(&changed), ["t000", "t002"]);
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Canceled);
    assert!(!j.plan.is_concurrent);
    assert_eq!(progress(&s, "j1").unreleased_things, 0);
    assert!(!s.rollouts_active().unwrap());
    assert_eq!(tick_each_second(&mut s, T0 + 4, T0 + 70), vec![0; 67]);
    assert_eq!(s.list_executions_for_job("j1").unwrap().len(), 3);
    // The IN_PROGRESS one runs on, as without a rollout.
    assert_eq!(exec(&s, "j1", "t001").execution.status, S::InProgress);
}

#[test]
fn a_rollout_completes_only_when_every_target_was_released_and_ended() {
    let mut s = store();
    s.create_job_with(&job_on("j1", &names(2)), &rate(60), T0)
        .unwrap();
    s.update("t000", "j1", &upd(S::Succeeded), T0).unwrap();
    assert_eq!(
        s.describe_job("j1").unwrap().status,
        JobStatus::InProgress,
        "t001 has not even been notified"
    );
    s.advance_rollouts(T0 + 1).unwrap();
    s.update("t001", "j1", &upd(S::Succeeded), T0 + 1).unwrap();
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Completed);
    assert_eq!(j.completed_at, Some(T0 + 1));
}

#[test]
fn deleting_a_job_forgets_its_rollout() {
    let mut s = store();
    s.create_job_with(&job_on("j1", &names(20)), &rate(60), T0)
        .unwrap();
    assert!(s.rollouts_active().unwrap());
    s.delete_job("j1", false, T0 + 1).unwrap();
    assert!(!s.rollouts_active().unwrap());
    assert!(s.advance_rollouts(T0 + 2).unwrap().is_empty());
    // The id can be used again, with no trace of the old log.
    s.create_job_with(&job_on("j1", &names(3)), &rate(60), T0 + 3)
        .unwrap();
    assert_eq!(progress(&s, "j1").released_things, 1);
}

#[test]
fn a_job_without_a_rollout_is_unchanged() {
    let mut s = store();
    let (j, changes) = s
        .create_job_with(&job_on("j1", &names(3)), &JobConfigs::default(), T0)
        .unwrap();
    assert_eq!(things(&changes), ["t000", "t001", "t002"]);
    assert_eq!(j.process_details.number_of_queued_things, 3);
    assert_eq!(j.plan, JobPlan::default());
    assert!(!s.rollouts_active().unwrap());
}
