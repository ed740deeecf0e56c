//! Shared support for the fleet integration tests: a small MQTT test client
//! on top of rumqttc, test certificates, and a real mosquitto broker.
//!
//! Everything that waits does so on an event, with [`WAIT`] only as a guard
//! against hanging forever: the helpers panic (failing the test) when the
//! guard fires, and never sleep to synchronise.

pub mod agent;
pub mod artifact_sig;
pub mod logs;
pub mod mosquitto;
pub mod plugins;
pub mod proxy;
pub mod recorder;
pub mod service;
pub mod sse;
pub mod stand_in;
pub mod tls;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, MqttOptions, Packet, Publish, QoS, SubscribeReasonCode,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Failure guard for every awaited MQTT event: long enough for a loaded
/// 2-core CI machine, short enough that a hung test fails visibly.
pub const WAIT: Duration = Duration::from_secs(10);

/// An HTTP client for the service's API and its presigned URLs, which are
/// on loopback: no proxy from the environment. reqwest is built without a
/// crypto provider of its own (the workspace's Cargo.toml), so the
/// process's, ring, is installed first, as the service does.
pub fn http() -> reqwest::Client {
    jobhost_fleet::broker::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// AWS IoT's MQTT packet size limit; rumqttc's default is only 10 KiB.
pub const MAX_PACKET_SIZE: usize = 128 * 1024;

/// Client options as the agent uses them: clean session, 128 KiB packets,
/// 30 s keep-alive, connecting to `addr` with MQTT client id `client_id`.
pub fn options(client_id: &str, addr: SocketAddr) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
    options
        .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE)
        .set_keep_alive(Duration::from_secs(30));
    options
}

/// A connected rumqttc client whose event loop runs in its own task (the
/// rumqttc rule: nothing else may block the task that polls). Incoming
/// packets are read one at a time by the test through the methods below.
///
/// The event loop is polled until the first error and then stops: rumqttc
/// would otherwise reconnect at once, hiding the disconnect a test is
/// looking for. Reconnect by calling [`TestClient::connect`] again.
pub struct TestClient {
    pub client: AsyncClient,
    client_id: String,
    packets: mpsc::UnboundedReceiver<Result<Packet, ConnectionError>>,
    /// PUBLISHes that arrived while a method waited for something else.
    held: VecDeque<Publish>,
    poller: JoinHandle<()>,
}

impl TestClient {
    /// Connects and waits for CONNACK. A refused CONNECT (for instance
    /// `ConnectionRefused(NotAuthorized)`) or a failed TLS handshake is
    /// returned as the error.
    pub async fn connect(options: MqttOptions) -> Result<TestClient, ConnectionError> {
        let client_id = options.client_id();
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (tx, packets) = mpsc::unbounded_channel();
        let poller = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(packet)) => {
                        if tx.send(Ok(packet)).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        let mut this = TestClient {
            client,
            client_id,
            packets,
            held: VecDeque::new(),
            poller,
        };
        match this.next_packet().await? {
            Packet::ConnAck(_) => Ok(this),
            other => panic!("{}: expected CONNACK, got {other:?}", this.client_id),
        }
    }

    /// Subscribes to `filter` at QoS1 and returns the broker's verdict from
    /// the SUBACK: `Success(qos)` or `Failure` (0x80, e.g. refused by ACL).
    pub async fn subscribe(&mut self, filter: &str) -> SubscribeReasonCode {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap_or_else(|e| panic!("{}: cannot send SUBSCRIBE: {e}", self.client_id));
        loop {
            match self.next_packet().await {
                Ok(Packet::SubAck(ack)) => {
                    return *ack
                        .return_codes
                        .first()
                        .unwrap_or(&SubscribeReasonCode::Failure)
                }
                Ok(Packet::Publish(p)) => self.held.push_back(p),
                Ok(_) => {}
                Err(e) => panic!(
                    "{}: disconnected while waiting for SUBACK of {filter}: {e}",
                    self.client_id
                ),
            }
        }
    }

    /// Publishes `payload` to `topic` at QoS1 and waits for the PUBACK.
    /// Returns the connection error instead if the broker disconnects the
    /// client first (as a broker enforcing an AWS-like policy does).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), ConnectionError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .unwrap_or_else(|e| panic!("{}: cannot send PUBLISH: {e}", self.client_id));
        loop {
            match self.next_packet().await? {
                Packet::PubAck(_) => return Ok(()),
                Packet::Publish(p) => self.held.push_back(p),
                _ => {}
            }
        }
    }

    /// The next message delivered to this client.
    pub async fn recv_publish(&mut self) -> Publish {
        if let Some(p) = self.held.pop_front() {
            return p;
        }
        loop {
            match self.next_packet().await {
                Ok(Packet::Publish(p)) => return p,
                Ok(_) => {}
                Err(e) => panic!(
                    "{}: disconnected while waiting for a message: {e}",
                    self.client_id
                ),
            }
        }
    }

    /// Waits until the broker closes the connection and returns the error
    /// rumqttc reported. Messages received meanwhile are kept for
    /// [`TestClient::recv_publish`].
    pub async fn disconnected(&mut self) -> ConnectionError {
        loop {
            match self.next_packet().await {
                Ok(Packet::Publish(p)) => self.held.push_back(p),
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    }

    async fn next_packet(&mut self) -> Result<Packet, ConnectionError> {
        match tokio::time::timeout(WAIT, self.packets.recv()).await {
            Ok(Some(packet)) => packet,
            Ok(None) => panic!("{}: the connection already ended", self.client_id),
            Err(_) => panic!("{}: no MQTT packet within {WAIT:?}", self.client_id),
        }
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.poller.abort();
    }
}
