//! Requests and their replies: GetPendingJobExecutions,
//! StartNextPendingJobExecution, DescribeJobExecution and
//! UpdateJobExecution (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>)
//! and their errors (the ErrorResponse,
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-api.html#jobs-mqtt-error-response>).
//! The devices here subscribe to reply topics only, so the notifications
//! their requests cause stay out of the way.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_pending_lists_in_progress_first_then_queued_by_queued_at() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.replies_only("t1").await;
    // Created out of queuedAt order: the queue follows queuedAt.
    fleet.at(20);
    fleet.create("late", &["t1"], &doc("late"));
    fleet.at(10);
    fleet.create("early", &["t1"], &doc("early"));
    fleet.at(30);
    fleet.create("last", &["t1"], &doc("last"));
    fleet.create("other-thing", &["t2"], &doc("other"));
    // Starting the youngest puts it first.
    fleet.at(40);
    t1.accepted("last/update", json!({ "status": "IN_PROGRESS" }))
        .await;

    fleet.at(50);
    let reply = t1
        .accepted("get", json!({ "clientToken": "tok-get" }))
        .await;
    assert_eq!(
        reply,
        json!({
            "inProgressJobs": [summary("last", T0 + 30, Some(T0 + 40), T0 + 40, 2)],
            "queuedJobs": [
                summary("early", T0 + 10, None, T0 + 10, 1),
                summary("late", T0 + 20, None, T0 + 20, 1),
            ],
            "timestamp": T0 + 50,
            "clientToken": "tok-get",
        })
    );

    // A terminal execution leaves the lists; `{}` is a valid request and
    // its reply has no clientToken.
    t1.accepted("last/update", json!({ "status": "SUCCEEDED" }))
        .await;
    let reply = t1.accepted("get", json!({})).await;
    assert_eq!(
        reply,
        json!({
            "inProgressJobs": [],
            "queuedJobs": [
                summary("early", T0 + 10, None, T0 + 10, 1),
                summary("late", T0 + 20, None, T0 + 20, 1),
            ],
            "timestamp": T0 + 50,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_next_starts_the_head_once_and_resumes_it_unchanged() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.replies_only("t1").await;
    fleet.create("j1", &["t1"], &doc("one"));
    fleet.at(10);
    fleet.create("j2", &["t1"], &doc("two"));

    fleet.at(20);
    let reply = t1
        .accepted(
            "start-next",
            json!({ "statusDetails": { "step": "download" }, "clientToken": "s1" }),
        )
        .await;
    let started = json!({
        "jobId": "j1",
        "thingName": "t1",
        "jobDocument": doc("one"),
        "status": "IN_PROGRESS",
        "statusDetails": { "step": "download" },
        "queuedAt": T0,
        "startedAt": T0 + 20,
        "lastUpdatedAt": T0 + 20,
        "versionNumber": 2,
        "executionNumber": 1,
    });
    assert_eq!(
        reply,
        json!({ "execution": started, "timestamp": T0 + 20, "clientToken": "s1" })
    );

    // Again: the same IN_PROGRESS execution, details and version untouched.
    fleet.at(30);
    let reply = t1
        .accepted(
            "start-next",
            json!({ "statusDetails": { "step": "other" }, "clientToken": "s2" }),
        )
        .await;
    assert_eq!(
        reply,
        json!({ "execution": started, "timestamp": T0 + 30, "clientToken": "s2" })
    );

    // Without statusDetails the started execution has none.
    t1.accepted("j1/update", json!({ "status": "SUCCEEDED" }))
        .await;
    let reply = t1
        .accepted("start-next", json!({ "clientToken": "s3" }))
        .await;
    assert_eq!(
        reply["execution"],
        json!({
            "jobId": "j2",
            "thingName": "t1",
            "jobDocument": doc("two"),
            "status": "IN_PROGRESS",
            "queuedAt": T0 + 10,
            "startedAt": T0 + 30,
            "lastUpdatedAt": T0 + 30,
            "versionNumber": 2,
            "executionNumber": 1,
        })
    );

    // Nothing pending: no `execution` at all.
    t1.accepted("j2/update", json!({ "status": "FAILED" }))
        .await;
    let reply = t1
        .accepted("start-next", json!({ "clientToken": "s4" }))
        .await;
    assert_eq!(reply, json!({ "timestamp": T0 + 30, "clientToken": "s4" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_returns_the_head_or_a_job_without_changing_state() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.replies_only("t1").await;
    fleet.create("j1", &["t1"], &doc("one"));
    fleet.at(10);
    fleet.create("j2", &["t1"], &doc("two"));
    fleet.at(20);

    // `$next`: the head, with its document by default.
    let head = queued_execution("t1", "j1", &doc("one"), T0);
    let reply = t1
        .accepted("$next/get", json!({ "clientToken": "d1" }))
        .await;
    assert_eq!(
        reply,
        json!({ "execution": head, "timestamp": T0 + 20, "clientToken": "d1" })
    );
    // Still QUEUED, version 1; without the document when asked so.
    let reply = t1
        .accepted("$next/get", json!({ "includeJobDocument": false }))
        .await;
    let mut bare = head.clone();
    bare.as_object_mut().unwrap().remove("jobDocument");
    assert_eq!(reply, json!({ "execution": bare, "timestamp": T0 + 20 }));

    // A given job, the latest execution or by number.
    let second = queued_execution("t1", "j2", &doc("two"), T0 + 10);
    let reply = t1.accepted("j2/get", json!({ "clientToken": "d2" })).await;
    assert_eq!(
        reply,
        json!({ "execution": second, "timestamp": T0 + 20, "clientToken": "d2" })
    );
    let reply = t1.accepted("j2/get", json!({ "executionNumber": 1 })).await;
    assert_eq!(reply["execution"], second);
    t1.rejected(
        "j2/get",
        json!({ "executionNumber": 2, "clientToken": "d3" }),
        "ResourceNotFound",
    )
    .await;
    t1.rejected(
        "unknown/get",
        json!({ "clientToken": "d4" }),
        "ResourceNotFound",
    )
    .await;

    // A terminal execution: TerminalStateReached; `$next` moves on.
    t1.accepted("j1/update", json!({ "status": "IN_PROGRESS" }))
        .await;
    t1.accepted("j1/update", json!({ "status": "SUCCEEDED" }))
        .await;
    t1.rejected(
        "j1/get",
        json!({ "clientToken": "d5" }),
        "TerminalStateReached",
    )
    .await;
    let reply = t1.accepted("$next/get", json!({})).await;
    assert_eq!(reply["execution"], second);

    // Nothing pending: accepted without `execution`.
    t1.accepted("j2/update", json!({ "status": "REJECTED" }))
        .await;
    let reply = t1
        .accepted("$next/get", json!({ "clientToken": "d6" }))
        .await;
    assert_eq!(reply, json!({ "timestamp": T0 + 20, "clientToken": "d6" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_bumps_the_version_and_returns_only_what_was_asked() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.replies_only("t1").await;
    fleet.create("j1", &["t1"], &doc("one"));
    fleet.at(5);

    let reply = t1
        .accepted(
            "j1/update",
            json!({
                "status": "IN_PROGRESS", "expectedVersion": 1,
                "statusDetails": { "step": "a" }, "clientToken": "u1",
            }),
        )
        .await;
    assert_eq!(reply, json!({ "timestamp": T0 + 5, "clientToken": "u1" }));

    let reply = t1
        .accepted(
            "j1/update",
            json!({
                "status": "IN_PROGRESS", "expectedVersion": 2,
                "statusDetails": { "step": "b", "progress": "50" },
                "includeJobExecutionState": true, "clientToken": "u2",
            }),
        )
        .await;
    let state = json!({
        "status": "IN_PROGRESS",
        "statusDetails": { "step": "b", "progress": "50" },
        "versionNumber": 3,
    });
    assert_eq!(
        reply,
        json!({ "executionState": state, "timestamp": T0 + 5, "clientToken": "u2" })
    );

    // Details omitted: the stored ones stay.
    let reply = t1
        .accepted(
            "j1/update",
            json!({
                "status": "IN_PROGRESS", "expectedVersion": 3,
                "includeJobDocument": true, "clientToken": "u3",
            }),
        )
        .await;
    assert_eq!(
        reply,
        json!({ "jobDocument": doc("one"), "timestamp": T0 + 5, "clientToken": "u3" })
    );
    let reply = t1
        .accepted(
            "j1/update",
            json!({
                "status": "IN_PROGRESS", "expectedVersion": 4,
                "includeJobExecutionState": true, "includeJobDocument": true,
            }),
        )
        .await;
    let mut state = state;
    state["versionNumber"] = 5.into();
    assert_eq!(
        reply,
        json!({ "executionState": state, "jobDocument": doc("one"), "timestamp": T0 + 5 })
    );

    // The embedded-C SDK sends expectedVersion as a string
    // (`JOBS_API_EXPECTED_VERSION` in `source/jobs.c` of
    // https://github.com/aws/Jobs-for-AWS-IoT-embedded-sdk).
    let reply = t1
        .accepted(
            "j1/update",
            json!({
                "status": "SUCCEEDED", "expectedVersion": "5",
                "includeJobExecutionState": true, "clientToken": "u5",
            }),
        )
        .await;
    assert_eq!(
        reply["executionState"],
        json!({
            "status": "SUCCEEDED",
            "statusDetails": { "step": "b", "progress": "50" },
            "versionNumber": 6,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_rejections_carry_the_state_only_when_the_state_is_the_reason() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.replies_only("t1").await;
    fleet.create("j1", &["t1"], &doc("one"));
    t1.accepted(
        "j1/update",
        json!({ "status": "IN_PROGRESS", "statusDetails": { "step": "x" } }),
    )
    .await;

    let reply = t1
        .rejected(
            "j1/update",
            json!({ "status": "IN_PROGRESS", "expectedVersion": 1, "clientToken": "vm" }),
            "VersionMismatch",
        )
        .await;
    assert_eq!(
        reply["executionState"],
        json!({ "status": "IN_PROGRESS", "statusDetails": { "step": "x" }, "versionNumber": 2 })
    );

    t1.accepted(
        "j1/update",
        json!({ "status": "SUCCEEDED", "expectedVersion": 2 }),
    )
    .await;
    let reply = t1
        .rejected(
            "j1/update",
            json!({ "status": "IN_PROGRESS", "clientToken": "late" }),
            "InvalidStateTransition",
        )
        .await;
    assert_eq!(
        reply["executionState"],
        json!({ "status": "SUCCEEDED", "statusDetails": { "step": "x" }, "versionNumber": 3 })
    );

    t1.rejected(
        "unknown/update",
        json!({ "status": "IN_PROGRESS", "clientToken": "nf" }),
        "ResourceNotFound",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_updates_are_invalid_request_and_change_nothing() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.replies_only("t1").await;
    fleet.create("j1", &["t1"], &doc("one"));
    t1.accepted(
        "j1/update",
        json!({ "status": "IN_PROGRESS", "statusDetails": { "step": "x" } }),
    )
    .await;

    let too_long = "v".repeat(1025);
    let invalid = [
        json!({ "clientToken": "no-status" }),
        json!({ "status": "QUEUED", "clientToken": "queued" }),
        json!({ "status": "CANCELED", "clientToken": "canceled" }),
        json!({ "status": "IN_PROGRESS", "statusDetails": { "bad key": "v" } }),
        json!({ "status": "IN_PROGRESS", "statusDetails": { "log": "line1\nline2" } }),
        json!({ "status": "IN_PROGRESS", "statusDetails": { "log": too_long } }),
    ];
    for request in invalid {
        t1.rejected("j1/update", request, "InvalidRequest").await;
    }

    // Nothing changed; 1024 characters are within the limit.
    let reply = t1
        .accepted(
            "j1/update",
            json!({
                "status": "IN_PROGRESS", "expectedVersion": 2,
                "statusDetails": { "log": "v".repeat(1024) },
                "includeJobExecutionState": true,
            }),
        )
        .await;
    assert_eq!(
        reply["executionState"],
        json!({ "status": "IN_PROGRESS", "statusDetails": { "log": "v".repeat(1024) }, "versionNumber": 3 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_and_unknown_topics_are_rejected_without_loops() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.replies_only("t1").await;
    // Also whatever a looping service would publish in reply to its own
    // replies (`…/rejected/rejected`).
    for filter in ["get/+/+", "bogus/+", "bogus/+/+"] {
        t1.subscribe(filter).await;
    }

    t1.send_raw("get", "not json {").await;
    let reply = t1.expect("get/rejected").await;
    assert_rejection(&reply, "InvalidJson");
    assert_eq!(reply.get("clientToken"), None);

    t1.send("bogus", json!({ "clientToken": "bt" })).await;
    let reply = t1.expect("bogus/rejected").await;
    assert_rejection(&reply, "InvalidTopic");
    assert_eq!(reply["clientToken"], "bt");

    // The very next message answers the next request.
    t1.probe("after").await;
}

/// Requests sent back to back, each depending on the one before (claim
/// with `expectedVersion` 1, then finish with 2), reach the service while
/// it is busy with the earlier ones, so it answers them in batches made
/// durable by one commit (`store::commit`). Each must see what the
/// requests before it in its batch wrote, and the replies must come one per
/// request, in the order the requests were sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_sent_back_to_back_are_answered_in_order_each_seeing_the_last() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.replies_only("t1").await;
    const JOBS: usize = 20;
    for i in 0..JOBS {
        fleet.create(&format!("j{i}"), &["t1"], &doc("burst"));
    }
    let mut sent = Vec::new();
    for i in 0..JOBS {
        for (status, version) in [("IN_PROGRESS", 1), ("SUCCEEDED", 2)] {
            let token = format!("{i}-{status}");
            t1.send(
                &format!("j{i}/update"),
                json!({ "status": status, "expectedVersion": version, "clientToken": token }),
            )
            .await;
            sent.push((format!("j{i}/update/accepted"), token));
        }
    }
    let mut answered = Vec::new();
    for _ in 0..sent.len() {
        let (topic, body) = t1.recv().await;
        answered.push((topic, body["clientToken"].as_str().unwrap_or("").to_owned()));
    }
    assert_eq!(answered, sent);
    for i in 0..JOBS {
        let e = crate::support::service::execution(&fleet.server, "t1", &format!("j{i}"));
        assert_eq!(
            (e.status, e.version_number),
            (jobhost_protocol::JobExecutionStatus::Succeeded, 3)
        );
    }
    t1.probe("nothing-else").await;
}
