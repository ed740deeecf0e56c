//! The one task that polls rumqttc's `EventLoop` (thin-edge's
//! `mqtt_channel/connection.rs` pattern). It never awaits anything that
//! depends on the rest of the agent, so a slow consumer cannot stall
//! keep-alives or acks (rumqtt#1025).
//!
//! QoS 1 for everything, publishes and subscriptions, chosen per message
//! and the same for each: a request (UpdateJobExecution, `$next/get`) is
//! then kept by rumqttc across a broker hiccup, besides the outbox's own
//! resend on silence, and AWS IoT Core takes QoS 1 as normal (it has no
//! QoS 2); a reply or `notify-next` delivered at QoS 1 is answered at once
//! with a PUBACK, which carries our TCP ACK back to a broker that would
//! otherwise hold its next packet for it ([`low_latency_tcp`] covers the
//! packets we do not answer, such as the PUBACKs of our requests).

use super::backoff::Backoff;
use crate::config::Broker;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, NetworkOptions,
    Packet, QoS, StateError, SubscribeFilter, TlsConfiguration, Transport,
};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// AWS IoT's MQTT message limit; rumqttc's default of 10 KiB would drop the
/// connection on any job document over ~10 KiB.
pub const MAX_PACKET_BYTES: usize = 128 * 1024;

/// Events for the agent, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttEvent {
    /// Connected (again): subscriptions are in place; resend what is
    /// unacknowledged and resynchronise.
    Connected,
    /// A message on a subscribed topic.
    Message {
        /// Topic.
        topic: String,
        /// Payload.
        payload: Vec<u8>,
    },
    /// The connection dropped or was refused; the task is backing off and
    /// will reconnect.
    Disconnected {
        /// What happened, for the log.
        why: String,
        /// The broker answered but said it is unavailable right now (MQTT
        /// 3.1.1 CONNACK "server unavailable"): a reason to try again, not a
        /// verdict on the client's credentials. rmqtt answers so while it
        /// still tears down the previous connection of the same client id.
        busy: bool,
    },
}

/// What the agent asks of the connection.
#[derive(Debug)]
pub enum MqttRequest {
    /// A QoS 1 publish.
    Publish {
        /// Topic.
        topic: String,
        /// Payload.
        payload: Vec<u8>,
    },
    /// Drop the connection and connect again with these options (a
    /// rotated client certificate).
    Reconnect(Box<MqttOptions>),
}

/// Why a request was not queued. Either way the caller keeps its own
/// outbox and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MqttError {
    /// The publish queue is full: the broker is slow or away.
    #[error("the publish queue is full")]
    QueueFull,
    /// The connection task has stopped (the agent is shutting down).
    #[error("the MQTT connection task has stopped")]
    Stopped,
}

/// How many publishes wait for the connection task before
/// [`MqttHandle::publish`] refuses more.
const PUBLISH_QUEUE: usize = 256;

/// The agent's end of the connection: requests go into channels, from any
/// task, without blocking. The other end is [`MqttRequests`]: the
/// connection task's, or a test's.
#[derive(Clone)]
pub struct MqttHandle {
    publishes: mpsc::Sender<MqttRequest>,
    /// Reconnects never wait behind publishes: a certificate rollback must
    /// get through while the publish queue is full of requests for a broker
    /// that refuses the connection.
    control: mpsc::UnboundedSender<MqttRequest>,
}

/// The receiving end of an [`MqttHandle`].
pub struct MqttRequests {
    publishes: mpsc::Receiver<MqttRequest>,
    control: mpsc::UnboundedReceiver<MqttRequest>,
}

/// A connected [`MqttHandle`] and [`MqttRequests`] pair.
pub fn channel() -> (MqttHandle, MqttRequests) {
    let (publishes, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
    let (control, control_rx) = mpsc::unbounded_channel();
    (
        MqttHandle { publishes, control },
        MqttRequests {
            publishes: publish_rx,
            control: control_rx,
        },
    )
}

impl MqttHandle {
    /// Queues a QoS 1 publish. Fails only when the queue is full or the
    /// connection task is gone; callers keep their own outbox and retry.
    pub fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), MqttError> {
        self.publishes
            .try_send(MqttRequest::Publish { topic, payload })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => MqttError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => MqttError::Stopped,
            })
    }

    /// Drops the connection and connects again with `options` (a rotated
    /// client certificate). This handle and every clone stay valid; what
    /// was queued but not sent is dropped on a clean session, as on any
    /// reconnect, and the agent resends it on `Connected`. The outcome
    /// arrives as the next [`MqttEvent::Connected`] or
    /// [`MqttEvent::Disconnected`].
    pub fn reconnect(&self, options: MqttOptions) -> Result<(), MqttError> {
        self.control
            .send(MqttRequest::Reconnect(Box::new(options)))
            .map_err(|_| MqttError::Stopped)
    }
}

impl MqttRequests {
    /// The next request, reconnects first; `None` once every handle is
    /// dropped.
    pub async fn recv(&mut self) -> Option<MqttRequest> {
        tokio::select! {
            biased;
            Some(request) = self.control.recv() => Some(request),
            request = self.publishes.recv() => request,
        }
    }

    /// The next request if one is queued (reconnects first).
    pub fn try_recv(&mut self) -> Option<MqttRequest> {
        self.control
            .try_recv()
            .or_else(|_| self.publishes.try_recv())
            .ok()
    }
}

/// rumqttc options for `broker` (TLS, ALPN, packet size, keep-alive).
pub fn mqtt_options(broker: &Broker) -> MqttOptions {
    let mut o = MqttOptions::new(broker.client_id.clone(), broker.host.clone(), broker.port);
    o.set_keep_alive(broker.keep_alive)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_clean_session(broker.clean_session)
        // Modest, and well under AWS's 100 unacked QoS 1 per client.
        .set_inflight(20);
    if let Some((user, pass)) = &broker.credentials {
        o.set_credentials(user.clone(), pass.clone());
    }
    if let Some(tls) = &broker.tls {
        // rumqttc builds its rustls config with the process's provider.
        crate::crypto::install_provider();
        let alpn = (!tls.alpn.is_empty())
            .then(|| tls.alpn.iter().map(|p| p.as_bytes().to_vec()).collect());
        o.set_transport(Transport::Tls(TlsConfiguration::Simple {
            ca: tls.ca.clone(),
            alpn,
            client_auth: tls.client_auth.clone(),
        }));
    }
    o
}

/// Starts the connection: one task polls the event loop and handles
/// reconnects, another feeds it the publishes (thin-edge's
/// `receiver_loop`/`sender_loop`), so that a full rumqttc queue makes
/// publishes wait, never the poll loop. It subscribes to `subscriptions` on
/// every connect without a session, and runs until `shutdown` turns true
/// or the event receiver is dropped.
pub fn spawn(
    options: MqttOptions,
    subscriptions: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
) -> (MqttHandle, mpsc::Receiver<MqttEvent>) {
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    eventloop.set_network_options(low_latency_tcp());
    let (tx, rx) = mpsc::channel(1024);
    let (handle, requests) = channel();
    let MqttRequests {
        publishes: mut publish_rx,
        control: mut reconnects,
    } = requests;
    let sender = client.clone();
    tokio::spawn(async move {
        while let Some(request) = publish_rx.recv().await {
            if let MqttRequest::Publish { topic, payload } = request {
                // Waits while rumqttc's queue is full; fails only once the
                // event loop is gone.
                if sender
                    .publish(topic, QoS::AtLeastOnce, false, payload)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    tokio::spawn(async move {
        let mut task = Task {
            client,
            eventloop,
            subscriptions,
            tx,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
        };
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        let _ = task.client.try_disconnect();
                        return;
                    }
                }
                Some(request) = reconnects.recv() => task.request(request),
                event = task.eventloop.poll() => match task.handle(event).await {
                    Step::Continue => {}
                    Step::Stop => return,
                    Step::Wait(delay) => {
                        // Back off, but stay responsive to shutdown and to
                        // new options (a certificate rollback must not wait).
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = shutdown.changed() => {}
                            Some(request) = reconnects.recv() => task.request(request),
                        }
                    }
                },
            }
        }
    });
    (handle, rx)
}

/// TCP options that keep each small MQTT packet from waiting ~40 ms for an
/// ACK, in either direction, whatever the broker's own settings:
/// - `TCP_NODELAY`: a request follows the PUBACK of the message that caused
///   it; with Nagle's algorithm on, it would wait for the broker's delayed
///   ACK of that PUBACK.
/// - `TCP_QUICKACK` after every read (Linux; our rumqttc patch): a broker
///   that keeps Nagle on (stock mosquitto does) writes the PUBACK of our
///   request, then the service's reply, and holds the reply until our
///   kernel acknowledges the PUBACK, which it delays up to 40 ms because we
///   have nothing to send. Acknowledging at once removes that wait; it costs
///   one empty ACK segment per read.
pub fn low_latency_tcp() -> NetworkOptions {
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network.set_tcp_quickack(true);
    network
}

struct Task {
    client: AsyncClient,
    eventloop: EventLoop,
    subscriptions: Vec<String>,
    tx: mpsc::Sender<MqttEvent>,
    backoff: Backoff,
}

/// What the poll loop does next.
enum Step {
    Continue,
    /// The agent is gone.
    Stop,
    /// The connection failed: wait this long before polling again.
    Wait(Duration),
}

impl Task {
    /// A request on the control channel (publishes have their own task).
    fn request(&mut self, request: MqttRequest) {
        match request {
            MqttRequest::Reconnect(options) => self.reconnect(*options),
            MqttRequest::Publish { topic, payload } => {
                if let Err(e) = self
                    .client
                    .try_publish(topic, QoS::AtLeastOnce, false, payload)
                {
                    tracing::warn!(target: "mqtt", "cannot queue publish: {e}");
                }
            }
        }
    }

    /// Replaces the options and drops the connection, so that the next poll
    /// connects with them (the event loop stays this task's alone).
    fn reconnect(&mut self, options: MqttOptions) {
        tracing::info!(target: "mqtt", "reconnecting with new options");
        self.eventloop.mqtt_options = options;
        self.eventloop.clean();
        self.backoff.reset();
    }

    /// Handles one poll result.
    async fn handle(&mut self, event: Result<Event, ConnectionError>) -> Step {
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                self.backoff.reset();
                tracing::info!(target: "mqtt", session_present = ack.session_present, "connected");
                // rumqttc does not resubscribe (rumqtt#250). One SUBSCRIBE
                // with every filter, before the agent replays its outbox, so
                // SUBACK ids cannot collide with publishes (rumqtt#1057).
                if !ack.session_present {
                    let filters = self
                        .subscriptions
                        .iter()
                        .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    if let Err(e) = self.client.try_subscribe_many(filters) {
                        tracing::error!(target: "mqtt", "cannot queue subscriptions: {e}");
                    }
                }
                // Connected must not be lost: it drives resynchronisation.
                if self.tx.send(MqttEvent::Connected).await.is_ok() {
                    Step::Continue
                } else {
                    Step::Stop
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let event = MqttEvent::Message {
                    topic: p.topic,
                    payload: p.payload.to_vec(),
                };
                match self.tx.try_send(event) {
                    Ok(()) => Step::Continue,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        // Never block the poll loop; the agent resynchronises
                        // with $next/get, so a dropped message is recoverable.
                        tracing::warn!(target: "mqtt", "agent busy: dropped an incoming message");
                        Step::Continue
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => Step::Stop,
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                {
                    tracing::error!(target: "mqtt", "the broker refused a subscription: check the thing's policy/ACL");
                }
                Step::Continue
            }
            Ok(_) => Step::Continue,
            Err(e) => {
                if matches!(e, ConnectionError::MqttState(StateError::CollisionTimeout)) {
                    // rumqtt#1014/#1056: a publish stuck in `collision` is
                    // never released and the client livelocks. Drop it; the
                    // agent's outbox resends what matters.
                    self.eventloop.state.collision = None;
                    self.eventloop.pending.clear();
                }
                let delay = self.backoff.next_delay();
                tracing::warn!(target: "mqtt", "connection lost: {e}; retrying in {:.1} s", delay.as_secs_f64());
                if self
                    .tx
                    .try_send(MqttEvent::Disconnected {
                        why: e.to_string(),
                        busy: matches!(
                            e,
                            ConnectionError::ConnectionRefused(
                                ConnectReturnCode::ServiceUnavailable
                            )
                        ),
                    })
                    .is_err()
                    && self.tx.is_closed()
                {
                    return Step::Stop;
                }
                Step::Wait(delay)
            }
        }
    }
}
