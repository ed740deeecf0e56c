//! When the service accepted a job's SUCCEEDED, as seen on the broker.
//!
//! A session subscribed to every thing's `…/jobs/<jobId>/update` requests
//! and their `/accepted` and `/rejected` replies (on AWS a reply goes only
//! to the requester; on these brokers it is an ordinary publish any
//! subscriber with access receives). The replies to one device's updates
//! come back in the order of the requests (the service handles a thing's
//! requests in order), so the reply to the SUCCEEDED update is the k-th
//! `/accepted` of the job when SUCCEEDED was its k-th update. Counting,
//! not `clientToken`s: the Python SDK sends the same token with every
//! request. The request and its reply reach this session by different
//! paths, so either may arrive first.
//!
//! The session has the agent's TCP options (`TCP_NODELAY`, `TCP_QUICKACK`),
//! so that what it measures is not its own delayed ACKs; it subscribes with
//! QoS 1, as the devices do.

use crate::support::{no_nagle, pump, Task};
use jobhost_protocol::topics::{JobsTopic, Operation, Reply};
use rumqttc::{AsyncClient, MqttOptions};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long one job may take before the benchmark gives up on it.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct Observer {
    _pump: Task,
    messages: mpsc::UnboundedReceiver<(Instant, String, Vec<u8>)>,
    jobs: HashMap<String, Trace>,
}

/// One job's updates and replies so far.
#[derive(Default)]
struct Trace {
    /// The statuses of its update requests and when each arrived, in order.
    requests: Vec<(Instant, String)>,
    /// When each `/accepted` reply arrived, in order.
    accepted: Vec<Instant>,
}

/// What the observer saw of one job, once the SUCCEEDED was accepted.
pub struct Seen {
    /// The reply accepting the SUCCEEDED update.
    pub accepted: Instant,
    /// The SUCCEEDED update request.
    pub reported: Instant,
    /// The device's claim (its first update, IN_PROGRESS) and the reply
    /// accepting it; `None` for a device that reported SUCCEEDED without
    /// claiming first.
    pub claim: Option<(Instant, Instant)>,
}

impl Trace {
    /// The job's SUCCEEDED and its acceptance, once both are in.
    fn succeeded(&self) -> Option<Seen> {
        let k = self.requests.iter().position(|(_, s)| s == "SUCCEEDED")?;
        let accepted = *self.accepted.get(k)?;
        let claim = self
            .requests
            .iter()
            .position(|(_, s)| s == "IN_PROGRESS")
            .filter(|&c| c < k)
            .map(|c| (self.requests[c].0, self.accepted[c]));
        Some(Seen {
            accepted,
            reported: self.requests[k].0,
            claim,
        })
    }
}

impl Observer {
    pub async fn connect(mut options: MqttOptions) -> Observer {
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(256 * 1024, 256 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        no_nagle(&mut eventloop);
        let filters = vec![
            "$aws/things/+/jobs/+/update".to_owned(),
            "$aws/things/+/jobs/+/update/+".to_owned(),
        ];
        let (ready, subscribed) = oneshot::channel();
        let (tx, messages) = mpsc::unbounded_channel();
        let pump = pump(eventloop, client, filters, ready, tx);
        tokio::time::timeout(WAIT, subscribed)
            .await
            .expect("the observer subscribed in time")
            .expect("the observer subscribed");
        Observer {
            _pump: pump,
            messages,
            jobs: HashMap::new(),
        }
    }

    /// When the reply accepting `job_id`'s SUCCEEDED arrived, and the
    /// updates before it; `None` if it did not within [`WAIT`]. A rejected
    /// update stops the benchmark: it would measure nothing then.
    pub async fn succeeded(&mut self, job_id: &str) -> Option<Seen> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(seen) = self.jobs.get(job_id).and_then(Trace::succeeded) {
                self.jobs.remove(job_id);
                return Some(seen);
            }
            let (at, topic, payload) = tokio::time::timeout_at(deadline, self.messages.recv())
                .await
                .ok()??;
            let Ok((_, parsed)) = JobsTopic::parse(&topic) else {
                continue;
            };
            match parsed {
                JobsTopic::Request(Operation::Update(job)) => {
                    let status = serde_json::from_slice::<Value>(&payload)
                        .ok()
                        .and_then(|v| v.get("status")?.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    self.jobs
                        .entry(job)
                        .or_default()
                        .requests
                        .push((at, status));
                }
                JobsTopic::Reply(Operation::Update(job), Reply::Accepted) => {
                    self.jobs.entry(job).or_default().accepted.push(at);
                }
                JobsTopic::Reply(Operation::Update(job), Reply::Rejected) => {
                    crate::support::fatal(&format!(
                        "an update of {job} was rejected: {}",
                        String::from_utf8_lossy(&payload)
                    ))
                }
                _ => {}
            }
        }
    }
}
