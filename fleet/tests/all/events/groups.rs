//! Job events of jobs on thing groups: a thing that leaves a continuous
//! job's group has its QUEUED execution REMOVED, and the operator receives
//! `$aws/events/jobExecution/<jobId>/removed` for it, as AWS sends; the
//! job's own event names its target selection and its targets as ARNs.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_continuous_jobs_group_is_a_removed_event() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let mut op = subscribed_operator(&server).await;
    for (method, path, body) in [
        (reqwest::Method::POST, "/things/t1", json!({})),
        (reqwest::Method::POST, "/thing-groups/Fleet", json!({})),
        (
            reqwest::Method::PUT,
            "/thing-groups/addThingToThingGroup",
            json!({"thingGroupName": "Fleet", "thingName": "t1"}),
        ),
    ] {
        let (status, reply) = http(&server, method, path, Some(body)).await;
        assert_eq!(status, 200, "{path}: {reply}");
    }
    configure(&server, true, true).await;
    let body = json!({"targets": ["Fleet"], "document": {"operation": "echo"},
                      "targetSelection": "CONTINUOUS"});
    let (status, reply) = http(&server, reqwest::Method::PUT, "/jobs/cont", Some(body)).await;
    assert_eq!(status, 200, "{reply}");

    let (status, reply) = http(
        &server,
        reqwest::Method::PUT,
        "/thing-groups/removeThingFromThingGroup",
        Some(json!({"thingGroupName": "Fleet", "thingName": "t1"})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (topic, p) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/jobExecution/cont/removed");
    assert_eq!(
        (&p["operation"], &p["status"], &p["jobId"]),
        (&json!("removed"), &json!("REMOVED"), &json!("cont"))
    );
    assert_eq!(p["thingArn"], "arn:aws:iot:local:000000000000:thing/t1");

    // Cancelling the job: its event says CONTINUOUS and names the group.
    let (status, reply) = http(
        &server,
        reqwest::Method::PUT,
        "/jobs/cont/cancel",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (topic, p) = next_event(&mut op).await;
    assert_eq!(topic, "$aws/events/job/cont/canceled");
    assert_eq!(p["targetSelection"], "CONTINUOUS");
    assert_eq!(
        p["targets"],
        json!(["arn:aws:iot:local:000000000000:thinggroup/Fleet"])
    );
    server.stop().await;
}
