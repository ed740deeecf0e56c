//! A simulated device for the console's tests: claims its next job
//! (IN_PROGRESS, with expectedVersion), then reports its outcome once the
//! claim is accepted; a held device waits for [`Device::release`] before
//! reporting, so that a test can have the browser watching first.

use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::responses::NotifyNext;
use jobhost_protocol::topics::{JobsTopic, Operation, Reply};
use jobhost_protocol::JobExecutionStatus;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How a device ends each job.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Succeed,
    /// FAILED, with this as statusDetails' `reason`.
    Fail(&'static str),
}

/// A running simulated device; stops when dropped.
pub struct Device {
    tasks: Vec<JoinHandle<()>>,
    release: watch::Sender<bool>,
    client: AsyncClient,
    thing: String,
    /// The last job claimed and its document, as delivered (placeholders
    /// resolved: presigned URLs).
    claimed: watch::Receiver<Option<(String, serde_json::Value)>>,
}

impl Drop for Device {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Device {
    /// Connects as `thing` and waits until it is subscribed.
    pub async fn start(broker: SocketAddr, thing: &str, outcome: Outcome, held: bool) -> Device {
        let mut options = MqttOptions::new(thing, broker.ip().to_string(), broker.port());
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let base = format!("$aws/things/{thing}/jobs");
        let filters = [
            format!("{base}/notify-next"),
            format!("{base}/+/update/accepted"),
        ];
        let (ready, subscribed) = oneshot::channel();
        let (tx, mut messages) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
        let sub = client.clone();
        let pump = tokio::spawn(async move {
            let mut ready = Some(ready);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let f = filters
                            .iter()
                            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                        sub.try_subscribe_many(f).expect("queue SUBSCRIBE");
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send((p.topic, p.payload.to_vec())).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("simulated device: MQTT connection failed: {e}"),
                }
            }
        });
        tokio::time::timeout(crate::support::WAIT, subscribed)
            .await
            .expect("simulated device subscribed in time")
            .expect("simulated device subscribed");
        let (release, mut released) = watch::channel(!held);
        let thing = thing.to_owned();
        let (client_copy, thing_copy) = (client.clone(), thing.clone());
        let (claimed_tx, claimed) = watch::channel(None);
        let logic = tokio::spawn(async move {
            let mut claiming: Option<String> = None;
            while let Some((topic, payload)) = messages.recv().await {
                match JobsTopic::parse(&topic) {
                    Ok((_, JobsTopic::NotifyNext)) => {
                        let next: NotifyNext =
                            serde_json::from_slice(&payload).expect("notify-next");
                        let Some(e) = next.execution else { continue };
                        if e.status.is_terminal() || claiming.is_some() {
                            continue;
                        }
                        let mut claim = UpdateRequest::new(JobExecutionStatus::InProgress);
                        claim.expected_version = Some(e.version_number);
                        claim.execution_number = Some(e.execution_number);
                        update(&client, &thing, &e.job_id, &claim);
                        let document = e.job_document.clone().unwrap_or_default();
                        claimed_tx.send_replace(Some((e.job_id.clone(), document)));
                        claiming = Some(e.job_id);
                    }
                    Ok((_, JobsTopic::Reply(Operation::Update(job), Reply::Accepted))) => {
                        if claiming.as_deref() != Some(job.as_str()) {
                            continue; // the accepted final report
                        }
                        claiming = None;
                        let _ = released.wait_for(|r| *r).await;
                        let report = match outcome {
                            Outcome::Succeed => UpdateRequest::new(JobExecutionStatus::Succeeded),
                            Outcome::Fail(reason) => {
                                let mut r = UpdateRequest::new(JobExecutionStatus::Failed);
                                r.status_details = Some(
                                    [("reason".to_owned(), reason.to_owned())]
                                        .into_iter()
                                        .collect(),
                                );
                                r
                            }
                        };
                        update(&client, &thing, &job, &report);
                    }
                    _ => {}
                }
            }
        });
        Device {
            tasks: vec![pump, logic],
            release,
            client: client_copy,
            thing: thing_copy,
            claimed,
        }
    }

    /// The document of `job` as this device received it, once claimed.
    pub async fn document(&self, job: &str) -> serde_json::Value {
        let mut claimed = self.claimed.clone();
        let got = tokio::time::timeout(
            crate::support::WAIT,
            claimed.wait_for(|c| c.as_ref().is_some_and(|(j, _)| j == job)),
        )
        .await
        .expect("the job claimed in time")
        .expect("the device runs");
        got.as_ref().map(|(_, d)| d.clone()).unwrap_or_default()
    }

    /// Reports `job` still IN_PROGRESS with statusDetails `key: value` (a
    /// step, a progress figure), as an agent does while it works.
    pub fn progress(&self, job: &str, key: &str, value: &str) {
        let mut r = UpdateRequest::new(JobExecutionStatus::InProgress);
        r.status_details = Some([(key.to_owned(), value.to_owned())].into_iter().collect());
        update(&self.client, &self.thing, job, &r);
    }

    /// Lets a held device report its outcome.
    pub fn release(&self) {
        self.release.send_replace(true);
    }
}

fn update(client: &AsyncClient, thing: &str, job: &str, request: &UpdateRequest) {
    let topic = JobsTopic::Request(Operation::Update(job.to_owned())).for_thing(thing);
    let payload = serde_json::to_vec(request).expect("an update encodes");
    client
        .try_publish(topic, QoS::AtLeastOnce, false, payload)
        .expect("queue an update");
}
