//! What [`Server::start`](super::Server::start) is told: [`ServerConfig`]
//! and its parts (which broker, the device CA), their defaults, and the
//! one check made before anything starts ([`check_exposure`]).

use super::ServerError;
use crate::api::AwsCredentials;
use crate::broker::{BrokerTls, OperatorCredentials};
use crate::clock::{system_clock, Clock};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// How long [`Server::start`](super::Server::start) waits by default
/// ([`ServerConfig::ready_timeout`]) for the broker to accept the service's
/// connection and acknowledge its subscription before giving up: long
/// enough for a broker that is still starting (the service retries with
/// backoff), short enough that a wrong address or a broker that never
/// answers is reported instead of hanging.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Default lifetime of presigned URLs: an hour, the most AWS allows
/// (`expiresInSec` 60-3600), and `jobhost-fleet serve --url-ttl`'s default.
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(3600);

/// Which broker the service uses.
#[derive(Debug, Clone)]
pub enum BrokerChoice {
    /// Start rmqtt in-process on this address (port 0: any free port),
    /// plain TCP; a device is identified by its MQTT client id, which
    /// nothing proves, so a non-loopback address is refused unless
    /// `allow_plain_mqtt` ([`crate::broker::BrokerConfig::allow_plain_mqtt`]).
    Embedded {
        /// Listen address.
        listen: SocketAddr,
        /// Accept a non-loopback `listen` (with a warning in the log).
        allow_plain_mqtt: bool,
    },
    /// Start rmqtt in-process with TLS on this address, requiring a client
    /// certificate signed by `tls.client_ca` (mTLS); a device is identified
    /// by its certificate's CN, which must also be its client id.
    EmbeddedTls {
        /// Listen address.
        listen: SocketAddr,
        /// Server certificate, key, and the CA for client certificates.
        tls: BrokerTls,
    },
    /// Connect to a broker someone else runs (mosquitto, EMQX, ...), which
    /// must give this identity `$aws/things/+/jobs/#` and isolate things.
    External {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Credentials for the service identity.
        credentials: Option<(String, String)>,
    },
}

/// Everything [`Server::start`](super::Server::start) needs. [`ServerConfig::default`] is a
/// service a test or the demo can start: everything on loopback, on any
/// free port, the system clock, no token and no CA; set what differs and
/// take the rest with `..ServerConfig::default()`.
#[derive(Clone)]
pub struct ServerConfig {
    /// Holds `jobs.sqlite`, `artifacts/` and `uploads/`.
    pub data_dir: PathBuf,
    /// The broker.
    pub broker: BrokerChoice,
    /// HTTP API and artifact downloads.
    pub http: SocketAddr,
    /// Base URL devices use for artifacts; defaults to `http://<http addr>`.
    pub public_url: Option<String>,
    /// Lifetime of presigned URLs.
    pub url_ttl: Duration,
    /// Bearer token for the management API. This or `aws_credentials` is
    /// required when `http` is not a loopback address
    /// ([`ServerError::NoToken`]).
    pub token: Option<String>,
    /// The access key AWS SDKs and the AWS CLI sign management requests
    /// with (SigV4), alone or beside the token.
    pub aws_credentials: Option<AwsCredentials>,
    /// The CA that signs devices' certificate requests (the
    /// `${jobhost:csr-url}` placeholder and `POST /certificates/...`); none
    /// by default.
    pub ca: Option<CaFiles>,
    /// How long [`Server::start`](super::Server::start) waits for the broker to acknowledge the
    /// service's subscription ([`READY_TIMEOUT`] by default).
    pub ready_timeout: Duration,
    /// The clock for timestamps, timeouts and URL expiry; tests inject one
    /// they can move ([`system_clock`] by default).
    pub clock: Clock,
    /// The embedded broker's operator identity, for the jobs events
    /// ([`crate::broker::BrokerConfig::operator`]); none by default.
    pub events_operator: Option<OperatorCredentials>,
}

/// Loopback addresses on port 0 (any free port), so that a default server
/// never collides with another one or reaches the network.
impl Default for ServerConfig {
    fn default() -> Self {
        let loopback_any_port = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        Self {
            data_dir: PathBuf::from("fleet-data"),
            broker: BrokerChoice::Embedded {
                listen: loopback_any_port,
                allow_plain_mqtt: false,
            },
            http: loopback_any_port,
            public_url: None,
            url_ttl: DEFAULT_URL_TTL,
            token: None,
            aws_credentials: None,
            ca: None,
            ready_timeout: READY_TIMEOUT,
            clock: system_clock(),
            events_operator: None,
        }
    }
}

/// Hand-written: the clock is a closure, which has no `Debug`.
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("broker", &self.broker)
            .field("http", &self.http)
            .field("public_url", &self.public_url)
            .field("url_ttl", &self.url_ttl)
            // The bearer token is a secret: whether there is one, never
            // what it is (a config printed into a log must not leak it).
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            // The key id, and the secret as `<redacted>` (AwsCredentials' Debug).
            .field("aws_credentials", &self.aws_credentials)
            .field("ca", &self.ca)
            .field("ready_timeout", &self.ready_timeout)
            .field("events_operator", &self.events_operator)
            .finish_non_exhaustive()
    }
}

/// The CA that signs devices' certificate requests
/// (`jobhost-fleet serve --ca-cert/--ca-key`, `crate::certificates`).
#[derive(Debug, Clone)]
pub struct CaFiles {
    /// The CA certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// How long the certificates it issues are valid
    /// ([`crate::certificates::DEFAULT_VALIDITY`] unless told otherwise).
    pub validity: Duration,
}

/// Refuses, before anything is started, a management API that the network
/// could reach without a token or an AWS access key: devices need the HTTP port for
/// artifacts, uploads and CSRs, so a real deployment binds it off
/// loopback, and must then protect the management routes. The presigned
/// routes need no token either way: their signature is the credential.
pub(super) fn check_exposure(config: &ServerConfig) -> Result<(), ServerError> {
    match &config.token {
        Some(token) if token.trim().is_empty() => Err(ServerError::EmptyToken),
        None if config.aws_credentials.is_none() && !config.http.ip().is_loopback() => {
            Err(ServerError::NoToken { addr: config.http })
        }
        _ => Ok(()),
    }
}
