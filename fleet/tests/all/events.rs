//! AWS IoT Jobs events for monitoring applications, end to end: the real
//! service (store on a file, embedded broker, HTTP API), a device that
//! updates its executions over MQTT, an operator client subscribed to
//! `$aws/events/#`, and the `GET /events` stream.
//!
//! - `publish`: what the operator receives, once enabled, and not before;
//! - `stream`: the HTTP stream carries the same events;
//! - `access`: who may subscribe (the operator identity, never a device);
//! - `groups`: jobs on thing groups (a thing leaving a continuous job's
//!   group is a `removed` event).

mod access;
mod groups;
mod publish;
mod stream;

use crate::support::service::{clock, embedded};
use crate::support::{options, TestClient};
use jobhost_fleet::broker::OperatorCredentials;
use jobhost_fleet::server::{Server, ServerConfig};
use rumqttc::{MqttOptions, QoS, SubscribeReasonCode};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const OPERATOR: &str = "monitor";
const OPERATOR_PASSWORD: &str = "monitor-secret";
const GRANTED: SubscribeReasonCode = SubscribeReasonCode::Success(QoS::AtLeastOnce);
const REFUSED: SubscribeReasonCode = SubscribeReasonCode::Failure;

/// The service with the operator identity configured.
async fn start(dir: &Path) -> Server {
    Server::start(ServerConfig {
        data_dir: dir.join("fleet"),
        broker: embedded(),
        url_ttl: Duration::from_secs(600),
        clock: clock(),
        events_operator: Some(OperatorCredentials {
            client_id: OPERATOR.into(),
            password: OPERATOR_PASSWORD.into(),
        }),
        ..ServerConfig::default()
    })
    .await
    .expect("start the service")
}

/// The operator's connection options.
fn operator(server: &Server) -> MqttOptions {
    let mut o = options(OPERATOR, server.mqtt_addr);
    o.set_credentials(OPERATOR, OPERATOR_PASSWORD);
    o
}

/// The operator, connected and subscribed to every event.
async fn subscribed_operator(server: &Server) -> TestClient {
    let mut op = TestClient::connect(operator(server)).await.unwrap();
    assert_eq!(op.subscribe("$aws/events/#").await, GRANTED);
    op
}

/// An HTTP call to the management API (no token: the service listens on
/// loopback); returns the status and the JSON body.
async fn http(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = crate::support::http();
    let mut rb = client.request(method, format!("http://{}{path}", server.http_addr));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, body)
}

/// Enables or disables each event type with UpdateEventConfigurations.
async fn configure(server: &Server, job: bool, job_execution: bool) {
    let body = json!({"eventConfigurations": {
        "JOB": {"Enabled": job}, "JOB_EXECUTION": {"Enabled": job_execution}
    }});
    let (status, reply) = http(
        server,
        reqwest::Method::PATCH,
        "/event-configurations",
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}

/// CreateJob over HTTP.
async fn create_job(server: &Server, job_id: &str, targets: &[&str]) {
    let body = json!({"targets": targets, "document": {"operation": "echo"},
                      "description": format!("events test {job_id}")});
    let (status, reply) = http(
        server,
        reqwest::Method::PUT,
        &format!("/jobs/{job_id}"),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}

/// A device: thing `thing`, subscribed to its update replies.
struct Device {
    client: TestClient,
    thing: String,
}

impl Device {
    async fn connect(server: &Server, thing: &str) -> Device {
        let mut client = TestClient::connect(options(thing, server.mqtt_addr))
            .await
            .unwrap();
        let filter = format!("$aws/things/{thing}/jobs/+/update/+");
        assert_eq!(client.subscribe(&filter).await, GRANTED);
        Device {
            client,
            thing: thing.to_owned(),
        }
    }

    /// UpdateJobExecution; waits for `/accepted`.
    async fn update(&mut self, job_id: &str, status: &str, details: Value) {
        let topic = format!("$aws/things/{}/jobs/{job_id}/update", self.thing);
        let body = json!({"status": status, "statusDetails": details});
        self.client.publish(&topic, body.to_string()).await.unwrap();
        let reply = self.client.recv_publish().await;
        assert_eq!(reply.topic, format!("{topic}/accepted"), "{reply:?}");
    }
}

/// The next message the operator receives: (topic, payload).
async fn next_event(op: &mut TestClient) -> (String, Value) {
    let p = op.recv_publish().await;
    (p.topic.clone(), serde_json::from_slice(&p.payload).unwrap())
}
