//! `GET /events` carries the events the broker does, with the same
//! payloads, whatever the event configuration (which governs the broker).

use super::*;
use crate::support::sse::{SseEvent, SseReader};

/// The payload without its `eventId`, which each publication draws anew.
fn without_id(mut p: Value) -> Value {
    p.as_object_mut().unwrap().remove("eventId");
    p
}

async fn open(server: &Server) -> SseReader {
    let client = crate::support::http();
    SseReader::open(client.get(format!("http://{}/events", server.http_addr))).await
}

fn named(e: &SseEvent) -> (&str, String) {
    (
        e.event.as_deref().unwrap(),
        e.json()["jobId"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_stream_carries_the_brokers_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let mut op = subscribed_operator(&server).await;
    let mut stream = open(&server).await;
    let mut t1 = Device::connect(&server, "t1").await;

    // Disabled on the broker, streamed all the same.
    create_job(&server, "quiet", &["t1"]).await;
    t1.update("quiet", "SUCCEEDED", json!({})).await;
    assert_eq!(
        named(&stream.next().await),
        ("jobExecution/succeeded", "quiet".into())
    );
    assert_eq!(
        named(&stream.next().await),
        ("job/completed", "quiet".into())
    );

    configure(&server, true, true).await;
    create_job(&server, "both", &["t1", "t2"]).await;
    t1.update("both", "FAILED", json!({"reason": "disk"})).await;
    let (status, _) = http(
        &server,
        reqwest::Method::PUT,
        "/jobs/both/cancel",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        let (topic, mqtt) = next_event(&mut op).await;
        let sse = stream.next().await;
        let kind_and_operation = topic
            .strip_prefix("$aws/events/")
            .unwrap()
            .replace("/both/", "/");
        assert_eq!(sse.event.as_deref(), Some(kind_and_operation.as_str()));
        let data = sse.json();
        assert_eq!(sse.id.as_deref(), data["eventId"].as_str());
        assert_eq!(without_id(data), without_id(mqtt), "{topic}");
    }
    // The stream is still open: stopping the service ends it instead of
    // waiting for it forever (graceful shutdown waits for every response).
    tokio::time::timeout(crate::support::WAIT, server.stop())
        .await
        .expect("the service stops with an event stream open");
    assert!(
        tokio::time::timeout(crate::support::WAIT, stream.end())
            .await
            .expect("the stream ends"),
        "the stream ended cleanly"
    );
}

/// `GET /execution-changes` (jobhost's own) carries what the AWS events
/// leave out: an execution queued, then IN_PROGRESS with the statusDetails
/// the device reported; filtered by job and by thing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_stream_carries_every_execution_change_with_its_details() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let client = crate::support::http();
    let base = format!("http://{}", server.http_addr);
    let mut job =
        SseReader::open(client.get(format!("{base}/execution-changes?jobId=watched"))).await;
    let mut thing =
        SseReader::open(client.get(format!("{base}/execution-changes?thingName=t2"))).await;
    let mut t1 = Device::connect(&server, "t1").await;

    create_job(&server, "other", &["t1"]).await;
    create_job(&server, "watched", &["t1", "t2"]).await;
    let mut queued = Vec::new();
    for _ in 0..2 {
        let e = job.next().await;
        assert_eq!(e.event.as_deref(), Some("execution"));
        let data = e.json();
        assert_eq!(data["jobId"], "watched", "only the job asked for: {data}");
        assert_eq!(data["status"], "QUEUED");
        queued.push(data["thingName"].as_str().unwrap().to_owned());
    }
    queued.sort();
    assert_eq!(queued, ["t1", "t2"]);

    t1.update("watched", "IN_PROGRESS", json!({"progress": "40%"}))
        .await;
    let e = job.next().await;
    let data = e.json();
    assert_eq!(
        (data["thingName"].as_str(), data["status"].as_str()),
        (Some("t1"), Some("IN_PROGRESS"))
    );
    assert_eq!(data["statusDetails"], json!({"progress": "40%"}));
    assert_eq!(data["versionNumber"], 2);
    assert_eq!(e.id.as_deref(), Some("watched/t1/1/2"));

    // The thing filter saw t2's execution only (of either job).
    let e = thing.next().await;
    assert_eq!(
        (e.json()["jobId"].as_str(), e.json()["thingName"].as_str()),
        (Some("watched"), Some("t2"))
    );

    let (status, body) = http(
        &server,
        reqwest::Method::GET,
        "/execution-changes?jobId=no/such",
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}
