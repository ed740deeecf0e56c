//! Errors from starting the embedded broker.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("the service username must not be empty")]
    EmptyServiceUsername,
    #[error("the service password must not be empty")]
    EmptyServicePassword,
    #[error(
        "the operator client id {0:?} is not usable: it must be 1-128 characters of \
         [a-zA-Z0-9:_-] and not the service's"
    )]
    OperatorClientId(String),
    #[error("the operator password must not be empty")]
    EmptyOperatorPassword,
    #[error("TLS file path {0} is not valid UTF-8")]
    NonUtf8Path(PathBuf),
    #[error(
        "the service listener {0} is not a loopback address: it is plain TCP and carries the \
         service's password, so it must not be reachable from the network"
    )]
    ServiceListenerNotLoopback(SocketAddr),
    #[error(
        "refusing plain MQTT on {0}, which is not a loopback address: without TLS a device is \
         whoever claims its client id, so anyone who can reach the port could connect as any \
         thing; use mTLS (--tls-cert, --tls-key, --tls-client-ca), or pass --allow-plain-mqtt \
         if every host that can reach it is trusted"
    )]
    PlainNotLoopback(SocketAddr),
    #[error("cannot listen for MQTT on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error(
        "cannot set up MQTT over TLS (cert {cert}, key {key}, client CA {client_ca}): {reason}"
    )]
    Tls {
        cert: PathBuf,
        key: PathBuf,
        client_ca: PathBuf,
        reason: String,
    },
}
