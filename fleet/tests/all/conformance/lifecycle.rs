//! Timers and cancellation
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html>),
//! isolation between things through the service, persistence across a
//! restart, and the core flow over mosquitto.

use super::*;
use crate::support::mosquitto::{Mosquitto, MosquittoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_progress_timeout_times_the_execution_out() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;
    fleet.create_job(CreateJob {
        job_id: "j1".into(),
        targets: vec!["t1".into()],
        document: doc("slow").into(),
        in_progress_timeout_minutes: Some(1),
        ..CreateJob::default()
    });
    t1.expect_all(&["notify", "notify-next"]).await;
    t1.accepted_notifying("start-next", json!({}), &["notify"])
        .await;

    // Not yet: still IN_PROGRESS.
    fleet.at(59);
    fleet.server.sweep_timeouts().unwrap();
    let reply = t1.accepted("$next/get", json!({})).await;
    assert_eq!(reply["execution"]["status"], "IN_PROGRESS");

    fleet.at(61);
    fleet.server.sweep_timeouts().unwrap();
    let [notify, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(notify, json!({ "timestamp": T0 + 61, "jobs": {} }));
    assert_eq!(next, json!({ "timestamp": T0 + 61 }));
    let reply = t1
        .rejected(
            "j1/update",
            json!({ "status": "SUCCEEDED", "clientToken": "too-late" }),
            "InvalidStateTransition",
        )
        .await;
    assert_eq!(
        reply["executionState"],
        json!({ "status": "TIMED_OUT", "versionNumber": 3 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_timeout_is_a_lease_renewed_by_each_update() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;
    fleet.create("j1", &["t1"], &doc("steps"));
    t1.expect_all(&["notify", "notify-next"]).await;
    t1.accepted_notifying(
        "j1/update",
        json!({ "status": "IN_PROGRESS", "stepTimeoutInMinutes": 1 }),
        &["notify"],
    )
    .await;

    // Renewed at +30: due at +90, not +60.
    fleet.at(30);
    t1.accepted(
        "j1/update",
        json!({
            "status": "IN_PROGRESS", "stepTimeoutInMinutes": 1,
            "statusDetails": { "step": "2" },
        }),
    )
    .await;
    fleet.at(61);
    fleet.server.sweep_timeouts().unwrap();
    let reply = t1.accepted("$next/get", json!({})).await;
    assert_eq!(reply["execution"]["status"], "IN_PROGRESS");

    fleet.at(91);
    fleet.server.sweep_timeouts().unwrap();
    let [notify, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(notify, json!({ "timestamp": T0 + 91, "jobs": {} }));
    assert_eq!(next, json!({ "timestamp": T0 + 91 }));
    let reply = t1
        .rejected(
            "j1/update",
            json!({ "status": "IN_PROGRESS" }),
            "InvalidStateTransition",
        )
        .await;
    assert_eq!(
        reply["executionState"],
        json!({ "status": "TIMED_OUT", "statusDetails": { "step": "2" }, "versionNumber": 4 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_cancel_while_in_progress_shows_in_notifications_and_rejections() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;
    let create = |id: &str| {
        fleet
            .http
            .put(fleet.url(&format!("/jobs/{id}")))
            .json(&json!({ "targets": ["t1"], "document": doc(id) }))
            .send()
    };
    assert!(create("j1").await.unwrap().status().is_success());
    t1.expect_all(&["notify", "notify-next"]).await;
    fleet.at(10);
    assert!(create("j2").await.unwrap().status().is_success());
    t1.expect("notify").await;
    t1.accepted_notifying("j1/update", json!({ "status": "IN_PROGRESS" }), &["notify"])
        .await;

    fleet.at(20);
    let canceled = fleet
        .http
        .put(fleet.url("/jobs/j1/cancel?force=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(canceled.status(), reqwest::StatusCode::OK);
    let [notify, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(
        notify,
        json!({ "timestamp": T0 + 20, "jobs": { "QUEUED": [summary("j2", T0 + 10, None, T0 + 10, 1)] } })
    );
    assert_eq!(
        next,
        json!({ "timestamp": T0 + 20, "execution": queued_execution("t1", "j2", &doc("j2"), T0 + 10) })
    );

    let reply = t1
        .rejected(
            "j1/update",
            json!({ "status": "SUCCEEDED", "clientToken": "done" }),
            "InvalidStateTransition",
        )
        .await;
    assert_eq!(
        reply["executionState"],
        json!({ "status": "CANCELED", "versionNumber": 3 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn things_are_isolated_through_the_service() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;
    let mut t2 = fleet.device("t2").await;
    let foreign = "$aws/things/t2/jobs/notify-next";
    assert_eq!(
        t1.client.subscribe(foreign).await,
        SubscribeReasonCode::Failure
    );

    // t2's notifications reach t2 only: t1's next message is its own reply.
    fleet.create("j2", &["t2"], &doc("two"));
    let [_, next] = two(t2.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(next["execution"]["thingName"], "t2");
    let reply = t1.probe("t1-first").await;
    assert_eq!(reply["queuedJobs"], json!([]));

    // t1 asking on t2's behalf is disconnected, and nobody is answered.
    let error = t1
        .client
        .publish(
            "$aws/things/t2/jobs/get",
            json!({ "clientToken": "spoofed" }).to_string(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            rumqttc::ConnectionError::Io(_) | rumqttc::ConnectionError::MqttState(_)
        ),
        "expected the broker to close t1's connection, got {error}"
    );
    let reply = t2.probe("t2-own").await;
    assert_eq!(reply["queuedJobs"][0]["jobId"], "j2");

    // Reconnected, t1 gets its own replies and notifications, no stale
    // answer to the spoofed request and nothing of t2's.
    let mut t1 = fleet.device("t1").await;
    fleet.at(10);
    fleet.create("j1", &["t1"], &doc("one"));
    let [notify, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(
        notify["jobs"],
        json!({ "QUEUED": [summary("j1", T0 + 10, None, T0 + 10, 1)] })
    );
    assert_eq!(next["execution"]["jobId"], "j1");
    t1.probe("t1-again").await;
    t2.probe("t2-again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_executions_survive_a_restart() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.replies_only("t1").await;
    fleet.create("j1", &["t1"], &doc("reboot"));
    fleet.at(10);
    t1.accepted(
        "start-next",
        json!({ "statusDetails": { "step": "rebooting", "boot": "1" } }),
    )
    .await;
    drop(t1);

    let (dir, clock) = fleet.stop().await;
    clock.set(T0 + 100);
    let fleet = Fleet::start_in(dir, clock, embedded()).await;
    let mut t1 = fleet.replies_only("t1").await;
    let reply = t1
        .accepted("$next/get", json!({ "clientToken": "after-boot" }))
        .await;
    assert_eq!(
        reply,
        json!({
            "execution": {
                "jobId": "j1",
                "thingName": "t1",
                "jobDocument": doc("reboot"),
                "status": "IN_PROGRESS",
                "statusDetails": { "step": "rebooting", "boot": "1" },
                "queuedAt": T0,
                "startedAt": T0 + 10,
                "lastUpdatedAt": T0 + 10,
                "versionNumber": 2,
                "executionNumber": 1,
            },
            "timestamp": T0 + 100,
            "clientToken": "after-boot",
        })
    );
    t1.accepted(
        "j1/update",
        json!({ "status": "SUCCEEDED", "expectedVersion": 2 }),
    )
    .await;
}

/// After a restart the service does not know which head it announced last,
/// so the first change for a thing re-announces its head. Deliberate:
/// notify-next is sent whenever the head of the queue changes
/// (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>),
/// and the safe way to keep that is at-least-once (a crash between saving
/// a change and publishing its notify-next must not lose the
/// announcement). Devices expect repeats and dedupe on jobId +
/// executionNumber, as the AWS IoT Device Client does after a reconnect
/// (<https://github.com/awslabs/aws-iot-device-client/pull/67>). This pins
/// that choice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_head_is_announced_again_at_least_once() {
    let fleet = Fleet::start().await;
    let mut t1 = fleet.device("t1").await;
    fleet.create("j1", &["t1"], &doc("one"));
    t1.expect_all(&["notify", "notify-next"]).await;
    drop(t1);

    let (dir, clock) = fleet.stop().await;
    let fleet = Fleet::start_in(dir, clock, embedded()).await;
    let mut t1 = fleet.device("t1").await;
    fleet.at(10);
    fleet.create("j2", &["t1"], &doc("two"));
    let [_, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(
        next["execution"]["jobId"], "j1",
        "the unchanged head, announced again: {next}"
    );
    t1.probe("after-j2").await;
}

/// The core flow over Debian's mosquitto, with the service's credentials
/// and the ACL from `support::mosquitto`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_flow_over_mosquitto() {
    let password = "conformance-secret";
    let mosquitto = Mosquitto::start(MosquittoOptions {
        service_username: jobhost_fleet::server::SERVICE_IDENTITY.into(),
        service_password: password.into(),
    });
    let broker = BrokerChoice::External {
        host: "127.0.0.1".into(),
        port: mosquitto.port,
        credentials: Some((
            jobhost_fleet::server::SERVICE_IDENTITY.into(),
            password.into(),
        )),
    };
    let fleet = Fleet::start_in(tempfile::tempdir().unwrap(), TestClock::new(), broker).await;
    let mut t1 = fleet.device("t1").await;

    fleet.create("j1", &["t1"], &doc("one"));
    let [_, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    let queued = queued_execution("t1", "j1", &doc("one"), T0);
    assert_eq!(next, json!({ "timestamp": T0, "execution": queued }));
    let reply = t1
        .accepted("$next/get", json!({ "clientToken": "m1" }))
        .await;
    assert_eq!(
        reply,
        json!({ "execution": queued, "timestamp": T0, "clientToken": "m1" })
    );

    fleet.at(10);
    let notes = t1
        .accepted_notifying(
            "j1/update",
            json!({
                "status": "IN_PROGRESS", "expectedVersion": 1,
                "statusDetails": { "step": "run" }, "clientToken": "m2",
            }),
            &["notify"],
        )
        .await;
    assert_eq!(
        notes[0]["jobs"],
        json!({ "IN_PROGRESS": [summary("j1", T0, Some(T0 + 10), T0 + 10, 2)] })
    );

    fleet.at(20);
    let notes = t1
        .accepted_notifying(
            "j1/update",
            json!({ "status": "SUCCEEDED", "expectedVersion": 2, "clientToken": "m3" }),
            &["notify", "notify-next"],
        )
        .await;
    assert_eq!(notes[0], json!({ "timestamp": T0 + 20, "jobs": {} }));
    assert_eq!(notes[1], json!({ "timestamp": T0 + 20 }));
    let reply = t1.probe("m4").await;
    assert_eq!(reply["inProgressJobs"], json!([]));
    assert_eq!(reply["queuedJobs"], json!([]));
    drop(t1);
    fleet.stop().await;
    drop(mosquitto);
}
