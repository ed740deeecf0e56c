//! A scripted jobs service: the service's side of the AWS IoT Jobs device
//! API, played message by message by the test, on a real broker (the
//! embedded rmqtt of `jobhost-fleet`, started standalone).
//!
//! Unlike the real service it decides nothing: every request the agent
//! publishes is handed to the test as a [`Request`], in the order the broker
//! delivered it, and the test answers it (accepted, rejected with any code),
//! drops it, answers twice, or sends notifications of its own, stale or
//! not. Replies are written from AWS's documentation
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>, and
//! `ErrorResponse` in <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-api.html>),
//! not with the agent's
//! own types, so a shared misunderstanding cannot pass unnoticed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobhost_fleet::broker::{Broker, BrokerConfig};
use jobhost_protocol::topics::{JobsTopic, Operation, NEXT, SERVICE_SUBSCRIPTION};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Guard on every wait for the agent: above the agent's 10 s resend and
/// 20-40 s second backoff step, with room for a loaded 2-core machine. A
/// wait that hits it fails the test; nothing waits for it to pass.
pub const WAIT: Duration = Duration::from_secs(60);

const IDENTITY: &str = "scripted-service";
const PASSWORD: &str = "scripted-service-password";

/// One request the agent published.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its topic, to answer on `<topic>/accepted|rejected`.
    pub topic: String,
    /// What it asks for (the job id is inside, or `$next`).
    pub operation: Operation,
    /// The payload, parsed.
    pub body: Value,
    /// When the service received it.
    pub at: Instant,
}

impl Request {
    /// Whether it is an UpdateJobExecution for `job`.
    pub fn is_update(&self, job: &str) -> bool {
        matches!(&self.operation, Operation::Update(j) if j == job)
    }

    /// Whether it is a DescribeJobExecution for `job` (`$next` included).
    pub fn is_describe(&self, job: &str) -> bool {
        matches!(&self.operation, Operation::Describe(j) if j == job)
    }

    /// The `status` an update asks for.
    pub fn status(&self) -> &str {
        self.body["status"].as_str().unwrap_or_default()
    }

    /// The `clientToken`.
    pub fn token(&self) -> &str {
        self.body["clientToken"].as_str().unwrap_or_default()
    }
}

/// A job execution as the service sends it (`JobExecution`).
pub fn execution(job: &str, number: u64, version: u64, status: &str, document: Value) -> Value {
    json!({
        "jobId": job,
        "thingName": "",
        "status": status,
        "queuedAt": 1_700_000_000,
        "lastUpdatedAt": 1_700_000_000,
        "versionNumber": version,
        "executionNumber": number,
        "jobDocument": document,
    })
}

/// The scripted service and its broker.
pub struct ScriptedService {
    broker: Broker,
    client: AsyncClient,
    thing: String,
    requests: mpsc::UnboundedReceiver<Request>,
    poller: JoinHandle<()>,
    stray: Arc<Mutex<Vec<String>>>,
}

impl ScriptedService {
    /// Starts a broker on a free loopback port and connects to it as the
    /// service identity, subscribed to every thing's jobs topics; returns
    /// once the broker has acknowledged the subscription.
    pub async fn start(thing: &str) -> ScriptedService {
        let broker = Broker::start(BrokerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..BrokerConfig::new(IDENTITY, PASSWORD)
        })
        .await
        .expect("start the broker");
        let addr = broker.local_addr();
        let mut options = MqttOptions::new(IDENTITY, addr.ip().to_string(), addr.port());
        options
            .set_credentials(IDENTITY, PASSWORD)
            .set_max_packet_size(128 * 1024, 128 * 1024)
            .set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        client
            .subscribe(SERVICE_SUBSCRIPTION, QoS::AtLeastOnce)
            .await
            .expect("queue SUBSCRIBE");
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let (tx, requests) = mpsc::unbounded_channel();
        let stray = Arc::new(Mutex::new(Vec::new()));
        let stray_log = Arc::clone(&stray);
        let poller = tokio::spawn(async move {
            let mut subscribed_tx = Some(subscribed_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(done) = subscribed_tx.take() {
                            let _ = done.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        // The filter also brings back our own replies and
                        // notifications: only requests go to the test, and
                        // what is no jobs API at all is kept aside.
                        let operation = match JobsTopic::parse(&p.topic) {
                            Ok((_, JobsTopic::Request(operation))) => operation,
                            Ok(_) => continue,
                            Err(_) => {
                                if let Ok(mut stray) = stray_log.lock() {
                                    stray.push(p.topic.clone());
                                }
                                continue;
                            }
                        };
                        let body = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        let request = Request {
                            topic: p.topic,
                            operation,
                            body,
                            at: Instant::now(),
                        };
                        if tx.send(request).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("the scripted service lost its broker: {e}"),
                }
            }
        });
        tokio::time::timeout(WAIT, subscribed)
            .await
            .expect("SUBACK within the guard")
            .expect("the service's event loop runs");
        ScriptedService {
            broker,
            client,
            thing: thing.to_owned(),
            requests,
            poller,
            stray,
        }
    }

    /// Topics published under `$aws/things/+/jobs/` that are no jobs API
    /// (a job id with `/` in it makes one), in order.
    pub fn stray_topics(&self) -> Vec<String> {
        self.stray.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Where devices connect.
    pub fn addr(&self) -> SocketAddr {
        self.broker.local_addr()
    }

    /// The next request the agent published, whatever it is.
    pub async fn next_request(&mut self) -> Request {
        self.next_request_before(Instant::now() + WAIT).await
    }

    /// The next request, which must arrive before `deadline`: loops that
    /// skip requests (progress) use one deadline for the whole loop, so a
    /// plugin that keeps reporting cannot keep a test waiting forever.
    pub async fn next_request_before(&mut self, deadline: Instant) -> Request {
        tokio::time::timeout_at(deadline.into(), self.requests.recv())
            .await
            .unwrap_or_else(|_| panic!("not the request awaited within {WAIT:?}"))
            .expect("the service's event loop runs")
    }

    /// The next request, which must be an update for `job`.
    pub async fn expect_update(&mut self, job: &str) -> Request {
        let request = self.next_request().await;
        assert!(
            request.is_update(job),
            "expected an update of {job}, got {request:?}"
        );
        request
    }

    /// The next request, which must be a describe of `job` (or `$next`).
    pub async fn expect_describe(&mut self, job: &str) -> Request {
        let request = self.next_request().await;
        assert!(
            request.is_describe(job),
            "expected a describe of {job}, got {request:?}"
        );
        request
    }

    /// Answers the agent's next request, which must be `$next/get`, with
    /// `job` (execution 1, version 1, QUEUED); returns the claim that must
    /// follow it, unanswered.
    pub async fn offer(&mut self, job: &str, document: Value) -> Request {
        self.offer_execution(execution(job, 1, 1, "QUEUED", document))
            .await
    }

    /// [`Self::offer`] with any execution (one IN_PROGRESS after a restart,
    /// say).
    pub async fn offer_execution(&mut self, execution: Value) -> Request {
        let job = execution["jobId"].as_str().unwrap_or_default().to_owned();
        let get = self.expect_next_get().await;
        self.accept(&get, json!({ "execution": execution })).await;
        let claim = self.expect_update(&job).await;
        assert_eq!(claim.status(), "IN_PROGRESS", "{claim:?}");
        claim
    }

    /// The next request, which must be `$next/get`.
    pub async fn expect_next_get(&mut self) -> Request {
        self.expect_describe(NEXT).await
    }

    /// The next request that is not an IN_PROGRESS update of `job` (the
    /// progress a running plugin sends meanwhile), answering those with
    /// accepted.
    pub async fn skip_progress(&mut self, job: &str) -> Request {
        let deadline = Instant::now() + WAIT;
        loop {
            let request = self.next_request_before(deadline).await;
            if request.is_update(job) && request.status() == "IN_PROGRESS" {
                self.accept(&request, json!({})).await;
                continue;
            }
            return request;
        }
    }

    /// The next request that is not an IN_PROGRESS update of `job`, leaving
    /// those unanswered (lost on the way, as far as the agent can tell).
    pub async fn skip_progress_unanswered(&mut self, job: &str) -> Request {
        let deadline = Instant::now() + WAIT;
        loop {
            let request = self.next_request_before(deadline).await;
            if !(request.is_update(job) && request.status() == "IN_PROGRESS") {
                return request;
            }
        }
    }

    /// Asserts that the agent publishes nothing for `quiet`: how a test
    /// shows that something is NOT re-sent. (It has to watch the whole
    /// window in which a resend would come; there is no event to wait for.)
    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Ok(Some(request)) = tokio::time::timeout(quiet, self.requests.recv()).await {
            panic!("expected no request for {quiet:?}, got {request:?}");
        }
    }

    /// Answers `request` on `<topic>/accepted`: its clientToken, a
    /// timestamp and `fields` (e.g. `{"execution": …}`).
    pub async fn accept(&self, request: &Request, fields: Value) {
        let mut body = json!({"timestamp": now(), "clientToken": request.token()});
        merge(&mut body, fields);
        self.publish(format!("{}/accepted", request.topic), body)
            .await;
    }

    /// Answers `request` on `<topic>/rejected` with `code`, and the
    /// `executionState` the codes that carry one send (InvalidStateTransition
    /// and VersionMismatch).
    pub async fn reject(&self, request: &Request, code: &str, state: Option<Value>) {
        let mut body = json!({
            "code": code,
            "message": format!("scripted {code}"),
            "timestamp": now(),
            "clientToken": request.token(),
        });
        if let Some(state) = state {
            body["executionState"] = state;
        }
        self.publish(format!("{}/rejected", request.topic), body)
            .await;
    }

    /// Sends `notify-next` with `execution` at the head (or none).
    pub async fn notify_next(&self, execution: Option<Value>) {
        let mut body = json!({"timestamp": now()});
        if let Some(e) = execution {
            body["execution"] = e;
        }
        let topic = format!("$aws/things/{}/jobs/notify-next", self.thing);
        self.publish(topic, body).await;
    }

    /// Sends `notify` with these lists (`{}` for an empty queue).
    pub async fn notify(&self, jobs: Value) {
        let topic = format!("$aws/things/{}/jobs/notify", self.thing);
        self.publish(topic, json!({"timestamp": now(), "jobs": jobs}))
            .await;
    }

    async fn publish(&self, topic: String, body: Value) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, body.to_string())
            .await
            .expect("queue a reply");
    }
}

impl Drop for ScriptedService {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// An execution state (`JobExecutionState`) for rejected replies.
pub fn state(status: &str, version: u64) -> Value {
    json!({"status": status, "statusDetails": {}, "versionNumber": version})
}

fn merge(body: &mut Value, fields: Value) {
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
