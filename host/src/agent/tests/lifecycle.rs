//! Claim, run, report; dedupe, resends, version conflicts, cancellation,
//! resuming after a restart.

use super::*;

/// notify-next / `$next/get` → IN_PROGRESS (expectedVersion) → accepted →
/// the plugin runs → SUCCEEDED with the plugin's statusDetails →
/// accepted → the next job is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offered_job_is_claimed_run_and_reported_succeeded() {
    let device = Device::new("");
    let mut agent = device.start();
    let claim = agent
        .offered(execution(
            "job-1",
            "QUEUED",
            probe(json!({"compute": 3})),
            json!({}),
        ))
        .await;
    assert_eq!(claim.body["expectedVersion"], 1, "{claim:?}");
    assert_eq!(claim.body["executionNumber"], 1, "{claim:?}");
    agent.accept(&claim, json!({})).await;

    let report = agent.update_skipping_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert!(report.detail("computed").is_some(), "{report:?}");
    assert_ne!(report.token(), claim.token());
    // Journaled before it was published.
    let pending = device.journal().state().pending_report.clone().unwrap();
    assert_eq!(
        (pending.job_id.as_str(), pending.status),
        ("job-1", TerminalStatus::Succeeded)
    );

    agent.accept(&report, json!({})).await;
    agent.asks_for_the_next_job().await;
    assert!(device.journal().state().pending_report.is_none());
    agent.stop().await;
}

/// The same offer again after the job is done (every reconnect brings
/// one) is not run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_execution_offered_again_is_not_claimed() {
    let device = Device::new("");
    let mut agent = device.start();
    let offer = execution("job-1", "QUEUED", probe(json!({})), json!({}));
    agent.claimed(offer.clone()).await;
    let report = agent.update_skipping_progress("job-1").await;
    agent.accept(&report, json!({})).await;
    agent.asks_for_the_next_job().await;

    let notify = format!("$aws/things/{THING}/jobs/notify-next");
    agent
        .message(notify, json!({"timestamp": 1, "execution": offer}))
        .await;
    // Handled in order: had the offer been claimed, the claim would come
    // before the `$next/get` of this reconnect.
    agent.connected().await;
    agent.asks_for_the_next_job().await;
    agent.stop().await;
}

/// The terminal report, unanswered, goes out again with the same
/// clientToken on reconnect; a transient rejection keeps it; a
/// permanent one ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_resent_on_reconnect_until_answered() {
    let device = Device::new("");
    let mut agent = device.start();
    let report = agent.rejected_report().await;
    assert_eq!(report.status(), "REJECTED", "{report:?}");
    assert!(
        report
            .detail("reason")
            .is_some_and(|r| r.contains("unknown operation `format-disk`")),
        "{report:?}"
    );

    agent.disconnected("link down").await;
    agent.connected().await;
    let again = agent.resent("job-1").await;
    assert_eq!(again.body, report.body, "the same request, same token");

    // Transient: kept, and the next thing published is its resend.
    agent.reject(&again, "InternalError", None).await;
    agent.connected().await;
    let third = agent.resent("job-1").await;
    assert_eq!(third.body, report.body);

    agent.reject(&third, "TerminalStateReached", None).await;
    agent.asks_for_the_next_job().await;
    assert!(device.journal().state().pending_report.is_none());
    agent.stop().await;
}

/// A report without any reply is re-sent after [`crate::agent::outbox::REPLY_TIMEOUT`],
/// on tokio's paused clock.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_report_without_reply_is_resent_after_the_reply_timeout() {
    let device = Device::new("");
    let mut agent = device.start();
    let report = agent.rejected_report().await;
    let started = tokio::time::Instant::now();
    let again = agent.update("job-1").await;
    assert_eq!(again.body, report.body);
    assert!(started.elapsed() >= crate::agent::outbox::REPLY_TIMEOUT);
    agent.stop().await;
}

/// A claim refused with VersionMismatch is claimed again against the
/// version the service has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_refused_for_its_version_is_claimed_again_with_the_new_one() {
    let device = Device::new("");
    let mut agent = device.start();
    let claim = agent
        .offered(execution("job-1", "QUEUED", probe(json!({})), json!({})))
        .await;
    let state = json!({"status": "QUEUED", "statusDetails": {}, "versionNumber": 4});
    agent.reject(&claim, "VersionMismatch", Some(state)).await;
    let again = agent.update("job-1").await;
    assert_eq!(again.status(), "IN_PROGRESS");
    assert_eq!(again.body["expectedVersion"], 4, "{again:?}");
    assert_ne!(again.token(), claim.token());
    agent.stop().await;
}

/// The job is cancelled mid-run (notify-next moves on, describe says
/// CANCELED): the run's CancelToken fires, the plugin stops, nothing more
/// is reported for it, and the agent asks for the next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_mid_run_is_interrupted_and_not_reported() {
    let device = Device::new("");
    let mut agent = device.start();
    let document = probe(json!({"wait_for": "/data/never", "heartbeat": true}));
    agent
        .claimed(execution("job-1", "QUEUED", document, json!({})))
        .await;
    // The heartbeat: the plugin is running.
    let progress = agent.update("job-1").await;
    assert_eq!(progress.status(), "IN_PROGRESS");

    let notify = format!("$aws/things/{THING}/jobs/notify-next");
    agent.message(notify, json!({"timestamp": 1})).await;
    let describe = loop {
        let p = agent.published().await;
        if p.topic != update_topic("job-1") {
            break p;
        }
    };
    assert_eq!(
        describe.topic,
        format!("$aws/things/{THING}/jobs/job-1/get")
    );
    agent
        .accept(
            &describe,
            json!({"execution": execution("job-1", "CANCELED", json!({}), json!({}))}),
        )
        .await;
    // Only its heartbeats until it stopped (one a second at most: a
    // plugin not interrupted would send them for an hour), then the next
    // job; no report.
    let stopped = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let p = agent.published().await;
            if p.topic == NEXT_GET {
                break;
            }
            assert_eq!(p.status(), "IN_PROGRESS", "nothing terminal: {p:?}");
            assert!(p.body["statusDetails"]["waited"].is_string(), "{p:?}");
        }
    });
    stopped.await.expect("the plugin stopped");
    assert!(device.journal().state().running.is_none());
    assert!(device.journal().state().pending_report.is_none());
    agent.stop().await;
}

/// The claim is sent before the execution is journaled (the fsync overlaps
/// the claim's round trip), but the entry is on disk before the plugin
/// runs: a crash mid-run must find it, with its restart count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_is_journaled_before_its_plugin_runs() {
    let device = Device::new("");
    let mut agent = device.start();
    let document = probe(json!({"wait_for": "/data/go", "heartbeat": true}));
    let claim = agent
        .offered(execution("job-1", "QUEUED", document, json!({})))
        .await;
    agent.accept(&claim, json!({})).await;
    // The plugin's heartbeat: it is running.
    let progress = agent.update("job-1").await;
    assert_eq!(progress.status(), "IN_PROGRESS", "{progress:?}");
    assert!(
        progress.body["statusDetails"]["waited"].is_string(),
        "{progress:?}"
    );
    let running = device.journal().state().running.clone();
    let running = running.expect("the running execution is journaled");
    assert_eq!(
        (running.job_id.as_str(), running.execution_number),
        ("job-1", 1)
    );
    assert_eq!(running.restarts, 0);

    std::fs::write(device.path("data/go"), "").unwrap();
    let report = agent.update_skipping_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    agent.stop().await;
}

/// The journal holds a running execution and its checkpoint (the agent
/// was killed mid-run): a new actor, offered the same execution, claims it
/// again and hands the plugin that checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_running_at_a_restart_resumes_from_its_checkpoint() {
    let device = Device::new("");
    device.journaled(|s| {
        s.running = Some(RunningEntry {
            job_id: "job-1".into(),
            execution_number: 1,
            checkpoint: Some("c7".into()),
            reboot: None,
            rotation: None,
            restarts: 0,
        })
    });
    let mut agent = device.start();
    let document = probe(json!({"started": "/data/started"}));
    agent
        .claimed(execution("job-1", "IN_PROGRESS", document, json!({})))
        .await;
    let report = agent.update_skipping_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(
        std::fs::read_to_string(device.path("data/started")).unwrap(),
        "checkpoint=c7\n"
    );
    agent.stop().await;
}

/// A terminal status journaled before a restart is the first thing the new
/// actor sends, before asking for work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_journaled_before_a_restart_is_sent_first() {
    let device = Device::new("");
    device.journaled(|s| {
        s.pending_report = Some(crate::agent::journal::PendingReport {
            job_id: "job-1".into(),
            execution_number: 1,
            status: TerminalStatus::Failed,
            status_details: StatusDetails::new(),
            then_shutdown: false,
        })
    });
    let mut agent = device.start();
    agent.connected().await;
    let report = agent.update("job-1").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    agent.accept(&report, json!({})).await;
    agent.asks_for_the_next_job().await;
    agent.stop().await;
}

/// The service timed our execution out and queued a retry of the same job
/// (execution 2) while execution 1 still runs here: notify-next names our
/// job, but not our execution. The agent asks about execution 1 by number,
/// hears TIMED_OUT, stops the plugin and reports nothing for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_the_running_job_is_a_new_execution_not_ours() {
    let device = Device::new("");
    let (mut agent, document) = running_until_stopped(&device).await;

    let mut retry = execution("job-1", "QUEUED", document, json!({}));
    retry["executionNumber"] = json!(2);
    let notify = format!("$aws/things/{THING}/jobs/notify-next");
    agent
        .message(notify, json!({"timestamp": 2, "execution": retry}))
        .await;
    let describe = asks_about_execution_1(&mut agent).await;
    agent
        .accept(
            &describe,
            json!({"execution": execution("job-1", "TIMED_OUT", json!({}), json!({}))}),
        )
        .await;
    let stopped = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let p = agent.published().await;
            if p.topic == NEXT_GET {
                break;
            }
            assert_eq!(p.status(), "IN_PROGRESS", "nothing terminal: {p:?}");
        }
    });
    stopped.await.expect("the plugin stopped");
    assert!(device.journal().state().running.is_none());
    assert!(device.journal().state().pending_report.is_none());
    agent.stop().await;
}

/// The same retry announced by `notify` alone (its notify-next lost, or
/// not yet read): the job is still listed, but as execution 2. The agent
/// asks about its execution 1 by number instead of trusting the job id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_listing_only_a_retry_of_the_running_job_is_checked() {
    let device = Device::new("");
    let (mut agent, _) = running_until_stopped(&device).await;

    let notify = format!("$aws/things/{THING}/jobs/notify");
    let summary = json!({"jobId": "job-1", "executionNumber": 2, "versionNumber": 1,
                         "queuedAt": 2, "lastUpdatedAt": 2});
    agent
        .message(
            notify,
            json!({"timestamp": 2, "jobs": {"QUEUED": [summary]}}),
        )
        .await;
    asks_about_execution_1(&mut agent).await;
    agent.stop().await;
}

/// An agent on `device` running execution 1 of `job-1`, a probe that
/// waits for a file that never comes and reports a heartbeat meanwhile;
/// returns it and the job document.
async fn running_until_stopped(device: &Device) -> (Agent, Value) {
    let mut agent = device.start();
    let document = probe(json!({"wait_for": "/data/never", "heartbeat": true}));
    agent
        .claimed(execution("job-1", "QUEUED", document.clone(), json!({})))
        .await;
    let progress = agent.update("job-1").await;
    assert_eq!(progress.status(), "IN_PROGRESS");
    (agent, document)
}

/// Skips the running execution's heartbeats until the agent asks about
/// execution 1 of `job-1` by number (an agent that took a retry for its
/// own execution would send them forever and never ask); returns the
/// request.
async fn asks_about_execution_1(agent: &mut Agent) -> Published {
    let describe = tokio::time::timeout(WAIT, async {
        loop {
            let p = agent.published().await;
            if p.topic != update_topic("job-1") {
                break p;
            }
        }
    })
    .await
    .expect("the agent asks about its own execution");
    assert_eq!(
        describe.topic,
        format!("$aws/things/{THING}/jobs/job-1/get")
    );
    assert_eq!(describe.body["executionNumber"], 1, "{describe:?}");
    describe
}
