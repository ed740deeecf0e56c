//! Thing groups and jobs on them through the whole service: the real
//! embedded broker, the jobs service's notifier and the HTTP API, with
//! devices that are MQTT clients whose client id is their thing name
//! (`conformance`'s `Device`).
//!
//! - a snapshot job on a group reaches its members, and only them;
//! - a continuous job reaches a thing added to its group after it was
//!   created: the device gets `notify-next` for it; when the thing leaves,
//!   its QUEUED execution becomes REMOVED and the device hears that its
//!   queue is empty; when it rejoins, execution number 2 is queued;
//! - a device that connects is registered, and a dynamic group on
//!   `connectivity.connected` follows its connection, taking a continuous
//!   job along (waits are on the store's execution events).

use crate::conformance::{doc, two, Fleet, T0};
use crate::support::{options, TestClient, WAIT};
use jobhost_fleet::store::ExecutionChange;
use jobhost_protocol::JobExecutionStatus;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::broadcast::Receiver;

impl Fleet {
    /// An HTTP API call that must answer 200; returns the body.
    async fn api(&self, method: Method, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let reply: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "{path}: {reply}");
        reply
    }

    async fn membership(&self, op: &str, thing: &str, group: &str) {
        self.api(
            Method::PUT,
            &format!("/thing-groups/{op}"),
            json!({"thingName": thing, "thingGroupName": group}),
        )
        .await;
    }
}

/// The next change of `thing`'s execution of `job`, other events skipped.
async fn next_change(
    events: &mut Receiver<ExecutionChange>,
    job: &str,
    thing: &str,
) -> (u64, JobExecutionStatus) {
    loop {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no change of {job} on {thing} within {WAIT:?}"))
            .unwrap();
        if let ExecutionChange::Updated(r) = event {
            if r.execution.job_id == job && r.thing_name == thing {
                return (r.execution.execution_number, r.execution.status);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_job_on_a_group_reaches_its_members_only() {
    let fleet = Fleet::start().await;
    let mut member = fleet.device("member").await;
    let mut other = fleet.device("other").await;
    for t in ["member", "other"] {
        fleet
            .api(Method::POST, &format!("/things/{t}"), json!({}))
            .await;
    }
    fleet
        .api(Method::POST, "/thing-groups/Fleet", json!({}))
        .await;
    fleet
        .membership("addThingToThingGroup", "member", "Fleet")
        .await;

    let document = doc("one");
    fleet
        .api(
            Method::PUT,
            "/jobs/snap",
            json!({"targets": ["arn:aws:iot:local:000000000000:thinggroup/Fleet"], "document": document.to_string()}),
        )
        .await;
    let [_, next] = two(member.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(next["execution"]["jobId"], "snap");
    assert_eq!(next["execution"]["jobDocument"], document);
    // The thing outside the group heard nothing: its next message is the
    // reply to a later request.
    other.probe("after-snap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuous_job_follows_a_thing_into_and_out_of_its_group() {
    let fleet = Fleet::start().await;
    fleet
        .api(Method::POST, "/thing-groups/Fleet", json!({}))
        .await;
    fleet.api(Method::POST, "/things/late", json!({})).await;
    let document = doc("onboard");
    fleet
        .api(
            Method::PUT,
            "/jobs/onboard",
            json!({"targets": ["Fleet"], "targetSelection": "CONTINUOUS", "document": document.to_string()}),
        )
        .await;
    let mut late = fleet.device("late").await;

    // Added after the job was created: queued, and announced.
    fleet.at(10);
    fleet
        .membership("addThingToThingGroup", "late", "Fleet")
        .await;
    let [notify, next] = two(late.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(notify["jobs"]["QUEUED"][0]["jobId"], "onboard");
    let e = &next["execution"];
    assert_eq!(
        (
            &e["jobId"],
            &e["status"],
            &e["executionNumber"],
            &e["queuedAt"]
        ),
        (
            &json!("onboard"),
            &json!("QUEUED"),
            &json!(1),
            &json!(T0 + 10)
        )
    );
    assert_eq!(e["jobDocument"], document);

    // Removed while QUEUED: REMOVED, and the device hears its queue is empty.
    fleet.at(20);
    fleet
        .membership("removeThingFromThingGroup", "late", "Fleet")
        .await;
    let [notify, next] = two(late.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(notify["jobs"], json!({}));
    assert!(next.get("execution").is_none(), "{next}");
    let e = fleet
        .api(Method::GET, "/things/late/jobs/onboard", Value::Null)
        .await;
    assert_eq!(e["execution"]["status"], "REMOVED");
    // The device's own view agrees: the execution has ended.
    late.rejected(
        "onboard/update",
        json!({"status": "IN_PROGRESS"}),
        "InvalidStateTransition",
    )
    .await;

    // Back in the group: execution number 2.
    fleet.at(30);
    fleet
        .membership("addThingToThingGroup", "late", "Fleet")
        .await;
    let [_, next] = two(late.expect_all(&["notify", "notify-next"]).await);
    assert_eq!(next["execution"]["executionNumber"], 2);
    assert_eq!(next["execution"]["versionNumber"], 1);
    late.accepted_notifying(
        "onboard/update",
        json!({"status": "SUCCEEDED", "executionNumber": 2}),
        &["notify", "notify-next"],
    )
    .await;

    // Nothing is pending anywhere, and the continuous job stays open.
    let job = fleet.api(Method::GET, "/jobs/onboard", Value::Null).await;
    assert_eq!(job["job"]["status"], "IN_PROGRESS");
    assert_eq!(
        job["job"]["jobProcessDetails"]["numberOfSucceededThings"],
        1
    );
    assert_eq!(job["job"]["jobProcessDetails"]["numberOfRemovedThings"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_group_follows_connectivity_as_the_broker_sees_it() {
    let fleet = Fleet::start().await;
    fleet
        .api(
            Method::POST,
            "/dynamic-thing-groups/Online",
            json!({"queryString": "connectivity.connected:true AND thingName:sensor-*"}),
        )
        .await;
    fleet
        .api(
            Method::PUT,
            "/jobs/report",
            json!({"targets": ["Online"], "targetSelection": "CONTINUOUS", "document": doc("report").to_string()}),
        )
        .await;
    let mut events = fleet.server.store.lock().unwrap().subscribe();

    // The device connects: the broker registers it and it joins the group.
    let client = TestClient::connect(options("sensor-7", fleet.server.mqtt_addr))
        .await
        .unwrap();
    assert_eq!(
        next_change(&mut events, "report", "sensor-7").await,
        (1, JobExecutionStatus::Queued)
    );
    let thing = fleet
        .api(Method::GET, "/things/sensor-7", Value::Null)
        .await;
    assert_eq!(thing["version"], 1);
    assert_eq!(thing["connectivity"]["connected"], true);
    let members = fleet
        .api(Method::GET, "/thing-groups/Online/things", Value::Null)
        .await;
    assert_eq!(members["things"], json!(["sensor-7"]));
    let conn = fleet
        .api(
            Method::POST,
            "/things/sensor-7/connectivity-data",
            json!({}),
        )
        .await;
    assert_eq!(conn["connected"], true);
    assert!(conn["timestamp"].as_f64().is_some(), "{conn}");

    // Its connection drops: it leaves the group, and its QUEUED execution
    // goes.
    drop(client);
    assert_eq!(
        next_change(&mut events, "report", "sensor-7").await,
        (1, JobExecutionStatus::Removed)
    );
    let conn = fleet
        .api(
            Method::POST,
            "/things/sensor-7/connectivity-data",
            json!({}),
        )
        .await;
    assert_eq!(conn["connected"], false);
    assert_eq!(conn["disconnectReason"], "CONNECTION_LOST");
    let members = fleet
        .api(Method::GET, "/thing-groups/Online/things", Value::Null)
        .await;
    assert_eq!(members["things"], json!([]));

    // Back online: a new execution.
    let _client = TestClient::connect(options("sensor-7", fleet.server.mqtt_addr))
        .await
        .unwrap();
    assert_eq!(
        next_change(&mut events, "report", "sensor-7").await,
        (2, JobExecutionStatus::Queued)
    );
}
