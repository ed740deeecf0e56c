//! UpdateJob, `presignedUrlConfig`, CancelJob's `reasonCode`, and
//! DeleteJobExecution.

use super::*;
use jobhost_protocol::requests::StartNextRequest;
use std::time::Duration;
use JobExecutionStatus as S;

fn presigned(expires: Option<i64>, role: Option<&str>) -> PresignedUrlConfig {
    PresignedUrlConfig {
        role_arn: role.map(str::to_owned),
        expires_in_sec: expires,
    }
}

#[test]
fn presigned_url_config_is_checked_stored_and_returned() {
    let mut s = store();
    let role = "arn:aws:iam::123456789012:role/presign";
    let req = CreateJob {
        presigned_url_config: Some(presigned(Some(120), Some(role))),
        ..job("j1", &["t1"])
    };
    let j = s.create_job(&req, T0).unwrap();
    assert_eq!(
        j.presigned_url_config,
        Some(presigned(Some(120), Some(role)))
    );
    let v = serde_json::to_value(&j).unwrap();
    assert_eq!(
        v["presignedUrlConfig"],
        json!({"roleArn": role, "expiresInSec": 120})
    );
    assert_eq!(
        s.presigned_url_ttl("j1").unwrap(),
        Some(Duration::from_secs(120))
    );
    s.create_job(&job("j2", &["t1"]), T0).unwrap();
    assert_eq!(s.presigned_url_ttl("j2").unwrap(), None);
    assert_eq!(s.presigned_url_ttl("gone").unwrap(), None);

    for (bad, what) in [
        (presigned(Some(59), None), "expiresInSec 59"),
        (presigned(Some(3601), None), "expiresInSec 3601"),
        (presigned(None, Some("arn:short")), "roleArn"),
    ] {
        let req = CreateJob {
            presigned_url_config: Some(bad),
            ..job("j3", &["t1"])
        };
        let err = s.create_job(&req, T0).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidRequest(m) if m.contains(what)),
            "{err}"
        );
    }
    for edge in [60, 3600] {
        let req = CreateJob {
            presigned_url_config: Some(presigned(Some(edge), None)),
            ..job(&format!("e{edge}"), &["t1"])
        };
        assert!(s.create_job(&req, T0).is_ok(), "{edge}");
    }
}

#[test]
fn update_job_replaces_the_fields_given_and_keeps_the_others() {
    let mut s = store();
    let req = CreateJob {
        description: Some("first".into()),
        presigned_url_config: Some(presigned(Some(300), None)),
        ..timed_job("j1", &["t1"], 30)
    };
    s.create_job(&req, T0).unwrap();
    let j = s
        .update_job(
            "j1",
            &UpdateJob {
                description: Some("second".into()),
                ..UpdateJob::default()
            },
            T0 + 5,
        )
        .unwrap();
    assert_eq!(j.description.as_deref(), Some("second"));
    assert_eq!(j.presigned_url_config, Some(presigned(Some(300), None)));
    assert_eq!(j.in_progress_timeout_minutes, Some(30));
    assert_eq!(j.last_updated_at, T0 + 5);

    let j = s
        .update_job(
            "j1",
            &UpdateJob {
                presigned_url_config: Some(presigned(Some(90), None)),
                in_progress_timeout_minutes: Some(Some(5)),
                ..UpdateJob::default()
            },
            T0 + 6,
        )
        .unwrap();
    assert_eq!(j.description.as_deref(), Some("second"));
    assert_eq!(j.presigned_url_config, Some(presigned(Some(90), None)));
    assert_eq!(
        s.presigned_url_ttl("j1").unwrap(),
        Some(Duration::from_secs(90))
    );
    assert_eq!(j.in_progress_timeout_minutes, Some(5));
    // An empty timeoutConfig removes the timeout.
    let j = s
        .update_job(
            "j1",
            &UpdateJob {
                in_progress_timeout_minutes: Some(None),
                ..UpdateJob::default()
            },
            T0 + 7,
        )
        .unwrap();
    assert_eq!(j.in_progress_timeout_minutes, None);

    for bad in [
        UpdateJob {
            description: Some("x".repeat(2029)),
            ..UpdateJob::default()
        },
        UpdateJob {
            in_progress_timeout_minutes: Some(Some(0)),
            ..UpdateJob::default()
        },
        UpdateJob {
            presigned_url_config: Some(presigned(Some(10), None)),
            ..UpdateJob::default()
        },
    ] {
        let err = s.update_job("j1", &bad, T0).unwrap_err();
        assert!(matches!(err, StoreError::InvalidRequest(_)), "{err}");
    }
    assert!(matches!(
        s.update_job("nope", &UpdateJob::default(), T0),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn a_new_timeout_applies_to_executions_that_start_later() {
    let mut s = store();
    s.create_job(&timed_job("j1", &["t1", "t2"], 60), T0)
        .unwrap();
    s.start_next("t1", &StartNextRequest::default(), T0)
        .unwrap();
    let change = UpdateJob {
        in_progress_timeout_minutes: Some(Some(5)),
        ..UpdateJob::default()
    };
    s.update_job("j1", &change, T0 + 1).unwrap();
    s.start_next("t2", &StartNextRequest::default(), T0 + 2)
        .unwrap();
    assert_eq!(exec(&s, "j1", "t1").timeout_at, Some(T0 + 3600));
    assert_eq!(exec(&s, "j1", "t2").timeout_at, Some(T0 + 2 + 300));
}

#[test]
fn cancel_job_stores_the_reason_code() {
    let mut s = store();
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    for bad in ["", "lower", "HAS SPACE", "DASH-ED", &"A".repeat(129)] {
        let err = s.cancel_job("j1", false, Some(bad), None, T0).unwrap_err();
        assert!(matches!(err, StoreError::InvalidRequest(_)), "{bad:?}");
    }
    assert_eq!(s.describe_job("j1").unwrap().status, JobStatus::InProgress);
    let code = format!("BAD_BUILD_4{}", "2".repeat(117));
    s.cancel_job("j1", false, Some(&code), Some("regressed"), T0)
        .unwrap();
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.reason_code.as_deref(), Some(code.as_str()));
    assert_eq!(j.comment.as_deref(), Some("regressed"));
    assert_eq!(serde_json::to_value(&j).unwrap()["reasonCode"], code);
}

#[test]
fn descriptions_and_comments_refuse_control_characters() {
    let mut s = store();
    let req = CreateJob {
        description: Some("two\nlines".into()),
        ..job("j1", &["t1"])
    };
    assert!(matches!(
        s.create_job(&req, T0),
        Err(StoreError::InvalidRequest(_))
    ));
    s.create_job(&job("j1", &["t1"]), T0).unwrap();
    assert!(matches!(
        s.cancel_job("j1", false, None, Some("tab\there"), T0),
        Err(StoreError::InvalidRequest(_))
    ));
}

#[test]
fn delete_execution_follows_aws_rules() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2", "t3"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::Succeeded), T0).unwrap();
    s.update("t2", "j1", &upd(S::InProgress), T0).unwrap();
    // QUEUED: never, force or not.
    for force in [false, true] {
        let err = s.delete_execution("j1", "t3", 1, force, T0).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidStateTransition(_)),
            "{err}"
        );
    }
    // IN_PROGRESS: only with force.
    let err = s.delete_execution("j1", "t2", 1, false, T0).unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidStateTransition(_)),
        "{err}"
    );
    // Terminal: yes, and no pending list changes.
    assert!(s
        .delete_execution("j1", "t1", 1, false, T0)
        .unwrap()
        .is_empty());
    assert!(matches!(
        s.describe_execution("j1", "t1", None),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.delete_execution("j1", "t1", 1, false, T0),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.delete_execution("j1", "t2", 2, true, T0),
        Err(StoreError::NotFound(_))
    ));
    // Forced IN_PROGRESS: the device's pending list changes.
    let changes = s.delete_execution("j1", "t2", 1, true, T0 + 1).unwrap();
    assert_eq!(things(&changes), ["t2"]);
    assert_eq!(s.head("t2").unwrap(), None);
    let r = s.update("t2", "j1", &upd(S::Succeeded), T0).unwrap_err();
    assert_eq!(r.code, jobhost_protocol::ErrorCode::ResourceNotFound);
    // The job completes when its last pending execution ends.
    s.update("t3", "j1", &upd(S::Succeeded), T0 + 2).unwrap();
    let j = s.describe_job("j1").unwrap();
    assert_eq!(j.status, JobStatus::Completed);
    assert_eq!(j.process_details.number_of_succeeded_things, 1);
    assert_eq!(j.process_details.number_of_in_progress_things, 0);
}

#[test]
fn deleting_the_last_pending_execution_completes_the_job() {
    let mut s = store();
    s.create_job(&job("j1", &["t1", "t2"]), T0).unwrap();
    s.update("t1", "j1", &upd(S::Failed), T0).unwrap();
    s.update("t2", "j1", &upd(S::InProgress), T0).unwrap();
    s.delete_execution("j1", "t2", 1, true, T0 + 9).unwrap();
    let j = s.describe_job("j1").unwrap();
    assert_eq!(
        (j.status, j.completed_at),
        (JobStatus::Completed, Some(T0 + 9))
    );
}
