//! Schedules: a job is SCHEDULED before its startTime and between its
//! maintenance windows, releases only inside them, and its endTime applies
//! its endBehavior once.

use super::rollout::{configs, job_on, names, progress, tick_each_second};
use super::*;
use crate::rollout::JobConfigs;
use serde_json::Value;
use JobExecutionStatus as S;

/// `t` as a StringDateTime (T0 is 22:13:20 UTC).
fn iso(t: i64) -> String {
    crate::rollout::datetime::format_utc(t)
}

fn scheduled(scheduling: Value, per_minute: Option<u32>) -> JobConfigs {
    let rollout = per_minute.map(|r| json!({ "maximumPerMinute": r }));
    configs(rollout, None, Some(scheduling), T0)
}

/// The first window of `cron(0 * ? * * *)` after T0: 23:00:00.
const NEXT_HOUR: i64 = T0 + 2800;

#[test]
fn a_job_is_scheduled_until_its_start_time() {
    let mut s = store();
    let c = scheduled(json!({ "startTime": iso(T0 + 3600) }), None);
    let (j, changes) = s.create_job_with(&job_on("j1", &names(3)), &c, T0).unwrap();
    assert_eq!(j.status, JobStatus::Scheduled);
    assert!(changes.is_empty(), "nobody is notified");
    assert!(!j.plan.is_concurrent);
    assert_eq!(progress(&s, "j1").unreleased_things, 3);
    s.create_job(&job("other", &["t9"]), T0).unwrap();
    let ids = |s: &Store, status| -> Vec<String> {
        s.list_jobs(Some(status))
            .unwrap()
            .into_iter()
            .map(|j| j.job_id)
            .collect()
    };
    assert_eq!(ids(&s, JobStatus::Scheduled), ["j1"]);
    assert_eq!(ids(&s, JobStatus::InProgress), ["other"]);
    assert!(s.advance_rollouts(T0 + 3599).unwrap().is_empty());
    assert_eq!(s.get_pending("t000").unwrap(), (vec![], vec![]));
    // At the start, every target at once: there is no rollout rate.
    let changed = s.advance_rollouts(T0 + 3600).unwrap();
    assert_eq!(things(&changed), ["t000", "t001", "t002"]);
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::InProgress);
    assert_eq!(j.last_updated_at, T0 + 3600);
    assert_eq!(exec(&s, "j1", "t000").execution.queued_at, T0 + 3600);
}

#[test]
fn a_scheduled_job_can_be_cancelled_before_it_starts() {
    let mut s = store();
    let c = scheduled(json!({ "startTime": iso(T0 + 3600) }), Some(60));
    s.create_job_with(&job_on("j1", &names(3)), &c, T0).unwrap();
    assert!(s
        .cancel_job("j1", false, None, None, T0 + 1)
        .unwrap()
        .is_empty());
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Canceled);
    assert!(s.advance_rollouts(T0 + 3600).unwrap().is_empty());
    assert!(s.list_executions_for_job("j1").unwrap().is_empty());
}

#[test]
fn targets_are_released_only_inside_a_maintenance_window() {
    let mut s = store();
    // A one-minute window at the top of every hour, 60 targets a minute.
    let c = scheduled(
        json!({ "maintenanceWindows": [
            { "startTime": "cron(0 * ? * * *)", "durationInMinutes": 1 }
        ]}),
        Some(60),
    );
    let (j, _) = s
        .create_job_with(&job_on("j1", &names(100)), &c, T0)
        .unwrap();
    assert_eq!(j.status, JobStatus::Scheduled, "created outside a window");
    assert_eq!(
        tick_each_second(&mut s, NEXT_HOUR - 5, NEXT_HOUR - 1),
        [0; 5]
    );
    let released = tick_each_second(&mut s, NEXT_HOUR, NEXT_HOUR + 59);
    assert_eq!(released, [1; 60]);
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::InProgress);
    // The window closes with 40 targets to go: the job waits, SCHEDULED,
    // and its released executions run on meanwhile.
    assert!(s.advance_rollouts(NEXT_HOUR + 60).unwrap().is_empty());
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Scheduled);
    s.update("t000", "j1", &upd(S::Succeeded), NEXT_HOUR + 61)
        .unwrap();
    assert_eq!(
        tick_each_second(&mut s, NEXT_HOUR + 61, NEXT_HOUR + 120),
        [0; 60]
    );
    let later = NEXT_HOUR + 3600;
    let released = tick_each_second(&mut s, later, later + 39);
    // After the pause, up to five seconds of catch-up, as after any gap.
    assert_eq!(released[..2], [5, 1]);
    assert_eq!(released.iter().sum::<usize>(), 40);
    assert_eq!(progress(&s, "j1").unreleased_things, 0);
    // Done releasing: it stays IN_PROGRESS (and can complete) after the
    // window.
    s.advance_rollouts(later + 60).unwrap();
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::InProgress);
    for t in names(100).iter().skip(1) {
        s.update(t, "j1", &upd(S::Succeeded), later + 61).unwrap();
    }
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);
}

/// A job released at one a minute that ends at T0 + 30 min with
/// `behavior`; t000 IN_PROGRESS, t001 QUEUED when it ends.
fn ended(behavior: &str) -> Store {
    let mut s = store();
    let c = scheduled(
        json!({ "endTime": iso(T0 + 1800), "endBehavior": behavior }),
        Some(1),
    );
    s.create_job_with(&job_on("j1", &names(100)), &c, T0)
        .unwrap();
    s.advance_rollouts(T0 + 60).unwrap();
    s.update("t000", "j1", &upd(S::InProgress), T0 + 61)
        .unwrap();
    assert!(s.advance_rollouts(T0 + 1799).unwrap().things.len() <= 1);
    s
}

#[test]
fn stop_rollout_at_the_end_time_releases_no_more_and_lets_the_job_complete() {
    let mut s = ended("STOP_ROLLOUT");
    let released = progress(&s, "j1").released_things;
    assert!(s.advance_rollouts(T0 + 1800).unwrap().is_empty());
    assert_eq!(progress(&s, "j1").unreleased_things, 0);
    assert_eq!(tick_each_second(&mut s, T0 + 1801, T0 + 1900), vec![0; 100]);
    assert_eq!(progress(&s, "j1").released_things, released);
    assert!(!s.rollouts_active().unwrap());
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::InProgress);
    for r in s.list_executions_for_job("j1").unwrap() {
        s.update(&r.thing_name, "j1", &upd(S::Succeeded), T0 + 1901)
            .unwrap();
    }
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::Completed);
}

#[test]
fn cancel_at_the_end_time_cancels_the_queued_executions() {
    let mut s = ended("CANCEL");
    let changed = s.advance_rollouts(T0 + 1800).unwrap();
    assert!(!changed.things.contains("t000"));
    assert!(changed.things.contains("t001"));
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Canceled);
    assert!(!j.force_canceled);
    assert!(
        j.comment.unwrap().contains("endTime"),
        "the comment says why"
    );
    assert_eq!(exec(&s, "j1", "t000").execution.status, S::InProgress);
    assert_eq!(exec(&s, "j1", "t001").execution.status, S::Canceled);
    assert_eq!(progress(&s, "j1").unreleased_things, 0);
    // Once.
    assert!(s.advance_rollouts(T0 + 1801).unwrap().is_empty());
}

#[test]
fn force_cancel_at_the_end_time_cancels_the_running_executions_too() {
    let mut s = ended("FORCE_CANCEL");
    let changed = s.advance_rollouts(T0 + 1800).unwrap();
    assert!(changed.things.contains("t000"));
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Canceled);
    assert!(j.force_canceled);
    let t000 = exec(&s, "j1", "t000");
    assert_eq!(t000.execution.status, S::Canceled);
    assert!(t000.force_canceled);
}
