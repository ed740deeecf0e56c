//! What the benchmarks share on the MQTT side: simulated devices
//! ([`Simulator`]), a polled event loop ([`pump`]), and giving up with the
//! reason ([`fatal`]) rather than measuring something broken.

use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::responses::NotifyNext;
use jobhost_protocol::topics::{JobsTopic, Operation, Reply};
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, SubscribeFilter};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Longest wait for any one event before a benchmark gives up.
pub const WAIT: Duration = Duration::from_secs(30);

/// A spawned task, aborted when this is dropped: MQTT sessions must be gone
/// before their broker stops, or they would report the lost connection.
pub struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The agent's TCP options (`TCP_NODELAY`, `TCP_QUICKACK`): without them a
/// simulated device or an observer would wait ~40 ms on delayed ACKs, and
/// the benchmark would measure that instead of the service.
pub fn no_nagle(eventloop: &mut EventLoop) {
    eventloop.set_network_options(jobhost::mqtt::low_latency_tcp());
}

/// Polls an MQTT event loop and forwards what arrives, stamped on arrival,
/// until the receiver is dropped. `ready` fires on the first SUBACK.
pub fn pump(
    mut eventloop: EventLoop,
    client: AsyncClient,
    filters: Vec<String>,
    ready: oneshot::Sender<()>,
    out: mpsc::UnboundedSender<(Instant, String, Vec<u8>)>,
) -> Task {
    Task(tokio::spawn(async move {
        let mut ready = Some(ready);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let filters = filters
                        .iter()
                        .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    client.try_subscribe_many(filters).expect("queue SUBSCRIBE");
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let message = (Instant::now(), p.topic, p.payload.to_vec());
                    if out.send(message).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => fatal(&format!("MQTT connection failed: {e}")),
            }
        }
    }))
}

/// A benchmark that lost its connection or got a rejection measures
/// nothing: stop the whole process, with the reason.
pub fn fatal(message: &str) -> ! {
    eprintln!("bench: {message}");
    std::process::exit(1)
}

pub async fn recv_within<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(value)) => value,
        Ok(None) => fatal(&format!("channel closed while waiting for {what}")),
        Err(_) => fatal(&format!("nothing within {WAIT:?} while waiting for {what}")),
    }
}

/// A minimal device: claims the head with IN_PROGRESS (expectedVersion),
/// reports SUCCEEDED once the claim is accepted, one execution at a time.
pub struct Simulator {
    thing: String,
    client: AsyncClient,
    current: Option<(String, Phase)>,
    /// A head offered while busy, taken up when the current one is done.
    offered: Option<JobExecution>,
    seen: HashSet<(String, u64)>,
    done: mpsc::UnboundedSender<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Claiming,
    Reporting,
}

impl Simulator {
    /// Connects as `thing`, subscribes, and runs in its own task until the
    /// returned task is dropped.
    pub async fn start(
        broker: SocketAddr,
        thing: &str,
        done: mpsc::UnboundedSender<Instant>,
    ) -> Task {
        let mut options = MqttOptions::new(thing, broker.ip().to_string(), broker.port());
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        no_nagle(&mut eventloop);
        let base = format!("$aws/things/{thing}/jobs");
        let filters = vec![
            format!("{base}/notify-next"),
            format!("{base}/+/update/accepted"),
            format!("{base}/+/update/rejected"),
        ];
        let (ready, subscribed) = oneshot::channel();
        let (tx, mut messages) = mpsc::unbounded_channel();
        let pump = pump(eventloop, client.clone(), filters, ready, tx);
        tokio::time::timeout(WAIT, subscribed)
            .await
            .expect("simulator subscribed in time")
            .expect("simulator subscribed");
        let mut simulator = Simulator {
            thing: thing.to_owned(),
            client,
            current: None,
            offered: None,
            seen: HashSet::new(),
            done,
        };
        tokio::spawn(async move {
            while let Some((_, topic, payload)) = messages.recv().await {
                simulator.on_message(&topic, &payload);
            }
        });
        pump
    }

    fn on_message(&mut self, topic: &str, payload: &[u8]) {
        match JobsTopic::parse(topic) {
            Ok((_, JobsTopic::NotifyNext)) => {
                let next: NotifyNext =
                    serde_json::from_slice(payload).expect("notify-next payload");
                self.offered = next.execution;
                self.take_offer();
            }
            Ok((_, JobsTopic::Reply(Operation::Update(job), Reply::Accepted))) => {
                self.on_accepted(&job);
            }
            _ => fatal(&format!(
                "{}: unexpected message on {topic}: {}",
                self.thing,
                String::from_utf8_lossy(payload)
            )),
        }
    }

    fn take_offer(&mut self) {
        if self.current.is_some() {
            return;
        }
        let Some(e) = self.offered.take() else {
            return;
        };
        if e.status.is_terminal() || !self.seen.insert((e.job_id.clone(), e.execution_number)) {
            return;
        }
        let mut claim = UpdateRequest::new(JobExecutionStatus::InProgress);
        claim.expected_version = Some(e.version_number);
        claim.execution_number = Some(e.execution_number);
        self.update(&e.job_id, &claim);
        self.current = Some((e.job_id, Phase::Claiming));
    }

    fn on_accepted(&mut self, job: &str) {
        match self.current.take() {
            Some((current, Phase::Claiming)) if current == job => {
                self.update(job, &UpdateRequest::new(JobExecutionStatus::Succeeded));
                self.current = Some((current, Phase::Reporting));
            }
            Some((current, Phase::Reporting)) if current == job => {
                let _ = self.done.send(Instant::now());
                self.take_offer();
            }
            other => self.current = other,
        }
    }

    fn update(&self, job: &str, request: &UpdateRequest) {
        let topic = JobsTopic::Request(Operation::Update(job.to_owned())).for_thing(&self.thing);
        let payload = serde_json::to_vec(request).expect("an update encodes");
        if let Err(e) = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
        {
            fatal(&format!("{}: cannot queue an update: {e}", self.thing));
        }
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), in KiB; None
/// when the process is gone or the field missing.
pub fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    proc_kib(pid, "status", key)
}

/// A `kB` field (`Pss:`, `VmRSS:`, ...) of `/proc/<pid>/<file>`, in KiB.
pub fn proc_kib(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
