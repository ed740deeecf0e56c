//! The rate: constant and exponential, what DescribeJob shows, what devices
//! see, a restart mid-rollout, and CancelJob during one.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_of_500_things_at_600_a_minute_releases_at_that_rate() {
    let fleet = Fleet::start().await;
    let targets = names(500);
    let mut first = fleet.device("t000").await;
    let mut last = fleet.device("t499").await;
    let rollout = json!({ "maximumPerMinute": 600 });
    created(
        &fleet,
        "j1",
        &targets,
        json!({ "jobExecutionsRolloutConfig": rollout }),
    )
    .await;

    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "IN_PROGRESS");
    assert_eq!(
        job["jobExecutionsRolloutConfig"], rollout,
        "returned in AWS's shape"
    );
    assert_eq!(job["isConcurrent"], true);
    assert_eq!(job["targets"].as_array().unwrap().len(), 500);
    assert_eq!(
        job["jobhost"]["rollout"],
        json!({ "releasedThings": 10, "unreleasedThings": 490, "ratePerMinute": 600,
                "lastReleasedAt": T0 })
    );
    assert_eq!(job["jobProcessDetails"]["numberOfQueuedThings"], 10);
    // The first target is notified at once; the last sees nothing yet.
    let head = next_notify_next(&mut first).await.expect("t000's job");
    assert_eq!(head["jobId"], "j1");
    last.probe("before").await;

    // A second at a time: the released count follows 600 a minute.
    let mut by_second = vec![10];
    for s in 1..=60 {
        tick_at(&fleet, s);
        by_second.push(released(&fleet, "j1").await);
    }
    for (s, n) in by_second.iter().enumerate() {
        let expected = (10 * (s as u64 + 1)).min(500);
        let (low, high) = (expected * 9 / 10, expected * 11 / 10);
        assert!(
            (low..=high).contains(n),
            "{n} released after {s} s, expected {expected} ± 10 %: {by_second:?}"
        );
    }
    assert_eq!(by_second[60], 500);
    // Nothing beyond 600 in any minute, counted from the executions.
    let executions = get(&fleet, "/jobs/j1/things").await;
    let queued_at: Vec<i64> = executions["executionSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["jobExecutionSummary"]["queuedAt"].as_i64().unwrap())
        .collect();
    assert_eq!(queued_at.len(), 500);
    for start in T0..T0 + 60 {
        let n = queued_at
            .iter()
            .filter(|t| (start..start + 60).contains(*t))
            .count();
        assert!(n <= 600, "{n} queued in the minute from {start}");
    }
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["isConcurrent"], false);
    assert_eq!(job["jobhost"]["rollout"]["unreleasedThings"], 0);
    // The last target's device was notified when it was released.
    let head = next_notify_next(&mut last).await.expect("t499's job");
    assert_eq!(head["jobId"], "j1");
    assert!(head["queuedAt"].as_i64().unwrap() >= T0 + 45, "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exponential_rate_increases_once_enough_devices_succeed() {
    let fleet = Fleet::start().await;
    let mut devices = Vec::new();
    for t in &names(4) {
        devices.push(fleet.device(t).await);
    }
    let rollout = json!({ "exponentialRate": {
        "baseRatePerMinute": 60, "incrementFactor": 2.5,
        "rateIncreaseCriteria": { "numberOfSucceededThings": 4 }
    }});
    created(
        &fleet,
        "j1",
        &names(100),
        json!({ "jobExecutionsRolloutConfig": rollout }),
    )
    .await;
    // One a second: t000 now, t001..t003 over the next three seconds; each
    // device runs its execution to SUCCEEDED when it is notified.
    for (s, device) in devices.iter_mut().enumerate() {
        if s > 0 {
            tick_at(&fleet, s as i64);
        }
        let execution = next_notify_next(device).await.expect("released");
        assert_eq!(execution["jobId"], "j1");
        device
            .accepted_notifying(
                "j1/update",
                json!({ "status": "SUCCEEDED" }),
                &["notify", "notify-next"],
            )
            .await;
    }
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["jobProcessDetails"]["numberOfSucceededThings"], 4);
    assert_eq!(job["jobhost"]["rollout"]["ratePerMinute"], 150);
    assert_eq!(job["jobExecutionsRolloutConfig"], rollout);
    // 150 a minute: three a second.
    let before = released(&fleet, "j1").await;
    assert_eq!(before, 4);
    for s in 4..=6 {
        tick_at(&fleet, s);
    }
    assert_eq!(released(&fleet, "j1").await, before + 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_rollout_releases_no_more_than_what_is_left_of_the_minute() {
    let fleet = Fleet::start().await;
    created(
        &fleet,
        "j1",
        &names(100),
        json!({ "jobExecutionsRolloutConfig": { "maximumPerMinute": 10 } }),
    )
    .await;
    // 10 a minute, one a second: ten seconds spend the minute.
    for s in 1..=9 {
        tick_at(&fleet, s);
    }
    assert_eq!(released(&fleet, "j1").await, 10);

    // Restart the whole service (store reopened, scheduler restarted).
    let (dir, clock) = fleet.stop().await;
    let fleet = Fleet::start_in(dir, clock, crate::conformance::embedded()).await;
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "IN_PROGRESS");
    assert_eq!(job["jobhost"]["rollout"]["unreleasedThings"], 90);
    // A budget reset by the restart would release at once; the minute's
    // ten are spent until the first of them is a minute old.
    for s in 10..=59 {
        tick_at(&fleet, s);
    }
    assert_eq!(released(&fleet, "j1").await, 10);
    tick_at(&fleet, 60);
    assert_eq!(released(&fleet, "j1").await, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_job_during_a_rollout_stops_its_releases() {
    let fleet = Fleet::start().await;
    let mut waiting = fleet.device("t050").await;
    created(
        &fleet,
        "j1",
        &names(100),
        json!({ "jobExecutionsRolloutConfig": { "maximumPerMinute": 120 } }),
    )
    .await;
    for s in 1..=4 {
        tick_at(&fleet, s);
    }
    assert_eq!(released(&fleet, "j1").await, 10);
    let response = fleet
        .http
        .put(fleet.url("/jobs/j1/cancel"))
        .json(&json!({ "comment": "wrong image" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for s in 5..=120 {
        tick_at(&fleet, s);
    }
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "CANCELED");
    assert_eq!(job["comment"], "wrong image");
    assert_eq!(job["isConcurrent"], false);
    assert_eq!(job["jobhost"]["rollout"]["releasedThings"], 10);
    assert_eq!(job["jobhost"]["rollout"]["unreleasedThings"], 0);
    assert_eq!(job["jobProcessDetails"]["numberOfCanceledThings"], 10);
    // A target never released never hears of the job.
    waiting.probe("after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_limits_are_refused_naming_the_field() {
    let fleet = Fleet::start().await;
    let cases = [
        (
            json!({ "jobExecutionsRolloutConfig": { "maximumPerMinute": 1001 } }),
            "jobExecutionsRolloutConfig.maximumPerMinute",
        ),
        (
            json!({ "jobExecutionsRolloutConfig": { "exponentialRate": {
                "baseRatePerMinute": 10, "incrementFactor": 7,
                "rateIncreaseCriteria": { "numberOfNotifiedThings": 10 } } } }),
            "jobExecutionsRolloutConfig.exponentialRate.incrementFactor",
        ),
        (
            json!({ "abortConfig": { "criteriaList": [{ "failureType": "FAILED",
                "action": "CANCEL", "thresholdPercentage": 101, "minNumberOfExecutedThings": 1 }] } }),
            "abortConfig.criteriaList[0].thresholdPercentage",
        ),
        (
            json!({ "schedulingConfig": { "startTime": iso(T0 + 60) } }),
            "schedulingConfig.startTime",
        ),
        (
            json!({ "schedulingConfig": { "maintenanceWindows": [
                { "startTime": "cron(0 2 ? * SAT *)", "durationInMinutes": 1440 }] } }),
            "schedulingConfig.maintenanceWindows[0].durationInMinutes",
        ),
    ];
    for (extra, field) in cases {
        let (status, body) = create(&fleet, "j1", &names(2), extra).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        assert!(message(&body).starts_with(field), "{field}: {body}");
    }
    // Nothing was created by the refused requests.
    assert_eq!(get(&fleet, "/jobs").await["jobs"], json!([]));
}

/// The service's own scheduler task, with no test tick: without this, the
/// task could be deleted and every other test would stay green.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_s_own_scheduler_releases_as_the_clock_moves() {
    let fleet = Fleet::start().await;
    let mut second = fleet.device("t001").await;
    created(
        &fleet,
        "j1",
        &names(10),
        json!({ "jobExecutionsRolloutConfig": { "maximumPerMinute": 60 } }),
    )
    .await;
    assert_eq!(released(&fleet, "j1").await, 1);
    fleet.at(1);
    // The scheduler wakes within a second (a rollout is active) and
    // releases t001 at the moved clock; its device is notified.
    let execution = next_notify_next(&mut second).await.expect("released");
    assert_eq!(execution["jobId"], "j1");
    assert_eq!(execution["queuedAt"], T0 + 1);
    assert_eq!(released(&fleet, "j1").await, 2);
}
