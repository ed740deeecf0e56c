//! Abort rules met by devices' own updates and by the service's timeout.

use super::*;

fn abort_rule(failure_type: &str, percent: f64, min: u32) -> Value {
    json!({ "criteriaList": [{ "failureType": failure_type, "action": "CANCEL",
        "thresholdPercentage": percent, "minNumberOfExecutedThings": min }] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_rule_trips_after_enough_failures_and_stops_the_rollout() {
    let fleet = Fleet::start().await;
    let mut devices = Vec::new();
    for t in &names(5) {
        devices.push(fleet.device(t).await);
    }
    let abort = abort_rule("FAILED", 50.0, 4);
    created(
        &fleet,
        "j1",
        &names(50),
        json!({
            "jobExecutionsRolloutConfig": { "maximumPerMinute": 600 },
            "abortConfig": abort,
        }),
    )
    .await;
    assert_eq!(released(&fleet, "j1").await, 10);
    for device in &mut devices {
        next_notify_next(device)
            .await
            .expect("released at creation");
    }
    let outcomes = ["SUCCEEDED", "SUCCEEDED", "FAILED"];
    for (device, outcome) in devices.iter_mut().zip(outcomes) {
        device
            .accepted_notifying(
                "j1/update",
                json!({ "status": outcome }),
                &["notify", "notify-next"],
            )
            .await;
    }
    // One failure of three executed things: below the minimum of four.
    assert_eq!(status(&fleet, "j1").await, "IN_PROGRESS");
    // Two of four: 50 %. The update that meets the rule aborts the job.
    devices[3]
        .accepted_notifying(
            "j1/update",
            json!({ "status": "FAILED" }),
            &["notify", "notify-next"],
        )
        .await;
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "CANCELED");
    assert_eq!(job["reasonCode"], "FAILED");
    assert!(
        job["comment"]
            .as_str()
            .unwrap()
            .contains("abortConfig.criteriaList[0]"),
        "{job}"
    );
    assert_eq!(job["abortConfig"], abort, "returned in AWS's shape");
    assert_eq!(job["forceCanceled"], false);
    assert_eq!(job["jobhost"]["rollout"]["unreleasedThings"], 0);
    // A QUEUED device learns that its job is gone.
    assert_eq!(next_notify_next(&mut devices[4]).await, None);
    let all = statuses(&fleet, "j1").await;
    assert_eq!(all.len(), 10, "only the released targets have executions");
    for (thing, status) in &all[4..] {
        assert_eq!(status, "CANCELED", "{thing}");
    }
    // No more releases, however long the clock runs.
    for s in 1..=70 {
        tick_at(&fleet, s);
    }
    assert_eq!(released(&fleet, "j1").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_s_own_timeout_can_trip_an_abort_rule() {
    let fleet = Fleet::start().await;
    let mut running = fleet.device("t000").await;
    let mut queued = fleet.device("t001").await;
    created(
        &fleet,
        "j1",
        &names(3),
        json!({
            "timeoutConfig": { "inProgressTimeoutInMinutes": 1 },
            "abortConfig": abort_rule("TIMED_OUT", 100.0, 1),
        }),
    )
    .await;
    next_notify_next(&mut running).await.expect("queued");
    next_notify_next(&mut queued).await.expect("queued");
    running
        .accepted_notifying("start-next", json!({}), &["notify"])
        .await;
    fleet.at(61);
    fleet.server.sweep_timeouts().unwrap();
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "CANCELED");
    assert_eq!(job["reasonCode"], "TIMED_OUT");
    assert_eq!(next_notify_next(&mut queued).await, None);
    assert_eq!(
        statuses(&fleet, "j1").await,
        [
            ("t000".to_owned(), "TIMED_OUT".to_owned()),
            ("t001".to_owned(), "CANCELED".to_owned()),
            ("t002".to_owned(), "CANCELED".to_owned())
        ]
    );
}
