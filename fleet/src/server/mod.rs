//! The whole service in one call: store, embedded (or external) broker,
//! jobs service, rollout scheduler ([`scheduler`]), jobs events
//! ([`crate::events`]), HTTP API, and (with the embedded broker) thing
//! connectivity (`presence`); what it is told is `config`'s
//! ([`ServerConfig`]). Used by `serve`, `demo` and the end-to-end tests,
//! which need to start, stop and restart it on port 0.

use crate::api::{self, ApiState};
use crate::artifacts::Artifacts;
use crate::broker::{Broker, BrokerConfig, BrokerTls, PresenceSender};
use crate::certificates::CertificateAuthority;
use crate::clock::Clock;
use crate::device_api::{DeviceApi, Readiness, SUBSCRIPTION};
use crate::placeholders::Delivery;
use crate::store::{Changes, Store, StoreError};
use crate::uploads::Uploads;
use rumqttc::MqttOptions;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use config::check_exposure;
pub use config::{BrokerChoice, CaFiles, ServerConfig, DEFAULT_URL_TTL, READY_TIMEOUT};

/// The job database, in the data directory.
pub const DATABASE_FILE: &str = "jobs.sqlite";

/// The service's MQTT identity (client id and username).
pub const SERVICE_IDENTITY: &str = "jobhost-fleet";

/// Where the embedded broker listens for the service alone: loopback, any
/// free port (see [`BrokerConfig::service_listen`]).
const SERVICE_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// A running service.
pub struct Server {
    /// Where devices connect.
    pub mqtt_addr: SocketAddr,
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// The store (shared with the running tasks).
    pub store: Arc<Mutex<Store>>,
    /// The artifact store.
    pub artifacts: Arc<Artifacts>,
    /// The upload area.
    pub uploads: Arc<Uploads>,
    /// The device CA, when the server signs devices' certificates
    /// ([`CaFiles`]).
    pub ca: Option<Arc<CertificateAuthority>>,
    /// Report control-plane changes made outside the API (tests, demo).
    pub changes: mpsc::UnboundedSender<Changes>,
    now: Clock,
    broker: Option<Broker>,
    service_options: MqttOptions,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Data directory, database or artifacts.
    #[error("{0}")]
    Storage(String),
    /// Broker start.
    #[error(transparent)]
    Broker(#[from] crate::broker::BrokerError),
    /// The management API would be reachable from the network without a
    /// token or an AWS access key: anyone there could create jobs for every
    /// device.
    #[error(
        "refusing to serve the HTTP API on {addr} without a token: it is not a loopback address, \
         so anyone who can reach it could create jobs for every device and replace artifacts; \
         set --token (or JOBHOST_FLEET_TOKEN) to a long random secret, or an AWS access key \
         (--aws-access-key-id and its secret) for SigV4, or listen on 127.0.0.1 behind a \
         reverse proxy that authenticates"
    )]
    NoToken {
        /// The `--http` address.
        addr: SocketAddr,
    },
    /// An empty token would let `Authorization: Bearer ` in.
    #[error("the management token is empty")]
    EmptyToken,
    /// HTTP bind.
    #[error("cannot listen on {addr}: {source}")]
    Http {
        /// Address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The broker did not accept the service and acknowledge its
    /// subscription in time.
    #[error(
        "the jobs service could not subscribe to {SUBSCRIPTION} on the MQTT broker at {broker} \
         within {} s: {}",
        within.as_secs_f32(),
        last_error.as_deref().unwrap_or("no answer from the broker")
    )]
    NotReady {
        /// The broker's address, as the service connects to it.
        broker: String,
        /// How long it waited.
        within: Duration,
        /// The last connection error, if the connection failed.
        last_error: Option<String>,
    },
    /// The broker refused the subscription: it does not grant the service's
    /// identity the jobs topics (check its ACL).
    #[error(
        "the MQTT broker at {broker} refused the jobs service's subscription to {SUBSCRIPTION}: \
         it must grant {identity} `{SUBSCRIPTION}`"
    )]
    SubscriptionRefused {
        /// The broker's address.
        broker: String,
        /// The identity the service connected with.
        identity: String,
    },
}

impl Server {
    /// Starts everything; returns once the broker and HTTP API listen and
    /// the service is subscribed to the devices' requests, so that a device
    /// may send one at once. Waits at most [`ServerConfig::ready_timeout`]
    /// for the broker; on failure everything that was started is stopped
    /// again.
    pub async fn start(config: ServerConfig) -> Result<Self, ServerError> {
        check_exposure(&config)?;
        let now = config.clock.clone();
        crate::broker::install_crypto_provider();
        let store = Arc::new(Mutex::new(open_store(&config.data_dir)?));

        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .map_err(|source| ServerError::Http {
                addr: config.http,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| ServerError::Http {
            addr: config.http,
            source,
        })?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{http_addr}"));
        let artifacts_dir = config.data_dir.join("artifacts");
        let uploads_dir = config.data_dir.join("uploads");
        let uploads = Uploads::open(&uploads_dir, &public_url, config.url_ttl).map_err(|e| {
            ServerError::Storage(format!("uploads in {}: {e}", uploads_dir.display()))
        })?;
        let uploads = Arc::new(uploads);
        let artifacts =
            Artifacts::open(&artifacts_dir, &public_url, config.url_ttl).map_err(|e| {
                ServerError::Storage(format!("artifacts in {}: {e}", artifacts_dir.display()))
            })?;
        let artifacts = Arc::new(artifacts);
        let ca = match &config.ca {
            Some(ca) => {
                let authority = CertificateAuthority::load(
                    &ca.cert,
                    &ca.key,
                    &config.data_dir,
                    &public_url,
                    config.url_ttl,
                )
                .map_err(|e| ServerError::Storage(format!("the device CA: {e}")))?
                .with_validity(ca.validity);
                Some(Arc::new(authority))
            }
            None => None,
        };
        let delivery = Arc::new(Delivery {
            artifacts: Some(artifacts.clone()),
            uploads: Some(uploads.clone()),
            ca: ca.clone(),
        });

        // Subscribed before anything can change the store (the presence
        // reset below may already change executions).
        let (stop, stopped) = watch::channel(false);
        let (events_task, relayed) = events::spawn(&store, stopped.clone())?;
        let (broker, options, presence) = match &config.broker {
            BrokerChoice::Embedded {
                listen,
                allow_plain_mqtt,
            } => {
                let (reports, pending) = presence::prepare(&store, &now)?;
                let (broker, options) =
                    embedded(*listen, None, *allow_plain_mqtt, &config, reports).await?;
                (broker, options, Some(pending))
            }
            BrokerChoice::EmbeddedTls { listen, tls } => {
                let (reports, pending) = presence::prepare(&store, &now)?;
                let (broker, options) =
                    embedded(*listen, Some(tls.clone()), false, &config, reports).await?;
                (broker, options, Some(pending))
            }
            BrokerChoice::External {
                host,
                port,
                credentials,
            } => {
                let mut options = service_options(host, *port);
                if let Some((user, pass)) = credentials {
                    options.set_credentials(user.clone(), pass.clone());
                }
                (None, options, None)
            }
        };
        let mqtt_addr = match (&broker, &config.broker) {
            (Some(b), _) => b.local_addr(),
            (None, BrokerChoice::External { host, port, .. }) => {
                tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .ok()
                    .and_then(|mut a| a.next())
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], *port)))
            }
            (
                None,
                BrokerChoice::Embedded { listen, .. } | BrokerChoice::EmbeddedTls { listen, .. },
            ) => *listen,
        };

        let (changes, changes_rx) = mpsc::unbounded_channel();
        let service = DeviceApi {
            store: store.clone(),
            delivery,
            now: now.clone(),
            relay: Some(relayed),
        };
        let service_options = options.clone();
        let (ready_tx, mut ready) = watch::channel(Readiness::Connecting(None));
        let mut tasks = vec![
            events_task,
            tokio::spawn(service.run_reporting(options, changes_rx, stopped.clone(), ready_tx)),
        ];
        if let Some(pending) = presence {
            tasks.push(presence::spawn(
                pending,
                store.clone(),
                changes.clone(),
                now.clone(),
                stopped.clone(),
            ));
        }
        let mut state = ApiState::new(store.clone(), changes.clone(), artifacts.clone())
            .with_uploads(uploads.clone())
            .with_clock(now.clone());
        if let Some(ca) = &ca {
            state = state.with_ca(ca.clone());
        }
        if let Some(t) = &config.token {
            state = state.with_token(t.clone());
        }
        if let Some(credentials) = &config.aws_credentials {
            state = state.with_aws_credentials(credentials.clone());
        }
        tasks.push(tokio::spawn(scheduler::run(
            store.clone(),
            now.clone(),
            changes.clone(),
            stopped.clone(),
        )));
        let mut http_stop = stopped;
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                while !*http_stop.borrow() {
                    if http_stop.changed().await.is_err() {
                        break;
                    }
                }
            };
            if let Err(e) = api::serve(listener, state, shutdown).await {
                tracing::error!(target: "service", "HTTP API stopped: {e}");
            }
        }));
        let server = Self {
            mqtt_addr,
            http_addr,
            store,
            artifacts,
            uploads,
            ca,
            changes,
            now,
            broker,
            service_options,
            stop,
            tasks,
        };
        if let Err(e) =
            wait_until_subscribed(&mut ready, &server.service_options, config.ready_timeout).await
        {
            server.stop().await;
            return Err(e);
        }
        tracing::info!(target: "service", %mqtt_addr, %http_addr, "jobs service running");
        Ok(server)
    }

    /// MQTT options for another session with the service's privileges
    /// (tests and tools that inject messages as the service would), under
    /// its own client id so it does not take over the service's session.
    /// With the embedded broker they point at its service listener, the only
    /// place that identity is accepted, not at [`Server::mqtt_addr`].
    pub fn service_mqtt_options(&self, client_id: &str) -> MqttOptions {
        let mut options = self.service_options.clone();
        options.set_client_id(client_id.to_owned());
        options
    }

    /// Runs the timeout sweep ([`Store::expire_timeouts`]) at the server's
    /// clock now, instead of when the service's timer next wakes (at most 5 s
    /// later), and hands the things whose executions timed out to the
    /// notifier, as the timer does. For tests that move an injected clock.
    /// Returns those things; empty if the timer got there first.
    pub fn sweep_timeouts(&self) -> Result<Changes, StoreError> {
        self.run_now(Store::expire_timeouts)
    }

    /// Runs the rollout scheduler's tick ([`Store::advance_rollouts`]) at
    /// the server's clock now, instead of when the scheduler next wakes (at
    /// most [`scheduler::IDLE_TICK`] later), and hands the things whose
    /// queues changed to the notifier, as the scheduler does. For tests
    /// that move an injected clock. Returns those things; empty if the
    /// scheduler got there first.
    pub fn advance_rollouts(&self) -> Result<Changes, StoreError> {
        self.run_now(Store::advance_rollouts)
    }

    /// Runs `step` on the store at the server's clock now, and hands the
    /// things it changed to the notifier.
    fn run_now(
        &self,
        step: impl FnOnce(&mut Store, i64) -> Result<Changes, StoreError>,
    ) -> Result<Changes, StoreError> {
        let now = (self.now)();
        let changes = step(
            &mut self
                .store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            now,
        )?;
        if !changes.is_empty() {
            let _ = self.changes.send(changes.clone());
        }
        Ok(changes)
    }

    /// Stops the service, its broker and HTTP API, and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(broker) = self.broker {
            broker.shutdown();
        }
    }
}

/// Starts the embedded broker with a loopback listener reserved for the
/// service, and the service's options for it: the service connects there
/// with a fresh per-start password and no certificate, and the public
/// listener (plain or mTLS) refuses the service identity outright
/// ([`BrokerConfig::service_listen`] says why that is safe).
async fn embedded(
    listen: SocketAddr,
    tls: Option<BrokerTls>,
    allow_plain_mqtt: bool,
    config: &ServerConfig,
    presence: PresenceSender,
) -> Result<(Option<Broker>, MqttOptions), ServerError> {
    let password = random_secret()?;
    let broker = Broker::start(BrokerConfig {
        listen,
        tls,
        service_listen: Some(SERVICE_LISTEN),
        allow_plain_mqtt,
        operator: config.events_operator.clone(),
        presence: Some(presence),
        ..BrokerConfig::new(SERVICE_IDENTITY, password.clone())
    })
    .await?;
    // Broker::start returns the service address whenever it was asked for.
    let addr = broker.service_addr().unwrap_or(SERVICE_LISTEN);
    let mut options = service_options(&addr.ip().to_string(), addr.port());
    options.set_credentials(SERVICE_IDENTITY, password);
    Ok((Some(broker), options))
}

/// Creates the data directory owner-only (it holds the job database,
/// signing keys and devices' uploads) and opens the store in it; the
/// database file is created owner-only too ([`Store::open`]).
pub(crate) fn open_store(data_dir: &std::path::Path) -> Result<Store, ServerError> {
    crate::signed_dir::create_private_dir(data_dir)
        .map_err(|e| ServerError::Storage(format!("cannot create {}: {e}", data_dir.display())))?;
    let db = data_dir.join(DATABASE_FILE);
    Store::open(&db).map_err(|e| ServerError::Storage(format!("cannot open {}: {e}", db.display())))
}

/// Waits until the service's subscription is acknowledged, the broker
/// refuses it, or `within` passes.
async fn wait_until_subscribed(
    ready: &mut watch::Receiver<Readiness>,
    options: &MqttOptions,
    within: Duration,
) -> Result<(), ServerError> {
    let (host, port) = options.broker_address();
    let broker = format!("{host}:{port}");
    let outcome = tokio::time::timeout(
        within,
        ready.wait_for(|r| !matches!(r, Readiness::Connecting(_))),
    )
    .await
    .map(|state| state.map(|s| s.clone()));
    match outcome {
        Ok(Ok(Readiness::Subscribed)) => Ok(()),
        Ok(Ok(_)) => Err(ServerError::SubscriptionRefused {
            broker,
            identity: options
                .credentials()
                .map(|login| login.username)
                .unwrap_or_else(|| options.client_id()),
        }),
        // The connection task ended: only on shutdown, which nobody sent.
        Ok(Err(_)) => Err(ServerError::NotReady {
            broker,
            within,
            last_error: Some("the service's MQTT connection task ended".into()),
        }),
        Err(_) => {
            let last_error = match &*ready.borrow() {
                Readiness::Connecting(e) => e.clone(),
                _ => None,
            };
            Err(ServerError::NotReady {
                broker,
                within,
                last_error,
            })
        }
    }
}

fn service_options(host: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(SERVICE_IDENTITY, host, port);
    o.set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(128 * 1024, 128 * 1024)
        .set_inflight(100);
    o
}

/// A fresh per-start password for the service identity on the embedded
/// broker: nothing to configure, nothing to leak from a config file.
fn random_secret() -> Result<String, ServerError> {
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        ServerError::Storage(format!("no OS randomness for the service password: {e}"))
    })?;
    Ok(hex::encode(bytes))
}

mod config;
mod events;
mod presence;
pub mod scheduler;

#[cfg(test)]
mod tests;
