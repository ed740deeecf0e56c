//! What the embedded broker is told at start, and its fixed limits.

use std::net::SocketAddr;
use std::path::PathBuf;

/// AWS IoT Core's MQTT packet size limit (128 KiB); rmqtt's default is 1 MiB
/// and rumqttc's 10 KiB, so both ends are set explicitly.
pub const MAX_PACKET_SIZE: u32 = 128 * 1024;
/// Unacknowledged QoS1 messages per client; AWS IoT allows 100 (rmqtt: 16).
pub(super) const MAX_INFLIGHT: u16 = 100;
/// Messages queued per client behind a full inflight window. rmqtt's default
/// of 1000 silently drops QoS1 messages under bursts: when the queue is full
/// rmqtt discards the message (`MessageQueueFull`) although the publisher
/// already had its PUBACK (measured: up to thousands lost in a burst of
/// 100k).
pub(super) const MAX_MQUEUE_LEN: usize = 100_000;

/// How to run the broker. `Debug` leaves the password out.
#[derive(Clone)]
pub struct BrokerConfig {
    /// Where to listen. Port 0 picks a free port; the real address is
    /// [`Broker::local_addr`](super::Broker::local_addr).
    pub listen: SocketAddr,
    /// The jobs service's privileged identity (username, and client id).
    pub service_username: String,
    /// The service's password, generated per start by the caller; compared
    /// in constant time.
    pub service_password: String,
    /// Mutual TLS on `listen`. When set, every client there must present a
    /// certificate signed by `client_ca`, and the certificate's CN is its
    /// identity. Without `service_listen`, the service connects there too,
    /// with a certificate whose CN is `service_username` plus the password.
    pub tls: Option<BrokerTls>,
    /// A second, plain-TCP listener for the jobs service alone; must be a
    /// loopback address (port 0: any free port, see
    /// [`Broker::service_addr`](super::Broker::service_addr)).
    ///
    /// When set, the service identity is accepted *only* there and refused on
    /// `listen` whatever certificate or password a client presents, and no
    /// device may connect on this one. So the service needs no certificate of
    /// its own, its password never crosses a network interface, and a device
    /// (even one holding a CA-signed certificate with the service's name) can
    /// never obtain the service's privileges over the public listener.
    pub service_listen: Option<SocketAddr>,
    /// Lets a plain-TCP `listen` (no `tls`) be something other than a
    /// loopback address. Off by default because on plain TCP a device's
    /// identity is the client id it claims, with nothing to prove it:
    /// whoever reaches the port can connect as any thing, take its session
    /// over and read its job documents (with their presigned URLs). Only
    /// for networks where every host that can reach the port is trusted;
    /// [`Broker::start`](super::Broker::start) logs a warning when used.
    pub allow_plain_mqtt: bool,
    /// An operator identity for monitoring applications, which may
    /// subscribe to `$aws/events/…` and nothing else (the jobs events);
    /// none by default.
    pub operator: Option<OperatorCredentials>,
    /// Where to report devices connecting and disconnecting (the thing
    /// registry's connectivity); None reports nothing.
    pub presence: Option<super::PresenceSender>,
}

/// The operator identity: a client id no device may use, proven by a
/// password (and, with mTLS, by a client certificate whose CN is that
/// client id). The password is required even with a certificate: the
/// client CA may also sign devices' certificates (with CN = thing name),
/// and a device named like the operator must not become it.
#[derive(Clone)]
pub struct OperatorCredentials {
    /// Its MQTT client id (and username): `[a-zA-Z0-9:_-]{1,128}`, not the
    /// service's.
    pub client_id: String,
    /// Its password; compared in constant time.
    pub password: String,
}

impl std::fmt::Debug for OperatorCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorCredentials")
            .field("client_id", &self.client_id)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl BrokerConfig {
    /// A plain-TCP broker on the default address `127.0.0.1:1883`.
    pub fn new(service_username: impl Into<String>, service_password: impl Into<String>) -> Self {
        BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            service_username: service_username.into(),
            service_password: service_password.into(),
            tls: None,
            service_listen: None,
            allow_plain_mqtt: false,
            operator: None,
            presence: None,
        }
    }
}

impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("listen", &self.listen)
            .field("service_username", &self.service_username)
            .field("service_password", &"<redacted>")
            .field("tls", &self.tls)
            .field("service_listen", &self.service_listen)
            .field("allow_plain_mqtt", &self.allow_plain_mqtt)
            .field("operator", &self.operator)
            .field("presence", &self.presence.is_some())
            .finish()
    }
}

/// PEM files for the mTLS listener.
#[derive(Clone, Debug)]
pub struct BrokerTls {
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// CA(s) that sign client certificates.
    pub client_ca: PathBuf,
}
