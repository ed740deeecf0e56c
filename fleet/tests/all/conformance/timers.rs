//! The service's own timeout loop (`fleet/src/device_api/mod.rs`), with no
//! test calling [`Server::sweep_timeouts`]: the other timer tests sweep by
//! hand, so without these the loop could be deleted and every test would
//! stay green.
//!
//! The loop sleeps on real time, until the next deadline by the service's
//! clock but never longer than `MAX_TIMER_SLEEP` (5 s), and re-reads the
//! clock when it wakes. So a test moves the injected clock past a deadline
//! and waits for the loop's next wake to notice, polling the store with a
//! generous guard ([`crate::support::service::JOB_WAIT`]). The loop also
//! wakes for every message, which the tests avoid sending while they wait,
//! so that nothing but the timer can be what fired.

use super::*;
use crate::support::agent::Agent;
use crate::support::recorder::{describe, Message, Recorder};
use crate::support::service::{wait_terminal, wait_until};
use jobhost_protocol::JobExecutionStatus;

/// Waits until the service's timer has moved `job` on `thing` to
/// TIMED_OUT; returns its versionNumber then.
async fn timed_out(fleet: &Fleet, thing: &str, job: &str) -> u64 {
    wait_until(&fleet.server, thing, job, "TIMED_OUT by the timer", |e| {
        e.status == JobExecutionStatus::TimedOut
    })
    .await
    .version_number
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_times_out_an_in_progress_execution_by_itself() {
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

    fleet.at(61);
    assert_eq!(timed_out(&fleet, "t1", "j1").await, 3);
    // The loop hands the change to the notifier, as the sweep would.
    let [notify, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(notify, json!({ "timestamp": T0 + 61, "jobs": {} }));
    assert_eq!(next, json!({ "timestamp": T0 + 61 }));
    t1.probe("nothing-else").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_times_out_a_lapsed_step_by_itself() {
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

    fleet.at(61);
    timed_out(&fleet, "t1", "j1").await;
    let [notify, next] = two(t1.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(notify, json!({ "timestamp": T0 + 61, "jobs": {} }));
    assert_eq!(next, json!({ "timestamp": T0 + 61 }));
}

/// Deadlines are stored, not held in the sleeping task: one that passed
/// while the service was down fires when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_that_passed_while_the_service_was_down_fires_when_it_starts() {
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
    drop(t1);
    let (dir, clock) = fleet.stop().await;

    clock.set(T0 + 3600);
    let fleet = Fleet::start_in(dir, clock, embedded()).await;
    timed_out(&fleet, "t1", "j1").await;
    let mut t1 = fleet.replies_only("t1").await;
    let reply = t1.accepted("$next/get", json!({})).await;
    assert!(reply.get("execution").is_none(), "{reply}");
    fleet.stop().await;
}

const AGENT_THING: &str = "timer-agent";

/// The spinning plugin's own time limit: well past every wait of the test
/// ([`crate::support::service::JOB_WAIT`]), so that only the agent
/// interrupting it explains a next job that runs in time (and a run ended
/// by this limit would be reported FAILED, an update the witness would
/// see). Not longer: a failing test's runtime waits for the plugin's
/// blocking thread (which stopping the agent does not end) before the
/// process can exit.
const PROBE_LIMIT_SECS: u64 = 120;

/// The real agent (in-process) running a plugin that spins, with a plugin
/// time limit of [`PROBE_LIMIT_SECS`], on a job with a one-minute
/// in-progress timeout. When the service's timer times the execution out, the agent hears it
/// (notify / notify-next, then a describe saying TIMED_OUT), interrupts the
/// plugin and reports nothing more for it: a witness on the broker sees no
/// update for that job after the timeout, and the next job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_interrupts_a_plugin_whose_execution_timed_out() {
    let fleet = Fleet::start().await;
    let jobs = format!("$aws/things/{AGENT_THING}/jobs/");
    let witness = Recorder::start(
        fleet.server.service_mqtt_options("timer-witness"),
        &format!("{jobs}#"),
    )
    .await;
    let agent_dir = tempfile::tempdir().unwrap();
    let dir = agent_dir.path();
    let (key, _) = crate::support::plugins::operator_key(dir, "operator.key");
    crate::support::plugins::provision(&dir.join("plugins"), &key, &["echo", "test-probe"]);
    let config = crate::support::agent::write_config(
        dir,
        AGENT_THING,
        fleet.server.mqtt_addr.port(),
        &format!("[plugins.test-probe.limits]\ntimeout_secs = {PROBE_LIMIT_SECS}\n"),
    );
    let agent = Agent::start(&config);

    // A first run compiles the probe (the agent caches it), so that the
    // spinning run starts as soon as it is claimed.
    fleet.create(
        "warm-up",
        &[AGENT_THING],
        &json!({ "operation": "test-probe" }),
    );
    let e = wait_terminal(&fleet.server, AGENT_THING, "warm-up").await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");

    fleet.create_job(CreateJob {
        job_id: "spin".into(),
        targets: vec![AGENT_THING.into()],
        document: json!({ "operation": "test-probe", "spin": true }).into(),
        in_progress_timeout_minutes: Some(1),
        ..CreateJob::default()
    });
    wait_until(
        &fleet.server,
        AGENT_THING,
        "spin",
        "the agent's claim",
        |e| e.status == JobExecutionStatus::InProgress,
    )
    .await;

    fleet.at(61);
    let version = timed_out(&fleet, AGENT_THING, "spin").await;
    // The agent learns it from the notifications the timer caused and asks
    // about its execution: the describe comes after them, and before any
    // other job exists that could have prompted it.
    let notifications = [format!("{jobs}notify"), format!("{jobs}notify-next")];
    let timeout_at = |log: &[Message]| {
        log.iter()
            .position(|m| notifications.contains(&m.topic) && m.json()["timestamp"] == T0 + 61)
    };
    let describe_topic = format!("{jobs}spin/get");
    witness
        .wait_for("the agent describing spin after the timeout", |log| {
            timeout_at(log).is_some_and(|t| log[t..].iter().any(|m| m.topic == describe_topic))
        })
        .await;

    // The plugin would spin for an hour: a next job that runs shows that
    // it was interrupted.
    fleet.create(
        "after",
        &[AGENT_THING],
        &json!({ "operation": "echo", "message": "next" }),
    );
    let e = wait_terminal(&fleet.server, AGENT_THING, "after").await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");

    // Everything the agent published up to its report on "after" has
    // reached the witness (one publisher, in order).
    let after_update = format!("{jobs}after/update");
    let log = witness
        .wait_for("the agent's report on the next job", |log| {
            log.iter()
                .any(|m| m.topic == after_update && m.json()["status"] == "SUCCEEDED")
        })
        .await;
    let t = timeout_at(&log).unwrap();
    let spin_update = format!("{jobs}spin/update");
    let late: Vec<&Message> = log[t..].iter().filter(|m| m.topic == spin_update).collect();
    assert!(
        late.is_empty(),
        "the agent sent updates for the timed-out execution:\n{}",
        describe(&log)
    );
    for m in log[..t].iter().filter(|m| m.topic == spin_update) {
        assert_eq!(m.json()["status"], "IN_PROGRESS", "{}", describe(&log));
    }
    let e = crate::support::service::execution(&fleet.server, AGENT_THING, "spin");
    assert_eq!(
        (e.status, e.version_number),
        (JobExecutionStatus::TimedOut, version)
    );
    agent.stop().await;
    fleet.stop().await;
}
