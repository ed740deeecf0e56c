//! Every way the agent learns that its running job is over (AWS IoT sends a
//! device no "cancelled" message): the plugin is interrupted, nothing
//! more is published for the job, and the next job runs.
//!
//! The plugin is held (`wait_for` a file that never appears) with a one
//! hour deadline, so only the cancellation can end it within the guard; it
//! reports progress every 100 ms meanwhile, so an agent that kept
//! publishing for a cancelled job would be seen doing so.

use jobhost_protocol::topics::NEXT;
use serde_json::{json, Value};

use super::scripted::{execution, state};
use super::{probe, Rig};

fn held() -> Value {
    probe(json!({"started": "/data/runs", "wait_for": "/data/never", "heartbeat": true}))
}

/// Offers `job` (held), accepts its claim, and returns once the plugin is
/// running (its first progress update has arrived, and was accepted).
async fn running(rig: &mut Rig, job: &str) {
    let claim = rig.service.offer(job, held()).await;
    rig.service.accept(&claim, json!({})).await;
    let progress = rig.service.expect_update(job).await;
    assert_eq!(progress.status(), "IN_PROGRESS", "{progress:?}");
    rig.service.accept(&progress, json!({})).await;
}

/// After the agent was told `job` is over: it asks for the next job only
/// once the plugin has stopped, publishes no status for `job` (at most a
/// progress update already in flight when it learnt), and runs the next
/// job normally. The plugin ran once.
async fn interrupted_then_next_job_runs(rig: &mut Rig, job: &str) {
    let mut in_flight = 0;
    let get = loop {
        let request = rig.service.next_request().await;
        if request.is_describe(NEXT) {
            break request;
        }
        assert!(
            request.is_update(job) && request.status() == "IN_PROGRESS" && in_flight == 0,
            "published after the cancel: {request:?}\n{}",
            rig.device.log()
        );
        in_flight += 1;
    };
    let next = execution(
        "job-next",
        1,
        1,
        "QUEUED",
        json!({"operation": "echo", "message": "next"}),
    );
    rig.service.accept(&get, json!({"execution": next})).await;
    // Any request about the cancelled job would come before these.
    let claim = rig.service.expect_update("job-next").await;
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.expect_update("job-next").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    rig.service.accept(&report, json!({})).await;
    rig.service.expect_next_get().await;
    assert_eq!(
        rig.device.lines("runs").len(),
        1,
        "the cancelled plugin ran once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_without_the_job_and_a_terminal_describe_cancel_it() {
    let mut rig = Rig::start("t-cancel-notify").await;
    running(&mut rig, "job-1").await;
    // Force-cancelled: the job leaves the notify lists.
    rig.service.notify(json!({})).await;
    let describe = rig.service.skip_progress("job-1").await;
    assert!(describe.is_describe("job-1"), "{describe:?}");
    let cancelled = execution("job-1", 1, 4, "CANCELED", held());
    rig.service
        .accept(&describe, json!({"execution": cancelled}))
        .await;
    interrupted_then_next_job_runs(&mut rig, "job-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_next_naming_another_job_and_a_rejected_describe_cancel_it() {
    let mut rig = Rig::start("t-cancel-next").await;
    running(&mut rig, "job-1").await;
    let other = execution("job-other", 1, 1, "QUEUED", json!({"operation": "echo"}));
    rig.service.notify_next(Some(other)).await;
    let describe = rig.service.skip_progress("job-1").await;
    assert!(describe.is_describe("job-1"), "{describe:?}");
    rig.service
        .reject(&describe, "TerminalStateReached", None)
        .await;
    interrupted_then_next_job_runs(&mut rig, "job-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_on_the_service_cancels_it() {
    let mut rig = Rig::start("t-cancel-timeout").await;
    running(&mut rig, "job-1").await;
    // The service's in-progress timer fired: the queue is empty now.
    rig.service.notify_next(None).await;
    let describe = rig.service.skip_progress("job-1").await;
    assert!(describe.is_describe("job-1"), "{describe:?}");
    let timed_out = execution("job-1", 1, 3, "TIMED_OUT", held());
    rig.service
        .accept(&describe, json!({"execution": timed_out}))
        .await;
    interrupted_then_next_job_runs(&mut rig, "job-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_progress_update_cancels_it() {
    let mut rig = Rig::start("t-cancel-progress").await;
    let claim = rig.service.offer("job-1", held()).await;
    rig.service.accept(&claim, json!({})).await;
    // No notification at all: the agent learns only from this answer.
    let progress = rig.service.expect_update("job-1").await;
    assert_eq!(progress.status(), "IN_PROGRESS");
    rig.service
        .reject(
            &progress,
            "InvalidStateTransition",
            Some(state("CANCELED", 3)),
        )
        .await;
    interrupted_then_next_job_runs(&mut rig, "job-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_before_its_claim_is_answered_never_runs() {
    let mut rig = Rig::start("t-cancel-starting").await;
    let _claim = rig.service.offer("job-1", held()).await;
    // The claim is lost; meanwhile the job is cancelled.
    rig.service.notify(json!({})).await;
    let describe = rig.service.expect_describe("job-1").await;
    rig.service
        .reject(&describe, "ResourceNotFound", None)
        .await;
    let get = rig.service.expect_next_get().await;
    rig.service.accept(&get, json!({})).await;
    assert!(
        rig.device.lines("runs").is_empty(),
        "the plugin ran for a job cancelled before it started"
    );
    assert_eq!(rig.device.journal().running, None, "nothing left to resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_missed_while_the_broker_was_unreachable_is_found_on_reconnect() {
    let mut rig = Rig::start("t-cancel-offline").await;
    running(&mut rig, "job-1").await;
    // Offline; meanwhile the job is cancelled and the notifications that
    // said so went nowhere.
    rig.link.cut();
    rig.link.restore();
    // Back: the agent resynchronises with $next/get. Its progress updates
    // go unanswered (lost), so only the resynchronisation can tell it.
    let get = rig.service.skip_progress_unanswered("job-1").await;
    assert!(get.is_describe(NEXT), "{get:?}");
    rig.service.accept(&get, json!({})).await;
    let describe = rig.service.skip_progress_unanswered("job-1").await;
    assert!(describe.is_describe("job-1"), "{describe:?}");
    let cancelled = execution("job-1", 1, 4, "CANCELED", held());
    rig.service
        .accept(&describe, json!({"execution": cancelled}))
        .await;
    interrupted_then_next_job_runs(&mut rig, "job-1").await;
}

/// A plugin blocked inside a host call (a one-hour WASI sleep) ends at its
/// deadline like one that computes: FAILED "timed out after 1 s" (not the
/// watchdog's "abandoned", which would come 10 s later), and the agent takes
/// the next job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_blocked_in_a_host_call_ends_at_its_deadline_and_the_next_job_runs() {
    let mut rig = Rig::prepare("t-watchdog", |link| {
        super::device::Device::with_probe_timeout("t-watchdog", link, 1)
    })
    .await;
    rig.device.start();
    let blocked = probe(json!({"started": "/data/runs", "sleep_ms": 3_600_000}));
    let claim = rig.service.offer("job-1", blocked).await;
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.skip_progress("job-1").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    let reason = report.body["statusDetails"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(reason, "timed out after 1 s");
    assert!(report.at - claim.at >= std::time::Duration::from_secs(1));
    rig.service.accept(&report, json!({})).await;
    let claim = rig
        .service
        .offer("job-2", json!({"operation": "echo"}))
        .await;
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.expect_update("job-2").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(rig.device.lines("runs").len(), 1);
}

/// A cancel reaches a plugin blocked inside a host call too: the run is
/// dropped, nothing more is reported for the job, and the next one runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_blocked_in_a_host_call_stops_without_a_report() {
    let mut rig = Rig::start("t-cancel-blocked").await;
    let blocked = probe(json!({"started": "/data/runs", "sleep_ms": 3_600_000}));
    let claim = rig.service.offer("job-1", blocked.clone()).await;
    rig.service.accept(&claim, json!({})).await;
    rig.device.lines_until("runs", 1).await;
    rig.service.notify(json!({})).await;
    let describe = rig.service.expect_describe("job-1").await;
    let cancelled = execution("job-1", 1, 3, "CANCELED", blocked);
    rig.service
        .accept(&describe, json!({"execution": cancelled}))
        .await;
    interrupted_then_next_job_runs(&mut rig, "job-1").await;
    // Stopped by the cancel itself, not abandoned by the watchdog.
    assert!(
        !rig.device.log().contains("abandoned"),
        "{}",
        rig.device.log()
    );
}
