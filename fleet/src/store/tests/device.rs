//! Device plane: GetPending, StartNext, Describe, Update, and the reads
//! behind notify / notify-next.

use super::*;
use jobhost_protocol::requests::{DescribeRequest, StartNextRequest};
use jobhost_protocol::ErrorCode;
use JobExecutionStatus as S;

fn start_req(pairs: &[(&str, &str)], step: Option<i64>) -> StartNextRequest {
    StartNextRequest {
        status_details: Some(details(pairs)),
        step_timeout_in_minutes: step,
        client_token: None,
    }
}

fn ids(list: &[jobhost_protocol::JobExecutionSummary]) -> Vec<&str> {
    list.iter().map(|s| s.job_id.as_str()).collect()
}

#[test]
fn get_pending_lists_in_progress_then_queued_in_queue_order() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.create_job(&job("j2", &["t1"]), T0 + 1).unwrap();
    s.create_job(&job("j3", &["t1"]), T0 + 1).unwrap();
    s.create_job(&job("j4", &["t1", "t2"]), T0 + 2).unwrap();
    s.update("t1", "j3", &upd(S::InProgress), T0 + 3).unwrap();
    s.update("t1", "j2", &upd(S::InProgress), T0 + 4).unwrap();
    s.update("t1", "j1", &upd(S::Succeeded), T0 + 5).unwrap();
    let (in_progress, queued) = s.get_pending("t1").unwrap();
    assert_eq!(ids(&in_progress), ["j3", "j2"], "oldest started first");
    assert_eq!(ids(&queued), ["j4"]);
    assert_eq!(in_progress[0].started_at, Some(T0 + 3));
    let (in_progress, queued) = s.get_pending("nobody").unwrap();
    assert!(in_progress.is_empty() && queued.is_empty());
}

#[test]
fn start_next_starts_the_queued_head_with_the_request_details() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.create_job(&job("j2", &["t1"]), T0).unwrap();
    let (e, changes) = s
        .start_next("t1", &start_req(&[("step", "download")], None), T0 + 10)
        .unwrap();
    let e = e.expect("an execution");
    assert_eq!(e.job_id, "j1", "same second: creation order");
    assert_eq!(e.thing_name, "t1");
    assert_eq!(e.status, S::InProgress);
    assert_eq!(
        (e.started_at, e.last_updated_at, e.version_number),
        (Some(T0 + 10), T0 + 10, 2)
    );
    assert_eq!(e.status_details.unwrap().get("step"), Some("download"));
    assert_eq!(e.job_document.unwrap()["job"], "j1");
    assert_eq!(things(&changes), ["t1"]);
    assert_eq!(exec(&s, "j2", "t1").execution.status, S::Queued);
}

#[test]
fn start_next_resumes_an_in_progress_head_without_touching_its_details() {
    let mut s = store();
    s.create_job(&timed_job("j1", &["t1"], 60), T0).unwrap();
    s.start_next("t1", &start_req(&[("step", "rebooting")], Some(5)), T0)
        .unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 300));
    let (e, changes) = s
        .start_next("t1", &start_req(&[("step", "fresh")], Some(10)), T0 + 60)
        .unwrap();
    let e = e.unwrap();
    assert_eq!(e.status_details.unwrap().get("step"), Some("rebooting"));
    assert_eq!((e.version_number, e.started_at), (2, Some(T0)));
    assert!(changes.is_empty());
    // The step timer was replaced: now + 10 min.
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 60 + 600));
    // Without a step timeout the timer stays.
    s.start_next("t1", &StartNextRequest::default(), T0 + 120)
        .unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(T0 + 660));
}

#[test]
fn start_next_with_nothing_pending_returns_none() {
    let mut s = store();
    assert_eq!(
        s.start_next("t1", &StartNextRequest::default(), T0)
            .unwrap(),
        (None, Changes::none())
    );
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::Succeeded), T0).unwrap();
    let (e, changes) = s
        .start_next("t1", &StartNextRequest::default(), T0)
        .unwrap();
    assert!(e.is_none() && changes.is_empty());
}

#[test]
fn start_next_rejects_invalid_details_and_step_timeouts() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let r = s
        .start_next("t1", &start_req(&[("bad key", "v")], None), T0)
        .unwrap_err();
    assert_eq!(r.code, ErrorCode::InvalidRequest);
    assert!(r.message.contains("bad key"), "{}", r.message);
    for step in [0, -2, 10_081] {
        let r = s
            .start_next("t1", &start_req(&[], Some(step)), T0)
            .unwrap_err();
        assert_eq!(r.code, ErrorCode::InvalidRequest, "{step}");
    }
    assert_eq!(
        exec(&s, "j1", "t1").execution.status,
        S::Queued,
        "nothing started"
    );
}

#[test]
fn describe_next_is_the_head_or_nothing() {
    let mut s = store();
    let all = DescribeRequest::default();
    assert_eq!(s.describe("t1", "$next", &all).unwrap(), None);
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.create_job(&job("j2", &["t1"]), T0 + 1).unwrap();
    s.update("t1", "j2", &upd(S::InProgress), T0 + 2).unwrap();
    let head = s.describe("t1", "$next", &all).unwrap().unwrap();
    assert_eq!(head.job_id, "j2", "IN_PROGRESS before QUEUED");
    assert_eq!(
        head.job_document.unwrap()["job"],
        "j2",
        "document by default"
    );
    assert_eq!(s.head("t1").unwrap().unwrap().job_id, "j2");
    // Describing changes nothing.
    assert_eq!(exec(&s, "j1", "t1").execution.version_number, 1);
}

#[test]
fn describe_by_job_id_and_execution_number() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    let e = s
        .describe("t1", "j1", &DescribeRequest::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.job_id.as_str(), e.status, e.execution_number),
        ("j1", S::Queued, 1)
    );
    let numbered = DescribeRequest {
        execution_number: Some(1),
        ..Default::default()
    };
    assert!(s.describe("t1", "j1", &numbered).unwrap().is_some());
    for (thing, job_id, number) in [
        ("t1", "j9", None),
        ("t3", "j1", None),
        ("t1", "j1", Some(2)),
    ] {
        let req = DescribeRequest {
            execution_number: number,
            ..Default::default()
        };
        let r = s.describe(thing, job_id, &req).unwrap_err();
        assert_eq!(
            r.code,
            ErrorCode::ResourceNotFound,
            "{thing} {job_id} {number:?}"
        );
        assert_eq!(r.execution_state, None);
    }
}

#[test]
fn describe_of_a_terminal_execution_is_terminal_state_reached() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::Succeeded), T0).unwrap();
    let r = s
        .describe("t1", "j1", &DescribeRequest::default())
        .unwrap_err();
    assert_eq!(r.code, ErrorCode::TerminalStateReached);
}

#[test]
fn describe_omits_the_document_only_when_asked() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let without = DescribeRequest {
        include_job_document: Some(false),
        ..Default::default()
    };
    let with = DescribeRequest {
        include_job_document: Some(true),
        ..Default::default()
    };
    for id in ["j1", "$next"] {
        assert_eq!(
            s.describe("t1", id, &without)
                .unwrap()
                .unwrap()
                .job_document,
            None
        );
        assert!(s
            .describe("t1", id, &with)
            .unwrap()
            .unwrap()
            .job_document
            .is_some());
    }
}

#[test]
fn update_of_an_unknown_execution_is_resource_not_found() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let wrong_number = UpdateRequest {
        execution_number: Some(2),
        ..upd(S::InProgress)
    };
    for (thing, job_id, req) in [
        ("t1", "j9", upd(S::InProgress)),
        ("t2", "j1", upd(S::InProgress)),
        ("t1", "j1", wrong_number),
    ] {
        let r = s.update(thing, job_id, &req, T0).unwrap_err();
        assert_eq!(r.code, ErrorCode::ResourceNotFound, "{thing} {job_id}");
    }
    let right_number = UpdateRequest {
        execution_number: Some(1),
        ..upd(S::InProgress)
    };
    assert!(s.update("t1", "j1", &right_number, T0).is_ok());
}

#[test]
fn update_to_a_status_a_device_cannot_set_is_invalid_request() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    for status in [S::Queued, S::TimedOut, S::Canceled, S::Removed] {
        let r = s.update("t1", "j1", &upd(status), T0).unwrap_err();
        assert_eq!(r.code, ErrorCode::InvalidRequest, "{status}");
    }
    assert_eq!(exec(&s, "j1", "t1").execution.version_number, 1);
}

#[test]
fn update_with_invalid_details_names_the_key() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    for (k, v) in [("ok", "line\nbreak"), ("sp ace", "v"), ("empty", "")] {
        let req = UpdateRequest {
            status_details: Some(details(&[(k, v)])),
            ..upd(S::InProgress)
        };
        let r = s.update("t1", "j1", &req, T0).unwrap_err();
        assert_eq!(r.code, ErrorCode::InvalidRequest);
        assert!(r.message.contains(&format!("{k:?}")), "{}", r.message);
    }
    let long = "v".repeat(1025);
    let req = UpdateRequest {
        status_details: Some(details(&[("k", &long)])),
        ..upd(S::InProgress)
    };
    assert_eq!(
        s.update("t1", "j1", &req, T0).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn update_checks_the_step_timeout_range() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    for step in [0, -2, 10_081] {
        let req = UpdateRequest {
            step_timeout_in_minutes: Some(step),
            ..upd(S::InProgress)
        };
        assert_eq!(
            s.update("t1", "j1", &req, T0).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }
    for step in [1, 10_080, -1] {
        let req = UpdateRequest {
            step_timeout_in_minutes: Some(step),
            ..upd(S::InProgress)
        };
        assert!(s.update("t1", "j1", &req, T0).is_ok(), "{step}");
    }
}

#[test]
fn update_with_a_stale_expected_version_is_version_mismatch_with_state() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let req = UpdateRequest {
        status_details: Some(details(&[("p", "1")])),
        expected_version: Some(1),
        ..upd(S::InProgress)
    };
    s.update("t1", "j1", &req, T0).unwrap();
    let r = s.update("t1", "j1", &req, T0 + 1).unwrap_err();
    assert_eq!(r.code, ErrorCode::VersionMismatch);
    let state = r
        .execution_state
        .expect("VersionMismatch carries the state");
    assert_eq!((state.status, state.version_number), (S::InProgress, 2));
    assert_eq!(state.status_details.unwrap().get("p"), Some("1"));
    let fresh = UpdateRequest {
        expected_version: Some(2),
        ..req
    };
    assert!(s.update("t1", "j1", &fresh, T0 + 1).is_ok());
}

#[test]
fn update_after_a_terminal_status_is_invalid_state_transition_with_state() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::Succeeded), T0).unwrap();
    for status in [S::InProgress, S::Succeeded, S::Failed] {
        let r = s.update("t1", "j1", &upd(status), T0).unwrap_err();
        assert_eq!(r.code, ErrorCode::InvalidStateTransition);
        let state = r.execution_state.expect("carries the state");
        assert_eq!((state.status, state.version_number), (S::Succeeded, 2));
    }
}

#[test]
fn update_accepts_every_device_transition() {
    let mut s = store();
    let targets = [
        "q-ip", "q-ok", "q-fail", "q-rej", "ip-ip", "ip-ok", "ip-fail", "ip-rej",
    ];
    s.create_job(&job("j1", &targets), T0).unwrap();
    for (thing, to) in [
        ("q-ip", S::InProgress),
        ("q-ok", S::Succeeded),
        ("q-fail", S::Failed),
        ("q-rej", S::Rejected),
    ] {
        let (res, _) = s.update(thing, "j1", &upd(to), T0).unwrap();
        assert_eq!(res.execution_state.status, to, "{thing}");
    }
    for (thing, to) in [
        ("ip-ip", S::InProgress),
        ("ip-ok", S::Succeeded),
        ("ip-fail", S::Failed),
        ("ip-rej", S::Rejected),
    ] {
        s.update(thing, "j1", &upd(S::InProgress), T0).unwrap();
        let (res, _) = s.update(thing, "j1", &upd(to), T0 + 1).unwrap();
        assert_eq!(res.execution_state.status, to, "{thing}");
        assert_eq!(res.job_document["job"], "j1");
    }
    let started = exec(&s, "j1", "ip-ok").execution;
    assert_eq!(started.started_at, Some(T0), "startedAt is the first start");
    assert_eq!(exec(&s, "j1", "q-ok").execution.started_at, None);
}

#[test]
fn update_details_replace_the_map_or_keep_it() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let first = UpdateRequest {
        status_details: Some(details(&[("a", "1"), ("b", "2")])),
        ..upd(S::InProgress)
    };
    s.update("t1", "j1", &first, T0).unwrap();
    let (res, _) = s.update("t1", "j1", &upd(S::InProgress), T0 + 1).unwrap();
    let kept = res.execution_state.status_details.unwrap();
    assert_eq!((kept.get("a"), kept.get("b")), (Some("1"), Some("2")));
    let second = UpdateRequest {
        status_details: Some(details(&[("c", "3")])),
        ..upd(S::Succeeded)
    };
    let (res, _) = s.update("t1", "j1", &second, T0 + 2).unwrap();
    let replaced = res.execution_state.status_details.unwrap();
    assert_eq!(
        (replaced.get("a"), replaced.get("c"), replaced.len()),
        (None, Some("3"), 1)
    );
}

#[test]
fn version_grows_by_one_per_change() {
    let mut s = store();
    s.create_job(&timed_job("j1", &["t1", "t2", "t3"], 1), T0)
        .unwrap();
    let v = |s: &Store, t: &str| exec(s, "j1", t).execution.version_number;
    s.start_next("t1", &StartNextRequest::default(), T0)
        .unwrap();
    assert_eq!(v(&s, "t1"), 2);
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    assert_eq!(v(&s, "t1"), 4, "every device update counts");
    s.update("t1", "j1", &upd(S::Succeeded), T0).unwrap();
    assert_eq!(v(&s, "t1"), 5);
    s.update("t2", "j1", &upd(S::InProgress), T0).unwrap();
    s.expire_timeouts(T0 + 60).unwrap();
    assert_eq!(
        (exec(&s, "j1", "t2").execution.status, v(&s, "t2")),
        (S::TimedOut, 3)
    );
    s.cancel_execution("j1", "t3", false, None, T0 + 61)
        .unwrap();
    assert_eq!(v(&s, "t3"), 2);
}

#[test]
fn the_job_completes_when_every_execution_has_ended() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::Succeeded), T0 + 1).unwrap();
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::InProgress);
    s.update("t2", "j1", &upd(S::Rejected), T0 + 2).unwrap();
    let j = s.describe_job("j1").unwrap();
    assert_eq!(
        (j.status, j.completed_at, j.last_updated_at),
        (JobStatus::Completed, Some(T0 + 2), T0 + 2)
    );
}

#[test]
fn changes_name_the_things_whose_pending_list_changed() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    let (_, c) = s.update("t1", "j1", &upd(S::InProgress), T0).unwrap();
    assert_eq!(things(&c), ["t1"], "QUEUED → IN_PROGRESS");
    let progress = UpdateRequest {
        status_details: Some(details(&[("p", "50")])),
        ..upd(S::InProgress)
    };
    let (_, c) = s.update("t1", "j1", &progress, T0).unwrap();
    assert!(c.is_empty(), "a progress update changes no list");
    let (_, c) = s.update("t1", "j1", &upd(S::Succeeded), T0).unwrap();
    assert_eq!(things(&c), ["t1"], "leaves the list");
}

#[test]
fn head_and_pending_list_follow_the_queue_order_and_cap_at_ten() {
    let mut s = store();
    for i in 0..12 {
        s.create_job(&job(&format!("j{i:02}"), &["t1"]), T0 + i)
            .unwrap();
    }
    s.update("t1", "j05", &upd(S::InProgress), T0 + 20).unwrap();
    let list = s.pending_list("t1").unwrap();
    assert_eq!(list.len(), 10);
    assert_eq!(
        (list[0].0, list[0].1.job_id.as_str()),
        (S::InProgress, "j05")
    );
    assert_eq!((list[1].0, list[1].1.job_id.as_str()), (S::Queued, "j00"));
    assert!(list[1..]
        .windows(2)
        .all(|w| w[0].1.queued_at <= w[1].1.queued_at));
    let head = s.head("t1").unwrap().unwrap();
    assert_eq!(head.job_id, list[0].1.job_id);
    assert_eq!(head.job_document.unwrap()["job"], "j05");
    assert_eq!(s.head("t9").unwrap(), None);
    assert!(s.pending_list("t9").unwrap().is_empty());
}
