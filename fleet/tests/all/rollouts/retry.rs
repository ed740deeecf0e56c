//! Retries (`jobExecutionsRetryConfig`) through the whole service:
//! CreateJob, UpdateJob, DescribeJob, the execution lists and
//! DescribeJobExecution over HTTP; a device on the embedded broker that
//! fails its execution and is notified of the retry; and the real agent
//! running the retry to SUCCEEDED.

use super::*;
use crate::conformance::{two, Device};
use crate::support;
use crate::support::agent::Agent;
use crate::support::service::{wait_terminal, wait_until};
use jobhost_protocol::JobExecutionStatus;

fn criteria(list: &[(&str, u32)]) -> Value {
    let list: Vec<Value> = list
        .iter()
        .map(|(t, n)| json!({ "failureType": t, "numberOfRetries": n }))
        .collect();
    json!({ "criteriaList": list })
}

fn retrying(list: &[(&str, u32)]) -> Value {
    json!({ "jobExecutionsRetryConfig": criteria(list) })
}

/// `PATCH /jobs/{id}` with `body`: the status and the JSON body.
async fn update_job(fleet: &Fleet, id: &str, body: Value) -> (StatusCode, Value) {
    send(
        fleet
            .http
            .patch(fleet.url(&format!("/jobs/{id}")))
            .json(&body),
    )
    .await
}

/// Ends the device's execution of `j1` with the update `body`; returns
/// the `notify` and `notify-next` that follow.
async fn end(device: &mut Device, body: Value) -> [Value; 2] {
    two(device
        .accepted_notifying("j1/update", body, &["notify", "notify-next"])
        .await)
}

/// (executionNumber, status, retryAttempt) of each `jobExecutionSummary`
/// of a ListJobExecutions reply.
fn summaries(list: &Value) -> Vec<(u64, String, u64)> {
    list["executionSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = &e["jobExecutionSummary"];
            (
                s["executionNumber"].as_u64().unwrap(),
                s["status"].as_str().unwrap().to_owned(),
                s["retryAttempt"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_job_refuses_a_retry_config_aws_would_refuse_naming_the_field() {
    let fleet = Fleet::start().await;
    let p = "jobExecutionsRetryConfig.criteriaList";
    for (config, path, says) in [
        (
            criteria(&[("FAILED", 11)]),
            format!("{p}[0].numberOfRetries"),
            "0 to 10",
        ),
        (
            criteria(&[("REJECTED", 1)]),
            format!("{p}[0].failureType"),
            "FAILED, TIMED_OUT, ALL",
        ),
        (criteria(&[]), p.to_owned(), "1 to 2"),
        (
            criteria(&[("FAILED", 6), ("TIMED_OUT", 5)]),
            p.to_owned(),
            "at most 10",
        ),
        (
            criteria(&[("ALL", 1), ("ALL", 1)]),
            format!("{p}[1].failureType"),
            "twice",
        ),
    ] {
        let body = json!({ "jobExecutionsRetryConfig": config });
        let (code, reply) = create(&fleet, "j1", &names(1), body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{reply}");
        let m = message(&reply);
        assert!(
            m.starts_with(&format!("{path} ")) && m.contains(says),
            "{m}"
        );
    }
    let (code, _) = create(&fleet, "j1", &names(1), json!({})).await;
    assert_eq!(code, StatusCode::OK, "no refused request made the job");

    let config = criteria(&[("ALL", 3), ("FAILED", 2)]);
    created(
        &fleet,
        "j2",
        &names(1),
        json!({ "jobExecutionsRetryConfig": config }),
    )
    .await;
    assert_eq!(
        describe(&fleet, "j2").await["jobExecutionsRetryConfig"],
        config,
        "returned as given, in AWS's shape"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_execution_is_retried_as_a_new_execution_its_device_is_told_of() {
    let fleet = Fleet::start().await;
    let mut device = fleet.device("t000").await;
    created(&fleet, "j1", &names(1), retrying(&[("FAILED", 1)])).await;
    let first = next_notify_next(&mut device).await.unwrap();
    assert_eq!(first["executionNumber"], 1);

    fleet.at(5);
    let [notify, next] = end(&mut device, json!({ "status": "FAILED" })).await;
    // The retry is the thing's pending execution: number 2, version 1.
    assert_eq!(
        notify["jobs"]["QUEUED"][0]["executionNumber"], 2,
        "{notify}"
    );
    let retry = &next["execution"];
    assert_eq!(
        (
            &retry["jobId"],
            &retry["executionNumber"],
            &retry["versionNumber"],
            &retry["status"],
            &retry["queuedAt"]
        ),
        (
            &json!("j1"),
            &json!(2),
            &json!(1),
            &json!("QUEUED"),
            &json!(T0 + 5)
        ),
        "{next}"
    );
    assert_eq!(retry["jobDocument"], json!({ "operation": "update" }));

    // The control plane: both executions, with AWS's retryAttempt.
    let for_job = get(&fleet, "/jobs/j1/things").await;
    assert_eq!(
        summaries(&for_job),
        [(1, "FAILED".into(), 0), (2, "QUEUED".into(), 1)]
    );
    let for_thing = get(&fleet, "/things/t000/jobs").await;
    assert_eq!(summaries(&for_thing), summaries(&for_job));
    let old = get(&fleet, "/things/t000/jobs/j1?executionNumber=1").await;
    assert_eq!(
        (
            &old["execution"]["status"],
            &old["execution"]["executionNumber"]
        ),
        (&json!("FAILED"), &json!(1))
    );
    let latest = get(&fleet, "/things/t000/jobs/j1").await;
    assert_eq!(latest["execution"]["executionNumber"], 2);
    let job = describe(&fleet, "j1").await;
    assert_eq!(job["status"], "IN_PROGRESS", "not complete: a retry waits");
    assert_eq!(job["jobProcessDetails"]["numberOfQueuedThings"], 1);

    // The retry fails too: the one retry is spent, the job completes.
    device
        .accepted_notifying(
            "j1/update",
            json!({ "status": "IN_PROGRESS", "executionNumber": 2, "expectedVersion": 1 }),
            &["notify"],
        )
        .await;
    let [notify, next] = end(
        &mut device,
        json!({ "status": "FAILED", "executionNumber": 2 }),
    )
    .await;
    assert_eq!(notify["jobs"], json!({}));
    assert!(next.get("execution").is_none(), "{next}");
    assert_eq!(status(&fleet, "j1").await, "COMPLETED");
    assert_eq!(
        summaries(&get(&fleet, "/jobs/j1/things").await),
        [(1, "FAILED".into(), 0), (2, "FAILED".into(), 1)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_job_may_set_retries_to_zero_and_nothing_else() {
    let fleet = Fleet::start().await;
    let mut device = fleet.device("t000").await;
    created(&fleet, "j1", &names(1), retrying(&[("ALL", 4)])).await;
    next_notify_next(&mut device).await.unwrap();

    let (code, reply) = update_job(&fleet, "j1", retrying(&[("FAILED", 2)])).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{reply}");
    let m = message(&reply);
    assert!(
        m.starts_with("jobExecutionsRetryConfig.criteriaList[0].numberOfRetries ")
            && m.contains("only be set to 0"),
        "{m}"
    );
    let (code, reply) = update_job(&fleet, "j1", retrying(&[("FAILED", 0)])).await;
    assert_eq!(code, StatusCode::OK, "{reply}");
    assert_eq!(
        describe(&fleet, "j1").await["jobExecutionsRetryConfig"],
        criteria(&[("ALL", 4), ("FAILED", 0)]),
        "FAILED stops; TIMED_OUT keeps ALL's retries"
    );
    // A failure now ends the thing's execution for good.
    let [_, next] = end(&mut device, json!({ "status": "FAILED" })).await;
    assert!(next.get("execution").is_none(), "{next}");
    assert_eq!(status(&fleet, "j1").await, "COMPLETED");
}

/// Execution 1 of `j1` on `t000`, as the store holds it.
fn first_execution(fleet: &Fleet) -> jobhost_fleet::store::ExecutionRecord {
    let store = fleet.server.store.lock().unwrap();
    store.describe_execution("j1", "t000", Some(1)).unwrap()
}

/// The real agent for `t000`, in `fleet`'s directory under the name of
/// its one plugin, the real `plugin`, configured with `extra`; returns it
/// and its directory.
fn start_agent(fleet: &Fleet, plugin: &str, extra: &str) -> (Agent, std::path::PathBuf) {
    let dir = fleet.dir.path().join(plugin);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let (key, _) = support::plugins::operator_key(&dir, "operator.key");
    support::plugins::provision(&dir.join("plugins"), &key, &[plugin]);
    let port = fleet.server.mqtt_addr.port();
    let config = support::agent::write_config(&dir, "t000", port, extra);
    (Agent::start(&config), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_runs_the_retry_of_a_failed_execution_to_succeeded() {
    let fleet = Fleet::start().await;
    let allow_sh = "[plugins.run-command]\nrun_commands = [\"/bin/sh\"]\n";
    let (agent, _) = start_agent(&fleet, "run-command", allow_sh);
    // Fails the first time it runs, and succeeds from then on: the first
    // run leaves a marker behind.
    let marker = fleet.dir.path().join("ran-once");
    let script = format!(
        "if [ -e '{0}' ]; then echo second run; else touch '{0}'; echo first run; exit 3; fi",
        marker.display()
    );
    let document = json!({ "operation": "run-command", "command": ["/bin/sh", "-c", script] });
    created(
        &fleet,
        "j1",
        &names(1),
        json!({
            "document": document.to_string(),
            "jobExecutionsRetryConfig": criteria(&[("FAILED", 2)]),
        }),
    )
    .await;
    let e = wait_until(&fleet.server, "t000", "j1", "the retry to succeed", |e| {
        e.execution_number == 2 && e.status.is_terminal()
    })
    .await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");
    let details = e.status_details.clone().unwrap_or_default();
    assert_eq!(details.get("stdout"), Some("second run"), "{e:?}");
    // Claimed once (IN_PROGRESS), reported once (SUCCEEDED).
    assert_eq!(e.version_number, 3);
    let first = first_execution(&fleet);
    assert_eq!(first.execution.status, JobExecutionStatus::Failed);
    assert_eq!(
        first.execution.status_details.unwrap().get("exitCode"),
        Some("3")
    );
    assert_eq!(
        summaries(&get(&fleet, "/jobs/j1/things").await),
        [(1, "FAILED".into(), 0), (2, "SUCCEEDED".into(), 1)],
        "one retry, no third execution"
    );
    assert_eq!(status(&fleet, "j1").await, "COMPLETED");
    // The agent goes on with the next job.
    let next = json!({ "operation": "run-command", "command": ["/bin/sh", "-c", "echo after"] });
    created(
        &fleet,
        "j2",
        &names(1),
        json!({ "document": next.to_string() }),
    )
    .await;
    let e = wait_terminal(&fleet.server, "t000", "j2").await;
    assert_eq!(e.status, JobExecutionStatus::Succeeded, "{e:?}");
    agent.stop().await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_drops_a_timed_out_run_and_runs_its_retry() {
    let fleet = Fleet::start().await;
    let grant_data = "[plugins.test-probe]\ndirs = [\"data:/data\"]\n";
    let (agent, dir) = start_agent(&fleet, "test-probe", grant_data);
    // Each run waits for /data/go, which the test creates only once the
    // retry runs: the first run can only end by the service's timer.
    let document = json!({ "operation": "test-probe", "wait_for": "/data/go" });
    created(
        &fleet,
        "j1",
        &names(1),
        json!({
            "document": document.to_string(),
            "timeoutConfig": { "inProgressTimeoutInMinutes": 1 },
            "jobExecutionsRetryConfig": criteria(&[("TIMED_OUT", 1)]),
        }),
    )
    .await;
    wait_until(&fleet.server, "t000", "j1", "the agent's claim", |e| {
        e.status == JobExecutionStatus::InProgress
    })
    .await;

    // The service's own timer (no test sweeps) times the claim out.
    fleet.at(61);
    wait_until(&fleet.server, "t000", "j1", "the retry's claim", |e| {
        e.execution_number == 2 && e.status == JobExecutionStatus::InProgress
    })
    .await;
    std::fs::write(dir.join("data/go"), "").unwrap();
    let e = wait_terminal(&fleet.server, "t000", "j1").await;
    assert_eq!(
        (e.execution_number, e.status, e.version_number),
        (2, JobExecutionStatus::Succeeded, 3),
        "{e:?}"
    );
    // The timed-out run was dropped: nothing reported after the timeout.
    let first = first_execution(&fleet);
    assert_eq!(
        (first.execution.status, first.execution.version_number),
        (JobExecutionStatus::TimedOut, 3)
    );
    assert_eq!(
        summaries(&get(&fleet, "/jobs/j1/things").await),
        [(1, "TIMED_OUT".into(), 0), (2, "SUCCEEDED".into(), 1)]
    );
    assert_eq!(status(&fleet, "j1").await, "COMPLETED");
    agent.stop().await;
    fleet.stop().await;
}
