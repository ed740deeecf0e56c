//! Execution listing and description, CancelJob, CancelJobExecution and
//! DeleteJob, with the changes each hands to the notifier.

use super::*;

#[tokio::test]
async fn executions_are_listed_and_described_in_the_control_plane_shape() {
    let s = Server::start(None).await;
    s.create("job-1", &["dev-a", "dev-b"]).await;
    s.clock.store(T0 + 5, Ordering::SeqCst);
    s.device_update(
        "dev-a",
        "job-1",
        JobExecutionStatus::InProgress,
        &[("step", "download"), ("pct", "40")],
    );

    let (status, _, list) = s.call(s.req(Method::GET, "/jobs/job-1/things")).await;
    assert_eq!(status, StatusCode::OK);
    let entries = list["executionSummaries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0]["thingArn"],
        "arn:aws:iot:local:000000000000:thing/dev-a"
    );
    let sum = &entries[0]["jobExecutionSummary"];
    assert_eq!(sum["status"], "IN_PROGRESS");
    assert_eq!(sum["queuedAt"], T0);
    assert_eq!(sum["startedAt"], T0 + 5);
    assert_eq!(sum["lastUpdatedAt"], T0 + 5);
    assert_eq!(sum["executionNumber"], 1);
    assert!(entries[1]["jobExecutionSummary"].get("startedAt").is_none());
    let (_, _, list) = s
        .call(s.req(Method::GET, "/jobs/job-1/things?status=QUEUED"))
        .await;
    assert_eq!(list["executionSummaries"].as_array().unwrap().len(), 1);

    let (status, _, list) = s.call(s.req(Method::GET, "/things/dev-a/jobs")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["executionSummaries"][0]["jobId"], "job-1");
    assert_eq!(
        list["executionSummaries"][0]["jobExecutionSummary"]["status"],
        "IN_PROGRESS"
    );
    let (_, _, list) = s.call(s.req(Method::GET, "/things/nobody/jobs")).await;
    assert_eq!(list["executionSummaries"], json!([]));

    let (status, _, got) = s.call(s.req(Method::GET, "/things/dev-a/jobs/job-1")).await;
    assert_eq!(status, StatusCode::OK);
    let e = &got["execution"];
    assert_eq!(e["jobId"], "job-1");
    assert_eq!(e["status"], "IN_PROGRESS");
    assert_eq!(e["thingArn"], "arn:aws:iot:local:000000000000:thing/dev-a");
    assert_eq!(
        e["statusDetails"],
        json!({"detailsMap": {"step": "download", "pct": "40"}})
    );
    assert_eq!(e["versionNumber"], 2);
    assert_eq!(e["executionNumber"], 1);
    assert_eq!(e["forceCanceled"], false);
    let (status, _, _) = s
        .call(s.req(Method::GET, "/things/dev-a/jobs/job-1?executionNumber=1"))
        .await;
    assert_eq!(status, StatusCode::OK);

    use StatusCode as S;
    assert_error(
        s.call(s.req(Method::GET, "/things/dev-a/jobs/job-1?executionNumber=2"))
            .await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
    assert_error(
        s.call(s.req(Method::GET, "/things/dev-a/jobs/job-1?executionNumber=x"))
            .await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(s.req(Method::GET, "/things/dev-z/jobs/job-1")).await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
    assert_error(
        s.call(s.req(Method::GET, "/jobs/missing/things")).await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
}

#[tokio::test]
async fn cancels_and_deletes_notify_the_affected_things() {
    let mut s = Server::start(None).await;
    use StatusCode as S;
    s.create("job-1", &["a", "b", "c"]).await;
    assert_eq!(s.changed(), ["a", "b", "c"]);
    s.device_update("b", "job-1", JobExecutionStatus::InProgress, &[]);

    // CancelJobExecution: QUEUED goes; IN_PROGRESS needs force; versions are checked.
    let (status, _, body) = s
        .call(s.req(Method::PUT, "/things/a/jobs/job-1/cancel"))
        .await;
    assert_eq!((status, body), (S::OK, Value::Null));
    assert_eq!(s.changed(), ["a"]);
    // AWS's names for CancelJobExecution's conflicts: a terminal or an
    // un-forced IN_PROGRESS execution, and a stale expectedVersion.
    assert_error(
        s.call(s.req(Method::PUT, "/things/a/jobs/job-1/cancel"))
            .await,
        S::CONFLICT,
        "InvalidStateTransitionException",
    );
    assert_error(
        s.call(s.req(Method::PUT, "/things/b/jobs/job-1/cancel"))
            .await,
        S::CONFLICT,
        "InvalidStateTransitionException",
    );
    assert_error(
        s.call(
            s.req(Method::PUT, "/things/b/jobs/job-1/cancel?force=true")
                .json(&json!({"expectedVersion": 1})),
        )
        .await,
        S::CONFLICT,
        "VersionConflictException",
    );
    assert_error(
        s.call(
            s.req(Method::PUT, "/things/b/jobs/job-1/cancel")
                .json(&json!({"statusDetails": {"k": "v"}})),
        )
        .await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(s.req(Method::PUT, "/things/zz/jobs/job-1/cancel"))
            .await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
    s.no_changes();

    // DeleteJob refuses while b is IN_PROGRESS.
    assert_error(
        s.call(s.req(Method::DELETE, "/jobs/job-1")).await,
        S::CONFLICT,
        "InvalidStateTransitionException",
    );
    s.no_changes();

    // CancelJob without force leaves b running; with force ends it.
    let (status, _, body) = s
        .call(
            s.req(Method::PUT, "/jobs/job-1/cancel")
                .json(&json!({"comment": "bad build"})),
        )
        .await;
    assert_eq!(status, S::OK);
    assert_eq!(body["jobId"], "job-1");
    assert_eq!(s.changed(), ["c"]);
    let (_, _, got) = s.call(s.req(Method::GET, "/jobs/job-1")).await;
    assert_eq!(got["job"]["status"], "CANCELED");
    assert_eq!(got["job"]["comment"], "bad build");
    let (status, _, _) = s
        .call(s.req(Method::PUT, "/jobs/job-1/cancel?force=true"))
        .await;
    assert_eq!(status, S::OK);
    assert_eq!(s.changed(), ["b"]);
    let (_, _, got) = s.call(s.req(Method::GET, "/things/b/jobs/job-1")).await;
    assert_eq!(got["execution"]["status"], "CANCELED");
    assert_eq!(got["execution"]["forceCanceled"], true);

    // A completed job cannot be cancelled: AWS's CancelJob models no 409,
    // so this is an invalid request.
    s.create("job-2", &["d"]).await;
    s.changed();
    s.device_update("d", "job-2", JobExecutionStatus::InProgress, &[]);
    s.device_update("d", "job-2", JobExecutionStatus::Succeeded, &[]);
    assert_error(
        s.call(s.req(Method::PUT, "/jobs/job-2/cancel")).await,
        S::BAD_REQUEST,
        "InvalidRequestException",
    );

    // Force-delete of a job with a running execution notifies its thing.
    s.create("job-3", &["e", "f"]).await;
    s.changed();
    s.device_update("e", "job-3", JobExecutionStatus::InProgress, &[]);
    let (status, _, body) = s
        .call(s.req(Method::DELETE, "/jobs/job-3?force=true"))
        .await;
    assert_eq!((status, body), (S::OK, Value::Null));
    assert_eq!(s.changed(), ["e", "f"]);
    assert_error(
        s.call(s.req(Method::GET, "/jobs/job-3")).await,
        S::NOT_FOUND,
        "ResourceNotFoundException",
    );
    // Deleting a job with nothing pending changes no list.
    let (status, _, _) = s.call(s.req(Method::DELETE, "/jobs/job-2")).await;
    assert_eq!(status, S::OK);
    s.no_changes();
}
