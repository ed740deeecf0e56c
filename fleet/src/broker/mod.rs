//! The embedded MQTT broker: rmqtt 0.24 running in-process on the caller's
//! tokio runtime, with the access rules that isolate devices from each other
//! (docs/fleet.md, "Broker choices"; the rules are [`policy`],
//! exercised in `fleet/tests/all/broker.rs`).
//!
//! * The jobs service connects with [`BrokerConfig::service_username`] and
//!   the per-start password, and may use `$aws/things/+/jobs/#`. With
//!   [`BrokerConfig::service_listen`] it may do so only on that loopback
//!   listener, which in turn admits nobody else (what `Server` uses).
//! * With [`BrokerConfig::operator`], the operator identity (a monitoring
//!   application: its client id, proven by its password, and with mTLS by
//!   a certificate with that CN) may subscribe to `$aws/events/…`, where
//!   the service publishes the jobs events (`crate::events`), and may
//!   publish nothing. No device may use its client id. Off by default.
//! * Every other client is a device (thing) and may only use topics under
//!   `$aws/things/<identity>/`, where the identity is its MQTT client id on
//!   plain TCP, or its client certificate's CN with mTLS (the client id must
//!   then equal the CN). A forbidden SUBSCRIBE gets SUBACK failure 0x80; a
//!   forbidden PUBLISH is dropped and the device disconnected, as AWS IoT
//!   does on a policy violation.
//! * A plain-TCP public listener proves nothing about the client id, so it
//!   is refused off loopback unless [`BrokerConfig::allow_plain_mqtt`] says
//!   otherwise (then a warning is logged at every start).
//!
//! The service should use its username as its MQTT client id as well: no
//! device may use that client id, so no device can take its session over.
//!
//! * With [`BrokerConfig::presence`] it reports every device session that
//!   opens or closes, for the thing registry's connectivity.
//! * The service's session is not sent back the messages it publishes
//!   (`no_local`), though its subscription matches them.
//!
//! Not provided: retained messages (rmqtt needs its retainer plugin for
//! those; the AWS IoT Jobs protocol does not use them) and persistence of
//! sessions across broker restarts.

mod config;
mod crypto;
mod error;
mod hooks;
mod no_local;
pub mod policy;
mod presence;

pub use config::{BrokerConfig, BrokerTls, OperatorCredentials, MAX_PACKET_SIZE};
pub use crypto::install_crypto_provider;
pub use error::BrokerError;
pub use presence::{wall_ms, PresenceSender};

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rmqtt::context::ServerContext;
use rmqtt::hook::Type;
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;
use rmqtt::types::ListenerId;
use tokio::task::JoinHandle;

use config::{MAX_INFLIGHT, MAX_MQUEUE_LEN};
use hooks::{AccessHook, Rules};
use no_local::NoLocalHook;
use presence::PresenceHook;

/// rmqtt keys each listener's settings by an id of our choosing; the hooks
/// tell the service listener from the public one by it. Fixed ids, not
/// ports: two listeners on different addresses may share a port.
const PUBLIC_LISTENER: ListenerId = 1;
const SERVICE_LISTENER: ListenerId = 2;

/// A running broker. Dropping it has the same effect as [`Broker::shutdown`].
pub struct Broker {
    local_addr: SocketAddr,
    service_addr: Option<SocketAddr>,
    rules: Arc<Rules>,
    scx: ServerContext,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Binds the listener (synchronously, so the port is accepting when this
    /// returns) and runs the broker as a task on the current tokio runtime.
    pub async fn start(config: BrokerConfig) -> Result<Broker, BrokerError> {
        if config.service_username.is_empty() {
            return Err(BrokerError::EmptyServiceUsername);
        }
        if config.service_password.is_empty() {
            return Err(BrokerError::EmptyServicePassword);
        }
        if let Some(operator) = &config.operator {
            if !policy::is_valid_thing_name(&operator.client_id)
                || operator.client_id == config.service_username
            {
                return Err(BrokerError::OperatorClientId(operator.client_id.clone()));
            }
            if operator.password.is_empty() {
                return Err(BrokerError::EmptyOperatorPassword);
            }
        }
        if let Some(addr) = config.service_listen {
            if !addr.ip().is_loopback() {
                return Err(BrokerError::ServiceListenerNotLoopback(addr));
            }
        }
        if config.tls.is_none() && !config.listen.ip().is_loopback() {
            if !config.allow_plain_mqtt {
                return Err(BrokerError::PlainNotLoopback(config.listen));
            }
            tracing::warn!(
                listen = %config.listen,
                "PLAIN MQTT OFF LOOPBACK: devices are not authenticated; a device's identity is \
                 the MQTT client id it claims, so anyone who can reach this port can connect as \
                 any thing, take over its session and read its jobs (use mTLS to prevent this)"
            );
        }
        install_crypto_provider();

        // busy_check off: rmqtt otherwise refuses CONNECTs while the host's
        // CPU load is above 90%, which a busy 2-core CI box reaches easily,
        // and it spawns a CPU sampling task that would outlive the broker.
        let scx = ServerContext::new().busy_check_enable(false).build().await;
        let rules = Arc::new(Rules {
            service_username: config.service_username.clone(),
            service_password: config.service_password.clone(),
            mtls: config.tls.is_some(),
            service_listener: config.service_listen.map(|_| SERVICE_LISTENER),
            operator: config.operator.clone(),
            closed: AtomicBool::new(false),
        });
        let register = scx.extends.hook_mgr().register();
        for typ in [
            Type::ClientAuthenticate,
            Type::ClientSubscribeCheckAcl,
            Type::MessagePublishCheckAcl,
        ] {
            register.add(typ, Box::new(AccessHook(rules.clone()))).await;
        }
        register
            .add(
                Type::MessageExpiryCheck,
                Box::new(NoLocalHook(rules.clone())),
            )
            .await;
        if let Some(reports) = &config.presence {
            let hook = PresenceHook {
                rules: rules.clone(),
                reports: reports.clone(),
            };
            for typ in [Type::ClientConnected, Type::ClientDisconnected] {
                register.add(typ, Box::new(hook.clone())).await;
            }
        }
        register.start().await;

        // Bind everything before spawning anything, so that a failure leaves
        // nothing running.
        let public = bind(&config)?;
        let local_addr = bound_addr(&public, config.listen)?;
        let service = match config.service_listen {
            Some(addr) => {
                let listener = bind_plain(base_builder(addr), addr)?;
                let bound = bound_addr(&listener, addr)?;
                Some((listener, bound))
            }
            None => None,
        };
        let service_addr = service.as_ref().map(|(_, addr)| *addr);
        let mut server = MqttServer::new(scx.clone()).listener_by_id(public, PUBLIC_LISTENER);
        if let Some((listener, _)) = service {
            server = server.listener_by_id(listener, SERVICE_LISTENER);
        }
        let server = server.build();
        let server = tokio::spawn(async move {
            if let Err(e) = server.run().await {
                tracing::error!("embedded MQTT broker stopped: {e:#}");
            }
        });
        tracing::info!(%local_addr, ?service_addr, tls = config.tls.is_some(), "embedded MQTT broker listening");
        Ok(Broker {
            local_addr,
            service_addr,
            rules,
            scx,
            server,
        })
    }

    /// The address the broker listens on (with the real port if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The service listener's address (with the real port), if configured.
    pub fn service_addr(&self) -> Option<SocketAddr> {
        self.service_addr
    }

    /// Stops the broker, best effort.
    ///
    /// rmqtt 0.24 has no shutdown API: aborting its server task closes the
    /// listener (new CONNECTs are refused), but sessions that are already
    /// connected run on as their own tasks and would keep routing messages.
    /// So this also makes the access hooks refuse everything from now on and
    /// spawns a task that kicks every session off; both take effect shortly
    /// after this returns, not before. Other rmqtt-internal tasks end with
    /// the tokio runtime. The port can be bound again right away
    /// (`SO_REUSEADDR`).
    pub fn shutdown(self) {
        // Drop does the work, so that a dropped Broker also stops.
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.rules.closed.store(true, Ordering::Release);
        self.server.abort();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(kick_all(self.scx.clone()));
        }
    }
}

/// Disconnects every session of a stopped broker.
async fn kick_all(scx: ServerContext) {
    let ids: Vec<_> = scx
        .extends
        .shared()
        .await
        .iter()
        .map(|entry| entry.id())
        .collect();
    for id in ids {
        let entry = scx.extends.shared().await.entry(id);
        if let Ok(mut entry) = entry.try_lock().await {
            // clean start, drop subscriptions, kicked by admin (no takeover).
            let _ = entry.kick(true, true, true).await;
        }
    }
}

/// The settings both listeners share.
fn base_builder(addr: SocketAddr) -> Builder {
    Builder::new()
        .name("jobhost-fleet")
        .laddr(addr)
        .allow_anonymous(false)
        .max_packet_size(MAX_PACKET_SIZE)
        .max_inflight(NonZeroU16::new(MAX_INFLIGHT).unwrap_or(NonZeroU16::MIN))
        .max_mqueue_len(MAX_MQUEUE_LEN)
        .reuseaddr(Some(true))
        // A reply or notification often follows another small write to the
        // same client: with Nagle on it waits for the client's delayed ACK,
        // ~40 ms per message on Linux (benches/e2e.rs).
        .nodelay(true)
}

fn bind_error(addr: SocketAddr) -> impl Fn(rmqtt::Error) -> BrokerError {
    move |e| BrokerError::Bind {
        addr,
        reason: format!("{e:#}"),
    }
}

fn bind_plain(builder: Builder, addr: SocketAddr) -> Result<rmqtt::net::Listener, BrokerError> {
    builder
        .bind()
        .map_err(bind_error(addr))?
        .tcp()
        .map_err(bind_error(addr))
}

fn bound_addr(
    listener: &rmqtt::net::Listener,
    asked: SocketAddr,
) -> Result<SocketAddr, BrokerError> {
    listener.local_addr().map_err(|e| BrokerError::Bind {
        addr: asked,
        reason: format!("{e:#}"),
    })
}

/// Binds the public TCP socket and, with mTLS, loads the certificates.
fn bind(config: &BrokerConfig) -> Result<rmqtt::net::Listener, BrokerError> {
    let builder = base_builder(config.listen);
    let Some(tls) = &config.tls else {
        return bind_plain(builder, config.listen);
    };
    let builder = builder
        .tls_cert(Some(utf8(&tls.cert)?))
        .tls_key(Some(utf8(&tls.key)?))
        .tls_client_ca_certs(Some(utf8(&tls.client_ca)?))
        .tls_cross_certificate(true)
        .cert_cn_as_username(true)
        .collect_cert_info(true);
    builder
        .bind()
        .map_err(bind_error(config.listen))?
        .tls()
        .map_err(|e| BrokerError::Tls {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            client_ca: tls.client_ca.clone(),
            reason: format!("{e:#}"),
        })
}

fn utf8(path: &Path) -> Result<&str, BrokerError> {
    path.to_str()
        .ok_or_else(|| BrokerError::NonUtf8Path(path.to_path_buf()))
}
