//! SIGKILL at chosen points, then a restart of the binary: what the journal
//! promises (docs/agent.md, "How the agent runs a job", step 5) holds.

use serde_json::json;

use jobhost_fleet::server::Server;
use jobhost_protocol::JobExecutionStatus;

use super::device::Device;
use super::link::Link;
use super::scripted::execution;
use super::service::{create, embedded, start_server, wait_terminal, wait_until};
use super::{probe, Rig};

/// The execution is journaled while its claim is on its way (the fsync is
/// off the job's critical path), and is on disk once the plugin runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_once_its_claim_is_accepted_the_job_is_claimed_again_and_finished() {
    let mut rig = Rig::start("t-kill-claimed").await;
    let document = probe(json!({"started": "/data/runs", "wait_for": "/data/release"}));
    let claim = rig.service.offer("job-1", document.clone()).await;
    rig.service.accept(&claim, json!({})).await;
    rig.device.lines_until("runs", 1).await;
    let running = rig
        .device
        .journal()
        .running
        .expect("journaled before the plugin ran");
    assert_eq!(
        (running.job_id.as_str(), running.execution_number),
        ("job-1", 1)
    );
    rig.device.kill();

    rig.device.release("release");
    rig.device.start();
    let in_progress = execution("job-1", 1, 2, "IN_PROGRESS", document);
    let claim = rig.service.offer_execution(in_progress).await;
    assert_eq!(claim.status(), "IN_PROGRESS");
    assert_eq!(claim.body["expectedVersion"], 2, "{claim:?}");
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.expect_update("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    rig.service.accept(&report, json!({})).await;
    rig.service.expect_next_get().await;
    let journal = rig.device.journal();
    assert_eq!((journal.running, journal.pending_report), (None, None));
}

/// Killed while the plugin waits, after it saved checkpoint `step-2`, whose
/// update to the cloud was lost: the cloud still says `step-1`.
async fn killed_mid_run(thing: &str) -> Rig {
    let mut rig = Rig::start(thing).await;
    let document = probe(json!({
        "started": "/data/runs", "checkpoint": "step-2", "wait_for": "/data/release"
    }));
    let claim = rig.service.offer("job-1", document.clone()).await;
    rig.service.accept(&claim, json!({})).await;
    // Published only once the checkpoint is durable; left unanswered.
    let saved = rig.service.expect_update("job-1").await;
    assert_eq!(
        saved.body["statusDetails"]["checkpoint"], "step-2",
        "{saved:?}"
    );
    rig.device.kill();
    let running = rig.device.journal().running.expect("the running execution");
    assert_eq!(running.checkpoint.as_deref(), Some("step-2"));
    rig
}

/// Restarts the killed device and offers the execution back as the cloud
/// has it (IN_PROGRESS, checkpoint `step-1`); returns what the resumed run
/// was handed.
async fn resume(rig: &mut Rig) -> String {
    let document = probe(json!({
        "started": "/data/runs", "checkpoint": "step-2", "wait_for": "/data/release"
    }));
    let runs = resume_killed(rig, document, "step-1").await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0], "checkpoint=-", "the first run starts fresh");
    runs[1].clone()
}

/// Starts the killed device again with its `/data/release` in place, offers
/// the execution of `document` back as the cloud has it (IN_PROGRESS, with
/// `cloud_checkpoint` in its statusDetails) and sees it to SUCCEEDED;
/// returns the probe's `/data/runs` lines.
pub async fn resume_killed(
    rig: &mut Rig,
    document: serde_json::Value,
    cloud_checkpoint: &str,
) -> Vec<String> {
    rig.device.release("release");
    rig.device.start();
    let mut in_progress = execution("job-1", 1, 2, "IN_PROGRESS", document);
    in_progress["statusDetails"] = json!({ "checkpoint": cloud_checkpoint });
    let claim = rig.service.offer_execution(in_progress).await;
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.skip_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    rig.service.accept(&report, json!({})).await;
    rig.service.expect_next_get().await;
    rig.device.lines("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_run_it_resumes_from_the_journal_not_the_stale_cloud_copy() {
    let mut rig = killed_mid_run("t-kill-midrun").await;
    assert_eq!(resume(&mut rig).await, "checkpoint=step-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_run_with_its_disk_wiped_it_resumes_from_the_cloud_copy() {
    let mut rig = killed_mid_run("t-kill-wiped").await;
    std::fs::remove_file(rig.device.state_dir().join("journal.log")).unwrap();
    assert_eq!(resume(&mut rig).await, "checkpoint=step-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_journaling_its_status_and_publishing_it_the_status_is_sent_and_not_rerun() {
    let mut rig = Rig::start("t-kill-report").await;
    let document = probe(json!({"started": "/data/runs", "wait_for": "/data/release"}));
    let claim = rig.service.offer("job-1", document.clone()).await;
    rig.service.accept(&claim, json!({})).await;
    rig.device.lines_until("runs", 1).await;

    // The plugin finishes while the broker is unreachable: the status is
    // journaled, its publish cannot leave the device; then the power goes.
    rig.link.cut();
    rig.device.release("release");
    rig.device
        .journal_until("the terminal status", |j| j.pending_report.is_some())
        .await;
    rig.device.kill();
    let journaled = rig.device.journal().pending_report.unwrap();
    assert_eq!(rig.device.journal().running, None);

    rig.link.restore();
    rig.device.start();
    // Before anything else: the journaled status, as journaled.
    let report = rig.service.expect_update("job-1").await;
    assert_eq!(
        serde_json::to_value(journaled.status).unwrap(),
        report.body["status"]
    );
    assert_eq!(
        serde_json::to_value(&journaled.status_details).unwrap(),
        report.body["statusDetails"]
    );
    assert_eq!(report.body["executionNumber"], 1);
    rig.service.accept(&report, json!({})).await;

    // A service view that lags still offers the execution: not run again.
    let get = rig.service.expect_next_get().await;
    let stale = execution("job-1", 1, 2, "IN_PROGRESS", document);
    rig.service.accept(&get, json!({"execution": stale})).await;
    let next = execution("job-2", 1, 1, "QUEUED", json!({"operation": "echo"}));
    rig.service.notify_next(Some(next)).await;
    let claim = rig.service.expect_update("job-2").await;
    assert_eq!(claim.status(), "IN_PROGRESS");
    assert_eq!(rig.device.lines("runs").len(), 1, "job-1 ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_stops_the_agent_cleanly_and_the_run_resumes_at_the_next_start() {
    let mut rig = Rig::start("t-sigterm").await;
    let document = probe(json!({
        "started": "/data/runs", "checkpoint": "step-2", "wait_for": "/data/release"
    }));
    let claim = rig.service.offer("job-1", document.clone()).await;
    rig.service.accept(&claim, json!({})).await;
    let saved = rig.service.expect_update("job-1").await;
    rig.service.accept(&saved, json!({})).await;
    // systemd's stop: the agent exits 0 without waiting for the plugin.
    let status = rig.device.terminate().await;
    assert!(status.success(), "{status}\n{}", rig.device.log());
    assert_eq!(resume(&mut rig).await, "checkpoint=step-2");
}

/// The same kills against the real jobs service (embedded broker, SQLite):
/// what the operator sees ends terminal, with the right status, and no run
/// whose status was journaled runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_the_real_service_no_execution_is_left_in_progress() {
    const THING: &str = "t-kill-real";
    let dir = tempfile::tempdir().unwrap();
    let server: Server = start_server(dir.path(), embedded()).await;
    let link = Link::start(server.mqtt_addr).await;
    let mut device = Device::new(THING, link.addr());
    device.start();

    // Mid-run, after a checkpoint the service recorded.
    let document = probe(json!({
        "started": "/data/mid", "checkpoint": "half", "wait_for": "/data/release-mid"
    }));
    create(&server, THING, "mid", document);
    wait_until(&server, THING, "mid", "the checkpoint recorded", |e| {
        e.status_details
            .as_ref()
            .is_some_and(|d| d.get("checkpoint") == Some("half"))
    })
    .await;
    device.kill();
    device.release("release-mid");
    device.start();
    let e = wait_terminal(&server, THING, "mid").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{e:?}\n{}",
        device.log()
    );
    assert_eq!(device.lines("mid"), ["checkpoint=-", "checkpoint=half"]);

    // Between journaling the status and publishing it.
    let document = probe(json!({"started": "/data/end", "wait_for": "/data/release-end"}));
    create(&server, THING, "end", document);
    device.lines_until("end", 1).await;
    link.cut();
    device.release("release-end");
    device
        .journal_until("the terminal status", |j| j.pending_report.is_some())
        .await;
    device.kill();
    link.restore();
    device.start();
    let e = wait_terminal(&server, THING, "end").await;
    assert_eq!(
        e.status,
        JobExecutionStatus::Succeeded,
        "{e:?}\n{}",
        device.log()
    );
    // The agent takes the next job: nothing of either is left on it.
    create(&server, THING, "after", json!({"operation": "echo"}));
    let e = wait_terminal(&server, THING, "after").await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");
    assert_eq!(device.lines("end").len(), 1, "ran once");
    // (The service records the status before the agent hears it accepted.)
    device
        .journal_until("nothing left to resume or resend", |j| {
            j.running.is_none() && j.pending_report.is_none()
        })
        .await;
    server.stop().await;
}

/// A run that takes the agent down every time (here: a SIGKILL each time it
/// is running) is resumed at most 5 times in a row (docs/agent.md,
/// "Restarts");
/// the next start reports it FAILED with the reason instead of running it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_agent_never_gets_through_is_not_resumed_forever() {
    const MAX_RESTARTS: usize = 5;
    let mut rig = Rig::start("t-kill-loop").await;
    let document = probe(json!({"started": "/data/runs", "wait_for": "/data/never"}));
    let claim = rig.service.offer("job-1", document.clone()).await;
    rig.service.accept(&claim, json!({})).await;
    for run in 1..=MAX_RESTARTS + 1 {
        rig.device.lines_until("runs", run).await;
        rig.device.kill();
        rig.device.start();
        let in_progress = execution("job-1", 1, run as u64 + 1, "IN_PROGRESS", document.clone());
        let claim = rig.service.offer_execution(in_progress).await;
        rig.service.accept(&claim, json!({})).await;
    }
    let report = rig.service.expect_update("job-1").await;
    assert_eq!(report.status(), "FAILED", "{report:?}");
    assert_eq!(
        report.body["statusDetails"]["reason"],
        "the agent restarted 6 times in a row during this run; not resumed again"
    );
    assert_eq!(
        rig.device.lines("runs").len(),
        MAX_RESTARTS + 1,
        "the first run and five resumes, then no more"
    );
}
