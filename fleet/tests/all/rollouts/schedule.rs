//! Schedules: SCHEDULED before the start time, maintenance windows, and
//! the end time's endBehavior.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_scheduled_before_its_start_time_and_released_after() {
    let fleet = Fleet::start().await;
    let mut device = fleet.device("t000").await;
    let start = T0 + 3600;
    let scheduling = json!({ "startTime": iso(start) });
    created(
        &fleet,
        "j1",
        &names(3),
        json!({ "schedulingConfig": scheduling }),
    )
    .await;
    created(&fleet, "now", &names(1), json!({})).await;
    let now_job = next_notify_next(&mut device)
        .await
        .expect("the unscheduled job");
    assert_eq!(now_job["jobId"], "now");

    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "SCHEDULED");
    assert_eq!(
        job["schedulingConfig"], scheduling,
        "returned in AWS's shape"
    );
    assert_eq!(job["jobProcessDetails"]["numberOfQueuedThings"], 0);
    let listed = |body: Value| -> Vec<String> {
        body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["jobId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(listed(get(&fleet, "/jobs?status=SCHEDULED").await), ["j1"]);
    assert_eq!(
        listed(get(&fleet, "/jobs?status=IN_PROGRESS").await),
        ["now"]
    );

    tick_at(&fleet, 3599);
    assert_eq!(status(&fleet, "j1").await, "SCHEDULED");
    device.probe("still-nothing").await;
    tick_at(&fleet, 3600);
    assert_eq!(status(&fleet, "j1").await, "IN_PROGRESS");
    assert_eq!(released(&fleet, "j1").await, 3);
    // The device's queue grew: a notify listing both jobs, head unchanged.
    let (topic, notify) = device.recv().await;
    assert_eq!(topic, "notify");
    let queued: Vec<&str> = notify["jobs"]["QUEUED"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(queued, ["now", "j1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_window_blocks_releases_outside_it() {
    let fleet = Fleet::start().await;
    // T0 is 22:13:20 UTC; a one-minute window at the top of each hour
    // next opens at 23:00:00.
    let opens = 2800;
    let window = json!({ "startTime": "cron(0 * ? * * *)", "durationInMinutes": 1 });
    created(
        &fleet,
        "j1",
        &names(100),
        json!({
            "jobExecutionsRolloutConfig": { "maximumPerMinute": 60 },
            "schedulingConfig": { "maintenanceWindows": [window] },
        }),
    )
    .await;
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "SCHEDULED");
    let next: Vec<&str> = job["scheduledJobRollouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["startTime"].as_str().unwrap())
        .collect();
    assert_eq!(
        next,
        [
            "2023-11-14T23:00",
            "2023-11-15T00:00",
            "2023-11-15T01:00",
            "2023-11-15T02:00",
            "2023-11-15T03:00",
            "2023-11-15T04:00",
            "2023-11-15T05:00"
        ]
    );
    for s in [1, 600, opens - 1] {
        tick_at(&fleet, s);
    }
    assert_eq!(released(&fleet, "j1").await, 0);
    for s in opens..opens + 60 {
        tick_at(&fleet, s);
    }
    assert_eq!(released(&fleet, "j1").await, 60);
    // Closed again: SCHEDULED until the next window, nothing released.
    for s in [opens + 60, opens + 61, opens + 3599] {
        tick_at(&fleet, s);
    }
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "SCHEDULED");
    assert_eq!(job["jobhost"]["rollout"]["releasedThings"], 60);
    tick_at(&fleet, opens + 3600);
    assert_eq!(status(&fleet, "j1").await, "IN_PROGRESS");
    assert!(released(&fleet, "j1").await > 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_behavior_cancel_cancels_the_queued_executions_at_the_end_time() {
    let fleet = Fleet::start().await;
    let mut running = fleet.device("t000").await;
    let mut queued = fleet.device("t001").await;
    let scheduling = json!({ "endTime": iso(T0 + 1800), "endBehavior": "CANCEL" });
    created(
        &fleet,
        "j1",
        &names(100),
        json!({
            "jobExecutionsRolloutConfig": { "maximumPerMinute": 1 },
            "schedulingConfig": scheduling,
        }),
    )
    .await;
    next_notify_next(&mut running).await.expect("t000 at once");
    running
        .accepted_notifying("start-next", json!({}), &["notify"])
        .await;
    tick_at(&fleet, 60);
    next_notify_next(&mut queued)
        .await
        .expect("t001 a minute later");
    tick_at(&fleet, 1799);
    assert_eq!(status(&fleet, "j1").await, "IN_PROGRESS");

    tick_at(&fleet, 1800);
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "CANCELED");
    assert_eq!(job["forceCanceled"], false);
    assert!(
        job["comment"].as_str().unwrap().contains("endTime"),
        "{job}"
    );
    assert_eq!(job["jobhost"]["rollout"]["unreleasedThings"], 0);
    assert_eq!(next_notify_next(&mut queued).await, None);
    let all = statuses(&fleet, "j1").await;
    assert_eq!(all[0], ("t000".to_owned(), "IN_PROGRESS".to_owned()));
    assert!(all[1..].iter().all(|(_, s)| s == "CANCELED"), "{all:?}");
    // The running device may still finish.
    running
        .accepted_notifying(
            "j1/update",
            json!({ "status": "SUCCEEDED" }),
            &["notify", "notify-next"],
        )
        .await;
}
