//! Reports that survive silence, reconnects and rejections; claims; dedupe.

use std::time::Duration;

use serde_json::json;

use super::scripted::{execution, state, Request};
use super::{probe, Rig};

/// The agent's wait for a reply before re-sending (docs/agent.md, "How the
/// agent runs a job", step 5).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Offers `job` (execution 1) in answer to the agent's first `$next/get`,
/// accepts its claim and returns the terminal update it then publishes.
async fn run_to_report(rig: &mut Rig, job: &str, document: serde_json::Value) -> Request {
    let claim = rig.service.offer(job, document).await;
    assert_eq!(claim.status(), "IN_PROGRESS", "{claim:?}");
    assert_eq!(claim.body["expectedVersion"], 1, "the claim is conditional");
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.skip_progress(job).await;
    assert!(report.is_update(job), "{report:?}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_is_journaled_before_it_is_published_and_resent_after_10_s_of_silence() {
    let mut rig = Rig::start("t-silence").await;
    let report = run_to_report(&mut rig, "job-1", probe(json!({"started": "/data/runs"}))).await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    // The service has the update in hand: the journal must already hold it,
    // or a crash right now would lose a status the agent thinks it sent.
    let journaled = rig
        .device
        .journal()
        .pending_report
        .expect("the terminal status is in the journal before it is published");
    assert_eq!(
        serde_json::to_value(journaled.status).unwrap(),
        report.body["status"]
    );
    assert_eq!(
        serde_json::to_value(&journaled.status_details).unwrap(),
        report.body["statusDetails"]
    );

    // No reply: the same request, same clientToken, after REPLY_TIMEOUT.
    let again = rig.service.next_request().await;
    assert_eq!(again.body, report.body, "re-sent unchanged");
    assert!(
        again.at - report.at >= REPLY_TIMEOUT,
        "re-sent after {:?}, before the reply timeout",
        again.at - report.at
    );

    rig.service.accept(&again, json!({})).await;
    rig.service.expect_next_get().await;
    // The status is accepted (the agent asked for the next job only after
    // it cleared the journal).
    assert_eq!(rig.device.journal().pending_report, None);
    assert_eq!(rig.device.lines("runs"), ["checkpoint=-"], "ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_is_resent_with_the_same_token_when_the_connection_comes_back() {
    let mut rig = Rig::start("t-reconnect").await;
    let report = run_to_report(&mut rig, "job-1", probe(json!({}))).await;
    // The broker acknowledged it (rumqttc keeps nothing to resend); the
    // reply never comes because the connection drops.
    rig.link.cut();
    rig.link.restore();
    let again = rig.service.next_request().await;
    assert_eq!(again.body, report.body, "same payload, same clientToken");
    // Told apart from the 10 s resend: the agent reconnects after 1-2 s
    // (its backoff), so a resend made on reconnect comes well before it.
    assert!(
        again.at - report.at < REPLY_TIMEOUT,
        "re-sent only after {:?}: not on reconnect\n{}",
        again.at - report.at,
        rig.device.log()
    );
    assert!(rig.link.connections() >= 2, "it came over a new connection");
    rig.service.accept(&again, json!({})).await;
    rig.service.expect_next_get().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_and_throttling_are_retried_with_growing_delays() {
    let mut rig = Rig::start("t-transient").await;
    let report = run_to_report(&mut rig, "job-1", probe(json!({}))).await;
    rig.service.reject(&report, "InternalError", None).await;
    let second = rig.service.next_request().await;
    assert_eq!(second.body, report.body, "same request, same token");
    let first_gap = second.at - report.at;
    assert!(first_gap >= REPLY_TIMEOUT, "retried after {first_gap:?}");

    rig.service.reject(&second, "RequestThrottled", None).await;
    let third = rig.service.next_request().await;
    assert_eq!(third.body, report.body, "same request, same token");
    // The delays double (with jitter in [½, 1)): the second retry waits at
    // least twice the reply timeout.
    let second_gap = third.at - second.at;
    assert!(
        second_gap >= 2 * REPLY_TIMEOUT,
        "second retry after {second_gap:?}: no backoff"
    );

    rig.service.accept(&third, json!({})).await;
    rig.service.expect_next_get().await;
    assert_eq!(rig.device.journal().pending_report, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_rejection_ends_the_resending() {
    let mut rig = Rig::start("t-permanent").await;
    // One job per permanent answer; each must end with the agent moving on
    // (its $next/get) and the journal cleared, never with a resend.
    let answers = [
        ("InvalidRequest", None),
        ("ResourceNotFound", None),
        ("InvalidStateTransition", Some(state("CANCELED", 3))),
        ("VersionMismatch", Some(state("TIMED_OUT", 3))),
    ];
    let mut get = rig.service.expect_next_get().await;
    for (n, (code, execution_state)) in answers.into_iter().enumerate() {
        let job = format!("job-{n}");
        let queued = execution(&job, 1, 1, "QUEUED", probe(json!({})));
        rig.service.accept(&get, json!({"execution": queued})).await;
        let claim = rig.service.expect_update(&job).await;
        rig.service.accept(&claim, json!({})).await;
        let report = rig.service.skip_progress(&job).await;
        assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
        rig.service.reject(&report, code, execution_state).await;
        // The very next request: the agent asks for more work, so it has
        // dropped the report (a resend would come first, or never).
        get = rig.service.expect_next_get().await;
        assert_eq!(
            rig.device.journal().pending_report,
            None,
            "{code}: the journal still holds the refused status"
        );
    }
    rig.service.accept(&get, json!({})).await;
    // And it stays dropped: nothing in the window where a resend would come.
    rig.service
        .expect_silence(REPLY_TIMEOUT + Duration::from_secs(3))
        .await;
}

/// An idle agent's `$next/get` that nobody answers is asked again (same
/// clientToken) after the reply timeout, and the job offered in the reply
/// runs. The broker drops a request when no service is subscribed as it
/// arrives (jobhost-fleet restarting on an external broker); without the
/// resend the agent waited for a notify-next that only a new head of its
/// queue sends, with jobs queued (`scripts/soak` found it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_next_get_is_asked_again() {
    let mut rig = Rig::start("t-next-lost").await;
    let lost = rig.service.expect_next_get().await;
    let again = rig.service.expect_next_get().await;
    assert_eq!(again.body, lost.body, "re-sent unchanged, same clientToken");
    assert!(
        again.at - lost.at >= REPLY_TIMEOUT,
        "re-sent after {:?}, before the reply timeout",
        again.at - lost.at
    );
    let queued = execution(
        "job-1",
        1,
        1,
        "QUEUED",
        probe(json!({"started": "/data/runs"})),
    );
    rig.service
        .accept(&again, json!({"execution": queued}))
        .await;
    let claim = rig.service.expect_update("job-1").await;
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.skip_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(rig.device.lines("runs"), ["checkpoint=-"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_lost_a_version_race_is_made_again_at_the_current_version() {
    let mut rig = Rig::start("t-claim-race").await;
    let get = rig.service.expect_next_get().await;
    let queued = execution(
        "job-1",
        1,
        1,
        "QUEUED",
        probe(json!({"started": "/data/runs"})),
    );
    rig.service.accept(&get, json!({"execution": queued})).await;
    let claim = rig.service.expect_update("job-1").await;
    assert_eq!(claim.body["expectedVersion"], 1);
    // Someone moved it meanwhile (e.g. our own earlier claim).
    rig.service
        .reject(&claim, "VersionMismatch", Some(state("QUEUED", 3)))
        .await;
    let again = rig.service.expect_update("job-1").await;
    assert_eq!(again.status(), "IN_PROGRESS");
    assert_eq!(again.body["expectedVersion"], 3, "{again:?}");
    assert!(
        rig.device.lines("runs").is_empty(),
        "the plugin ran before its claim was accepted"
    );
    rig.service.accept(&again, json!({})).await;
    let report = rig.service.skip_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(rig.device.lines("runs").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_refused_for_good_never_runs_the_plugin() {
    let mut rig = Rig::start("t-claim-refused").await;
    let mut get = rig.service.expect_next_get().await;
    let refusals = [
        ("VersionMismatch", Some(state("CANCELED", 4))),
        ("InvalidStateTransition", Some(state("REMOVED", 2))),
        ("ResourceNotFound", None),
    ];
    for (n, (code, execution_state)) in refusals.into_iter().enumerate() {
        let job = format!("job-{n}");
        let document = probe(json!({"started": format!("/data/{job}")}));
        let queued = execution(&job, 1, 1, "QUEUED", document);
        rig.service.accept(&get, json!({"execution": queued})).await;
        let claim = rig.service.expect_update(&job).await;
        rig.service.reject(&claim, code, execution_state).await;
        get = rig.service.expect_next_get().await;
        assert!(
            rig.device.lines(&job).is_empty(),
            "{code}: the plugin ran for a claim that was refused"
        );
    }
    // A transient refusal of the claim is retried, not taken as final.
    let queued = execution("job-t", 1, 1, "QUEUED", probe(json!({})));
    rig.service.accept(&get, json!({"execution": queued})).await;
    let claim = rig.service.expect_update("job-t").await;
    rig.service.reject(&claim, "RequestThrottled", None).await;
    let again = rig.service.expect_update("job-t").await;
    assert_eq!(again.body, claim.body, "the same claim, same token");
    assert!(again.at - claim.at >= REPLY_TIMEOUT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_runs_once_per_execution_number() {
    let mut rig = Rig::start("t-dedupe").await;
    let document = probe(json!({"started": "/data/runs", "wait_for": "/data/release"}));
    rig.device.release("release");
    let get = rig.service.expect_next_get().await;
    let first = execution("job-1", 1, 1, "QUEUED", document.clone());
    rig.service
        .accept(&get, json!({"execution": first.clone()}))
        .await;
    let claim = rig.service.expect_update("job-1").await;
    rig.service.accept(&claim, json!({})).await;
    let report = rig.service.skip_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED");
    rig.service.accept(&report, json!({})).await;
    let get = rig.service.expect_next_get().await;

    // Stale: the reply to $next/get and a late notify-next still offer
    // execution 1 as QUEUED (the service's view lagging, or a duplicate
    // delivery). Then execution 2 of the same job (a retry) is offered.
    // Messages arrive in order, so if either stale offer were claimed,
    // that claim would be the next request, before execution 2's.
    rig.service
        .accept(&get, json!({"execution": first.clone()}))
        .await;
    rig.service.notify_next(Some(first)).await;
    rig.device.hold("release");
    let second = execution("job-1", 2, 1, "QUEUED", document.clone());
    rig.service.notify_next(Some(second.clone())).await;
    let claim = rig.service.expect_update("job-1").await;
    assert_eq!(claim.body["executionNumber"], 2, "{claim:?}");
    rig.service.accept(&claim, json!({})).await;

    // While execution 2 runs, duplicates of its own offer change nothing.
    let running = execution("job-1", 2, 2, "IN_PROGRESS", document);
    rig.service.notify_next(Some(running.clone())).await;
    rig.service.notify_next(Some(running)).await;
    rig.device.release("release");
    let report = rig.service.skip_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    assert_eq!(report.body["executionNumber"], 2);
    assert_eq!(rig.device.lines("runs").len(), 2, "one run per execution");
}

/// The journal's promise at the level where it matters, the kernel: the
/// terminal status is written into the journal's record log and the log
/// is fdatasynced, both before the first byte of the report is written to
/// the socket. (Reading the journal when the report arrives cannot tell a
/// sync from a write still in the page cache.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_is_fsynced_before_it_leaves_the_process() {
    let Rig {
        mut service,
        mut device,
        link: _link,
    } = Rig::prepare("t-fsync", |link| {
        super::device::Device::new("t-fsync", link)
    })
    .await;
    let trace = device.dir().join("strace.log");
    device.start_traced(&trace);
    let claim = service.offer("job-1", probe(json!({}))).await;
    service.accept(&claim, json!({})).await;
    let report = service.skip_progress("job-1").await;
    assert_eq!(report.status(), "SUCCEEDED", "{report:?}");
    service.accept(&report, json!({})).await;
    service.expect_next_get().await;
    device.kill();

    let trace = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    // The first line at or after `from` that passes `test`, as the line
    // where that call returned.
    let find = |from: usize, what: &str, test: &dyn Fn(&str) -> bool| -> usize {
        let at = lines[from..]
            .iter()
            .position(|l| test(l))
            .unwrap_or_else(|| panic!("no {what} after line {from} in:\n{trace}"));
        returned(&lines, from + at)
    };
    let state = device.state_dir();
    let state = state.to_str().unwrap();
    let log = format!("{state}/journal.log>");
    let written = find(0, "journal write of the status", &|l| {
        l.contains(&log) && l.contains("pwrite64(") && l.contains("SUCCEEDED")
    });
    let synced = find(written, "fdatasync of the journal", &|l| {
        l.contains("fdatasync(") && l.contains(&log)
    });
    let sent = lines
        .iter()
        .position(|l| l.contains("socket:") && l.contains("SUCCEEDED"))
        .unwrap_or_else(|| panic!("the report never reached a socket:\n{trace}"));
    assert!(
        synced < sent,
        "the report left (line {sent}) before the journal was durable (line {synced}):\n{trace}"
    );
}

/// The line where the syscall that starts on line `at` returned: strace
/// splits a call another thread interrupts into `<unfinished ...>` and a
/// later `<... NAME resumed>` line of the same thread.
fn returned(lines: &[&str], at: usize) -> usize {
    if !lines[at].contains("<unfinished ...>") {
        return at;
    }
    let pid = lines[at].split_whitespace().next().unwrap_or_default();
    lines[at + 1..]
        .iter()
        .position(|l| l.starts_with(pid) && l.contains("resumed>"))
        .map_or(lines.len(), |n| at + 1 + n)
}
