//! Conformance of the jobs service's device API with the AWS IoT Jobs MQTT
//! protocol (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>),
//! as a device sees it: a rumqttc client whose client id is its thing
//! name, talking to a whole [`Server`] (store, broker, jobs service, HTTP
//! API) over a real broker, the embedded rmqtt one or Debian's mosquitto.
//!
//! Every test starts its own server on port 0 with a temporary data
//! directory and an injected clock, so timestamps are exact and timeouts
//! fire by moving the clock and calling [`Server::sweep_timeouts`], never by
//! sleeping; `conformance/timers.rs` instead leaves it to the service's own
//! timer loop (and has the real agent react to a timeout). Waits are on
//! messages ([`support::TestClient`]); a test that claims something is
//! *not* sent publishes a later request and checks that its reply is the
//! very next message.

use crate::support;

mod lifecycle;
mod notifications;
mod presigned_config;
mod requests;
mod timers;

use jobhost_fleet::rollout::JobConfigs;
use jobhost_fleet::server::{BrokerChoice, Server, ServerConfig};
use jobhost_fleet::store::CreateJob;
use rumqttc::{QoS, SubscribeReasonCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{options, TestClient};

/// The clock every test starts at (seconds since the epoch).
pub const T0: i64 = 1_700_000_000;
/// Lifetime of presigned URLs.
pub const URL_TTL: i64 = 600;

/// The test's clock, shared with the server.
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new() -> Self {
        Self(Arc::new(AtomicI64::new(T0)))
    }

    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }
}

/// A running server, its data directory and clock.
pub struct Fleet {
    pub server: Server,
    pub clock: TestClock,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Fleet {
    /// A fresh server with the embedded broker.
    pub async fn start() -> Fleet {
        Self::start_in(tempfile::tempdir().unwrap(), TestClock::new(), embedded()).await
    }

    /// A server on `dir` (possibly holding an earlier server's data), ready
    /// to answer devices when this returns.
    pub async fn start_in(dir: tempfile::TempDir, clock: TestClock, broker: BrokerChoice) -> Fleet {
        let c = clock.clone();
        let server = Server::start(ServerConfig {
            clock: Arc::new(move || c.now()),
            ..config(dir.path(), broker)
        })
        .await
        .unwrap();
        Fleet {
            server,
            clock,
            dir,
            http: crate::support::http(),
        }
    }

    /// Stops the server and returns its data directory and clock.
    pub async fn stop(self) -> (tempfile::TempDir, TestClock) {
        self.server.stop().await;
        (self.dir, self.clock)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Sets the clock to `T0 + offset`.
    pub fn at(&self, offset: i64) {
        self.clock.set(T0 + offset);
    }

    /// CreateJob through the store at the current clock, then tells the
    /// service, as the HTTP API does.
    pub fn create(&self, job_id: &str, targets: &[&str], document: &Value) {
        self.create_job(CreateJob {
            job_id: job_id.into(),
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            document: document.clone().into(),
            ..CreateJob::default()
        });
    }

    pub fn create_job(&self, req: CreateJob) {
        let (_, changes) = self
            .server
            .store
            .lock()
            .unwrap()
            .create_job_with(&req, &JobConfigs::default(), self.now())
            .unwrap();
        self.server.changes.send(changes).unwrap();
    }

    /// A URL of the HTTP API.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.http_addr)
    }

    /// A device subscribed to every jobs topic of its thing
    /// (notifications and replies).
    pub async fn device(&self, thing: &str) -> Device {
        Device::connect(self.server.mqtt_addr, thing, &self.clock, ALL).await
    }

    /// A device subscribed to the reply topics only: the notifications that
    /// its requests cause do not reach it.
    pub async fn replies_only(&self, thing: &str) -> Device {
        Device::connect(self.server.mqtt_addr, thing, &self.clock, REPLIES).await
    }
}

pub fn embedded() -> BrokerChoice {
    BrokerChoice::Embedded {
        listen: "127.0.0.1:0".parse().unwrap(),
        allow_plain_mqtt: false,
    }
}

fn config(dir: &Path, broker: BrokerChoice) -> ServerConfig {
    ServerConfig {
        data_dir: dir.to_owned(),
        broker,
        http: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        url_ttl: Duration::from_secs(URL_TTL as u64),
        token: None,
        ..ServerConfig::default()
    }
}

/// Filters for every jobs topic of a thing, except its own requests.
const ALL: &[&str] = &[
    "notify",
    "notify-next",
    "get/+",
    "start-next/+",
    "+/get/+",
    "+/update/+",
];
const REPLIES: &[&str] = &["get/+", "start-next/+", "+/get/+", "+/update/+"];

/// A device: its MQTT client id is its thing name. Topics are written
/// relative to `$aws/things/<thing>/jobs/`.
pub struct Device {
    pub thing: String,
    pub client: TestClient,
    clock: TestClock,
}

impl Device {
    pub async fn connect(
        addr: SocketAddr,
        thing: &str,
        clock: &TestClock,
        filters: &[&str],
    ) -> Device {
        let client = TestClient::connect(options(thing, addr)).await.unwrap();
        let mut device = Device {
            thing: thing.to_owned(),
            client,
            clock: clock.clone(),
        };
        for filter in filters {
            device.subscribe(filter).await;
        }
        device
    }

    /// Subscribes to `$aws/things/<thing>/jobs/<filter>`; must be granted.
    pub async fn subscribe(&mut self, filter: &str) {
        let topic = self.topic(filter);
        assert_eq!(
            self.client.subscribe(&topic).await,
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
            "SUBSCRIBE {topic}"
        );
    }

    pub fn topic(&self, suffix: &str) -> String {
        format!("$aws/things/{}/jobs/{suffix}", self.thing)
    }

    /// Publishes `payload` to `jobs/<suffix>` and waits for the PUBACK.
    pub async fn send_raw(&mut self, suffix: &str, payload: impl Into<Vec<u8>>) {
        let topic = self.topic(suffix);
        self.client
            .publish(&topic, payload)
            .await
            .unwrap_or_else(|e| panic!("PUBLISH {topic}: {e}"));
    }

    pub async fn send(&mut self, suffix: &str, payload: Value) {
        self.send_raw(suffix, payload.to_string()).await;
    }

    /// The next message: (topic relative to the thing's jobs, JSON body).
    pub async fn recv(&mut self) -> (String, Value) {
        let p = self.client.recv_publish().await;
        let prefix = self.topic("");
        let suffix = p
            .topic
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{} received a message on {}", self.thing, p.topic))
            .to_owned();
        let body = serde_json::from_slice(&p.payload).unwrap_or_else(|e| {
            panic!(
                "{suffix}: payload is not JSON ({e}): {}",
                String::from_utf8_lossy(&p.payload)
            )
        });
        (suffix, body)
    }

    /// The next message, which must be on `jobs/<suffix>`. Its `timestamp`
    /// must be the clock's, in seconds.
    pub async fn expect(&mut self, suffix: &str) -> Value {
        let (topic, body) = self.recv().await;
        assert_eq!(topic, suffix, "unexpected message: {body}");
        self.check_timestamp(&topic, &body);
        body
    }

    /// The next `suffixes.len()` messages, one on each topic in any order;
    /// returned in the order of `suffixes`.
    pub async fn expect_all(&mut self, suffixes: &[&str]) -> Vec<Value> {
        let mut got: Vec<Option<Value>> = vec![None; suffixes.len()];
        for _ in suffixes {
            let (topic, body) = self.recv().await;
            let i = suffixes
                .iter()
                .position(|s| *s == topic)
                .unwrap_or_else(|| panic!("unexpected message on {topic}: {body}"));
            assert!(got[i].is_none(), "a second message on {topic}: {body}");
            self.check_timestamp(&topic, &body);
            got[i] = Some(body);
        }
        got.into_iter().map(Option::unwrap).collect()
    }

    fn check_timestamp(&self, topic: &str, body: &Value) {
        assert_eq!(
            body["timestamp"].as_i64(),
            Some(self.clock.now()),
            "{topic}: timestamp must be the integer seconds of the clock: {body}"
        );
    }

    /// Publishes a request and returns the reply, which must be the next
    /// message, on `<request>/accepted` or `<request>/rejected`, echoing
    /// the request's clientToken (or carrying none).
    pub async fn request(&mut self, suffix: &str, payload: Value) -> (bool, Value) {
        self.send(suffix, payload.clone()).await;
        let (topic, body) = self.recv().await;
        let accepted = if topic == format!("{suffix}/accepted") {
            true
        } else if topic == format!("{suffix}/rejected") {
            false
        } else {
            panic!("expected the reply to {suffix}, got {topic}: {body}")
        };
        self.check_timestamp(&topic, &body);
        assert_eq!(
            body.get("clientToken"),
            payload.get("clientToken"),
            "{topic}: clientToken: {body}"
        );
        (accepted, body)
    }

    /// A request that must be accepted; returns the reply.
    pub async fn accepted(&mut self, suffix: &str, payload: Value) -> Value {
        let (ok, body) = self.request(suffix, payload).await;
        assert!(ok, "{suffix} was rejected: {body}");
        body
    }

    /// A request that must be rejected with `code`; returns the reply after
    /// checking its shape: `code`, `message`, `timestamp`, the token, and
    /// `executionState` exactly for VersionMismatch and
    /// InvalidStateTransition (the ErrorResponse,
    /// <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-api.html#jobs-mqtt-error-response>).
    pub async fn rejected(&mut self, suffix: &str, payload: Value, code: &str) -> Value {
        let (ok, body) = self.request(suffix, payload).await;
        assert!(!ok, "{suffix} was accepted: {body}");
        assert_rejection(&body, code);
        body
    }

    /// Publishes a request that must be accepted and must cause exactly the
    /// notifications on `topics`; the reply and those come in any order.
    /// Returns the notifications in the order of `topics`.
    pub async fn accepted_notifying(
        &mut self,
        suffix: &str,
        payload: Value,
        topics: &[&str],
    ) -> Vec<Value> {
        self.send(suffix, payload.clone()).await;
        let accepted = format!("{suffix}/accepted");
        let mut all = vec![accepted.as_str()];
        all.extend_from_slice(topics);
        let mut got = self.expect_all(&all).await;
        let reply = got.remove(0);
        assert_eq!(
            reply.get("clientToken"),
            payload.get("clientToken"),
            "{accepted}: clientToken: {reply}"
        );
        got
    }

    /// `jobs/get` as a probe: its reply must be the next message, which
    /// shows that nothing else was published to this device before it.
    pub async fn probe(&mut self, token: &str) -> Value {
        self.accepted("get", json!({ "clientToken": token })).await
    }
}

/// Checks the fields of a `/rejected` body (the ErrorResponse,
/// <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-api.html#jobs-mqtt-error-response>).
pub fn assert_rejection(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a rejection says why: {body}"
    );
    let with_state = matches!(code, "VersionMismatch" | "InvalidStateTransition");
    assert_eq!(
        body.get("executionState").is_some(),
        with_state,
        "executionState only for VersionMismatch and InvalidStateTransition: {body}"
    );
    for key in body.as_object().unwrap().keys() {
        assert!(
            [
                "code",
                "message",
                "clientToken",
                "timestamp",
                "executionState"
            ]
            .contains(&key.as_str()),
            "unexpected field {key}: {body}"
        );
    }
}

/// The two messages of an [`Device::expect_all`] over two topics.
pub fn two(messages: Vec<Value>) -> [Value; 2] {
    messages.try_into().unwrap()
}

/// A job document.
pub fn doc(operation: &str) -> Value {
    json!({ "operation": operation, "args": ["--verbose"], "version": "1.0" })
}

/// A JobExecutionSummary
/// (<https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_JobExecutionSummary.html>).
pub fn summary(
    job_id: &str,
    queued_at: i64,
    started_at: Option<i64>,
    updated_at: i64,
    version: u64,
) -> Value {
    let mut s = json!({
        "jobId": job_id,
        "queuedAt": queued_at,
        "lastUpdatedAt": updated_at,
        "versionNumber": version,
        "executionNumber": 1,
    });
    if let Some(t) = started_at {
        s["startedAt"] = t.into();
    }
    s
}

/// A QUEUED JobExecution with its document, as `notify-next` and the
/// describe replies carry it
/// (<https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_JobExecution.html>).
pub fn queued_execution(thing: &str, job_id: &str, document: &Value, queued_at: i64) -> Value {
    json!({
        "jobId": job_id,
        "thingName": thing,
        "jobDocument": document,
        "status": "QUEUED",
        "queuedAt": queued_at,
        "lastUpdatedAt": queued_at,
        "versionNumber": 1,
        "executionNumber": 1,
    })
}
