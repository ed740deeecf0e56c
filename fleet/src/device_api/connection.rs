//! The service's MQTT connection: one task polls rumqttc and forwards
//! messages; [`Publisher`] sends from anywhere without blocking it.

use rumqttc::{AsyncClient, Event, MqttOptions, NetworkOptions, Packet, QoS, SubscribeReasonCode};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Every thing's jobs topics.
pub const SUBSCRIPTION: &str = jobhost_protocol::topics::SERVICE_SUBSCRIPTION;

/// Whether device requests reach the service, published by the connection
/// task so that `Server::start` can wait for it: a request published before
/// the broker acknowledged [`SUBSCRIPTION`] is lost (clean sessions), and a
/// device only asks again after its own timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Not subscribed (yet, or since the connection dropped); the last
    /// connection error, if there was one.
    Connecting(Option<String>),
    /// Connected, and the broker acknowledged [`SUBSCRIPTION`] (SUBACK).
    Subscribed,
    /// The broker refused [`SUBSCRIPTION`] (SUBACK failure): it does not
    /// grant this identity the jobs topics.
    Refused,
}

/// Publishes QoS 1 messages.
#[derive(Clone)]
pub struct Publisher {
    queue: mpsc::UnboundedSender<(String, Vec<u8>)>,
}

impl Publisher {
    /// Queues a publish and returns at once. It must never wait for rumqttc:
    /// the task that calls it is the one that drains the incoming channel,
    /// and a full incoming channel stops the poll loop that drains rumqttc's
    /// request queue, so waiting here deadlocks the service under a burst
    /// (a few thousand notifications at once; benches/e2e.rs found it).
    pub async fn publish(&self, topic: String, payload: Vec<u8>) {
        if self.queue.send((topic.clone(), payload)).is_err() {
            tracing::error!(target: "service", "cannot publish to {topic}: connection closed");
        }
    }
}

/// Feeds queued publishes to rumqttc, in order, until every [`Publisher`]
/// is dropped.
fn forward(client: AsyncClient, mut queue: mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    tokio::spawn(async move {
        while let Some((topic, payload)) = queue.recv().await {
            if let Err(e) = client
                .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
                .await
            {
                tracing::error!(target: "service", "cannot publish to {topic}: {e}");
            }
        }
    });
}

/// Starts the connection task. It reports on `ready` as it connects,
/// subscribes, and loses the connection.
pub(crate) fn spawn(
    options: MqttOptions,
    mut shutdown: watch::Receiver<bool>,
    ready: watch::Sender<Readiness>,
) -> (Publisher, mpsc::Receiver<(String, Vec<u8>)>) {
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    eventloop.set_network_options(low_latency_tcp());
    let (tx, rx) = mpsc::channel(4096);
    let (queue, outgoing) = mpsc::unbounded_channel();
    forward(client.clone(), outgoing);
    let publisher = Publisher { queue };
    tokio::spawn(async move {
        let mut failures: u32 = 0;
        loop {
            let event = tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        let _ = client.try_disconnect();
                        return;
                    }
                    continue;
                }
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    failures = 0;
                    tracing::info!(target: "service", "connected to the broker");
                    // rumqttc does not resubscribe by itself (rumqtt#250).
                    if ack.session_present {
                        // The broker kept the subscription with the session.
                        ready.send_replace(Readiness::Subscribed);
                    } else if let Err(e) = client.try_subscribe(SUBSCRIPTION, QoS::AtLeastOnce) {
                        tracing::error!(target: "service", "cannot subscribe: {e}");
                        ready.send_replace(Readiness::Connecting(Some(format!(
                            "cannot subscribe: {e}"
                        ))));
                    }
                }
                // The only SUBSCRIBE this client sends is SUBSCRIPTION, and
                // rmqtt adds the route before it acknowledges: from here on
                // device requests reach the service.
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    let granted = !ack.return_codes.is_empty()
                        && ack
                            .return_codes
                            .iter()
                            .all(|c| matches!(c, SubscribeReasonCode::Success(_)));
                    if granted {
                        tracing::info!(target: "service", "subscribed to {SUBSCRIPTION}");
                        ready.send_replace(Readiness::Subscribed);
                    } else {
                        tracing::error!(target: "service", "the broker refused the subscription to {SUBSCRIPTION}");
                        ready.send_replace(Readiness::Refused);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic, p.payload.to_vec())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    ready.send_replace(Readiness::Connecting(Some(e.to_string())));
                    failures = failures.saturating_add(1);
                    // Loopback broker: retry fast at first, then back off.
                    let delay = Duration::from_millis(200u64.saturating_mul(1 << failures.min(5)))
                        .min(Duration::from_secs(5));
                    tracing::warn!(target: "service", "broker connection lost: {e}; retrying in {} ms", delay.as_millis());
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    });
    (publisher, rx)
}

/// TCP options that keep the service's small packets from waiting ~40 ms
/// for an ACK, whatever the broker's own settings (the agent sets the same,
/// `jobhost::mqtt::low_latency_tcp`, where the reasoning is spelt out):
/// `TCP_NODELAY`, because a reply follows the PUBACK of its request; and
/// `TCP_QUICKACK` after every read (Linux, our rumqttc patch), because a
/// broker with Nagle on holds the next request it forwards to us until we
/// acknowledge the PUBACK of our last reply, which the kernel would delay.
fn low_latency_tcp() -> NetworkOptions {
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network.set_tcp_quickack(true);
    network
}
