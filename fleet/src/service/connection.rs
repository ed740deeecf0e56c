//! The service's MQTT connection: one task polls rumqttc and forwards
//! messages; [`Publisher`] sends from anywhere without blocking it.

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Every thing's jobs topics.
pub const SUBSCRIPTION: &str = jobhost_protocol::topics::SERVICE_SUBSCRIPTION;

/// Publishes QoS 1 messages.
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
}

impl Publisher {
    /// Queues a publish; waits only when rumqttc's request queue is full.
    pub async fn publish(&self, topic: String, payload: Vec<u8>) {
        if let Err(e) = self
            .client
            .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
            .await
        {
            tracing::error!(target: "service", "cannot publish to {topic}: {e}");
        }
    }
}

pub(crate) fn spawn(
    options: MqttOptions,
    mut shutdown: watch::Receiver<bool>,
) -> (Publisher, mpsc::Receiver<(String, Vec<u8>)>) {
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let (tx, rx) = mpsc::channel(4096);
    let publisher = Publisher {
        client: client.clone(),
    };
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
                    if !ack.session_present {
                        if let Err(e) = client.try_subscribe(SUBSCRIPTION, QoS::AtLeastOnce) {
                            tracing::error!(target: "service", "cannot subscribe: {e}");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic, p.payload.to_vec())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
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
