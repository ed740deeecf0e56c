//! The in-progress and step timers.

use super::*;
use jobhost_protocol::requests::StartNextRequest;
use jobhost_protocol::ErrorCode;
use JobExecutionStatus as S;

fn step(minutes: i64) -> UpdateRequest {
    UpdateRequest {
        step_timeout_in_minutes: Some(minutes),
        ..upd(S::InProgress)
    }
}

#[test]
fn the_in_progress_timer_times_an_execution_out() {
    let mut s = store();
    s.create_job(&timed_job("j1", &["t1", "t2"], 10), T0)
        .unwrap();
    s.start_next("t1", &StartNextRequest::default(), T0 + 5)
        .unwrap();
    let deadline = T0 + 5 + 600;
    assert_eq!(s.next_deadline().unwrap(), Some(deadline));
    assert_eq!(exec(&s, "j1", "t1").timeout_at, Some(deadline));
    assert!(s.expire_timeouts(deadline - 1).unwrap().is_empty());
    let changes = s.expire_timeouts(deadline).unwrap();
    assert_eq!(things(&changes), ["t1"]);
    let e = exec(&s, "j1", "t1").execution;
    assert_eq!(
        (e.status, e.version_number, e.last_updated_at),
        (S::TimedOut, 3, deadline)
    );
    assert_eq!(
        exec(&s, "j1", "t2").execution.status,
        S::Queued,
        "QUEUED has no timer"
    );
    assert_eq!(s.next_deadline().unwrap(), None);
    let r = s
        .update("t1", "j1", &upd(S::Succeeded), deadline + 1)
        .unwrap_err();
    assert_eq!(r.code, ErrorCode::InvalidStateTransition);
    assert_eq!(r.execution_state.unwrap().status, S::TimedOut);
}

#[test]
fn the_in_progress_deadline_is_fixed_at_the_first_start() {
    let mut s = store();
    s.create_job(&timed_job("j1", &["t1"], 10), T0).unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0 + 500).unwrap();
    s.start_next("t1", &StartNextRequest::default(), T0 + 550)
        .unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 600));
}

#[test]
fn the_step_timer_times_an_execution_out_and_minus_one_discards_it() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    s.update("t1", "j1", &step(2), T0).unwrap();
    s.update("t2", "j1", &step(1), T0).unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 60));
    // A heartbeat renews t2's lease; then -1 drops it.
    s.update("t2", "j1", &step(3), T0 + 30).unwrap();
    s.update("t2", "j1", &step(-1), T0 + 40).unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 120));
    // An update without stepTimeoutInMinutes keeps the timer.
    s.update("t1", "j1", &upd(S::InProgress), T0 + 50).unwrap();
    let changes = s.expire_timeouts(T0 + 120).unwrap();
    assert_eq!(things(&changes), ["t1"]);
    assert_eq!(exec(&s, "j1", "t1").execution.status, S::TimedOut);
    assert_eq!(exec(&s, "j1", "t2").execution.status, S::InProgress);
    assert!(s.expire_timeouts(T0 + 1_000_000).unwrap().is_empty());
}

#[test]
fn the_step_timer_never_outlives_the_in_progress_timer() {
    let mut s = store();
    s.create_job(&timed_job("j1", &["t1"], 10), T0).unwrap();
    s.start_next(
        "t1",
        &StartNextRequest {
            step_timeout_in_minutes: Some(60),
            ..Default::default()
        },
        T0,
    )
    .unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 600));
    s.update("t1", "j1", &step(5), T0 + 500).unwrap();
    assert_eq!(exec(&s, "j1", "t1").timeout_at, Some(T0 + 600));
    s.update("t1", "j1", &step(1), T0 + 500).unwrap();
    assert_eq!(exec(&s, "j1", "t1").timeout_at, Some(T0 + 560));
}

#[test]
fn next_deadline_is_the_earliest_running_timer() {
    let mut s = store();
    assert_eq!(s.next_deadline().unwrap(), None);
    s.create_job(&timed_job("j1", &["t1"], 30), T0).unwrap();
    s.create_job(&job("j2", &["t2", "t3"]), T0).unwrap();
    assert_eq!(
        s.next_deadline().unwrap(),
        None,
        "QUEUED executions have no timer"
    );
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    s.update("t2", "j2", &step(20), T0).unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 1200));
    s.update("t2", "j2", &upd(S::Succeeded), T0 + 1).unwrap();
    assert_eq!(
        s.next_deadline().unwrap(),
        Some(T0 + 1800),
        "an ended execution's timer is gone"
    );
}

#[test]
fn timeouts_complete_the_job() {
    let mut s = store();
    s.create_job(&timed_job("j1", &["t1", "t2"], 1), T0)
        .unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    s.update("t2", "j1", &upd(S::InProgress), T0 + 10).unwrap();
    s.expire_timeouts(T0 + 60).unwrap();
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::InProgress);
    let changes = s.expire_timeouts(T0 + 70).unwrap();
    assert_eq!(things(&changes), ["t2"]);
    let j = s.describe_job("j1").unwrap();
    assert_eq!(
        (j.status, j.completed_at),
        (JobStatus::Completed, Some(T0 + 70))
    );
    assert_eq!(j.process_details.number_of_timed_out_things, 2);
}
