//! What the operator receives on `$aws/events/#`: each event type once it
//! is enabled, and nothing while it is not.

use super::*;

/// The keys of a payload.
fn keys(p: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_receives_job_and_execution_events_once_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let mut op = subscribed_operator(&server).await;
    let mut t1 = Device::connect(&server, "t1").await;

    // Disabled, AWS's default: a whole job runs and ends unseen.
    create_job(&server, "quiet", &["t1"]).await;
    t1.update("quiet", "SUCCEEDED", json!({})).await;

    configure(&server, true, true).await;
    // The first message is this job's: nothing of "quiet" was published
    // (the service publishes in commit order, the broker delivers in
    // order).
    create_job(&server, "ok", &["t1"]).await;
    t1.update("ok", "SUCCEEDED", json!({"version": "2.1"}))
        .await;
    let (topic, p) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/jobExecution/ok/succeeded");
    assert_eq!(
        keys(&p),
        [
            "eventId",
            "eventType",
            "jobId",
            "operation",
            "status",
            "statusDetails",
            "thingArn",
            "timestamp"
        ]
    );
    assert_eq!(p["eventType"], "JOB_EXECUTION");
    assert_eq!(p["operation"], "succeeded");
    assert_eq!(p["status"], "SUCCEEDED");
    assert_eq!(p["jobId"], "ok");
    assert_eq!(p["thingArn"], "arn:aws:iot:local:000000000000:thing/t1");
    assert_eq!(p["statusDetails"], json!({"version": "2.1"}));
    assert!(
        p["timestamp"].as_i64().unwrap() > 1_700_000_000,
        "epoch seconds"
    );
    let (topic, p) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/job/ok/completed");
    assert_eq!(
        keys(&p),
        [
            "completedAt",
            "createdAt",
            "description",
            "eventId",
            "eventType",
            "jobId",
            "jobProcessDetails",
            "lastUpdatedAt",
            "operation",
            "status",
            "targetSelection",
            "targets",
            "timestamp"
        ]
    );
    assert_eq!(p["eventType"], "JOB");
    assert_eq!(
        (&p["status"], &p["targetSelection"]),
        (&json!("COMPLETED"), &json!("SNAPSHOT"))
    );
    assert_eq!(
        p["targets"],
        json!(["arn:aws:iot:local:000000000000:thing/t1"])
    );
    assert_eq!(p["description"], "events test ok");
    assert_eq!(p["jobProcessDetails"]["numberOfSucceededThings"], 1);
    assert_eq!(
        p["completedAt"].as_i64().unwrap(),
        p["timestamp"].as_i64().unwrap() * 1000,
        "milliseconds, like AWS's"
    );

    create_job(&server, "bad", &["t1"]).await;
    t1.update("bad", "FAILED", json!({"reason": "checksum"}))
        .await;
    let (topic, p) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/jobExecution/bad/failed");
    assert_eq!(
        (&p["status"], &p["statusDetails"]["reason"]),
        (&json!("FAILED"), &json!("checksum"))
    );
    let (topic, p) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/job/bad/completed");
    assert_eq!(p["jobProcessDetails"]["numberOfFailedThings"], 1);

    // CancelJob and DeleteJob over the API.
    create_job(&server, "stop", &["t1", "t2"]).await;
    let (status, _) = http(
        &server,
        reqwest::Method::PUT,
        "/jobs/stop/cancel",
        Some(json!({"comment": "wrong build"})),
    )
    .await;
    assert_eq!(status, 200);
    for thing in ["t1", "t2"] {
        let (topic, p) = next_event(&mut op).await;
        assert_eq!(topic, "$aws/events/jobExecution/stop/canceled");
        assert_eq!(p["status"], "CANCELED");
        assert_eq!(
            p["thingArn"],
            format!("arn:aws:iot:local:000000000000:thing/{thing}")
        );
    }
    let (topic, p) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/job/stop/canceled");
    assert_eq!(p["status"], "CANCELED");
    assert_eq!(p["forceCanceled"], false);
    assert_eq!(p["comment"], "wrong build");
    assert_eq!(p["jobProcessDetails"]["numberOfCanceledThings"], 2);

    let (status, _) = http(&server, reqwest::Method::DELETE, "/jobs/stop", None).await;
    assert_eq!(status, 200);
    for _ in ["t1", "t2"] {
        let (topic, p) = next_event(&mut op).await;
        assert_eq!(topic, "$aws/events/jobExecution/stop/deleted");
        assert_eq!(
            (&p["operation"], &p["status"]),
            (&json!("deleted"), &json!("CANCELED")),
            "the status before the deletion"
        );
    }
    let (topic, p) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/job/stop/deleted");
    assert_eq!(p["status"], "DELETED");

    // JOB_EXECUTION off again: only the job's end is published.
    configure(&server, true, false).await;
    create_job(&server, "jobonly", &["t1"]).await;
    t1.update("jobonly", "REJECTED", json!({})).await;
    let (topic, _) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/job/jobonly/completed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    configure(&server, false, true).await;
    server.stop().await;

    let server = start(dir.path()).await;
    let (status, body) = http(&server, reqwest::Method::GET, "/event-configurations", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["eventConfigurations"]["JOB_EXECUTION"]["Enabled"],
        true
    );
    assert_eq!(body["eventConfigurations"]["JOB"]["Enabled"], false);
    let mut op = subscribed_operator(&server).await;
    let mut t1 = Device::connect(&server, "t1").await;
    create_job(&server, "after", &["t1"]).await;
    t1.update("after", "SUCCEEDED", json!({})).await;
    let (topic, _) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/jobExecution/after/succeeded");
    // The job's end (JOB disabled) is not published: the next message is
    // the next job's execution.
    create_job(&server, "second", &["t1"]).await;
    t1.update("second", "FAILED", json!({})).await;
    let (topic, _) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/jobExecution/second/failed");
    server.stop().await;
}
