//! The whole service in one call: store, embedded (or external) broker,
//! jobs service, HTTP API. Used by `serve`, `demo` and the end-to-end tests,
//! which need to start, stop and restart it on port 0.

use crate::api::{self, ApiState, Clock};
use crate::artifacts::Artifacts;
use crate::broker::{Broker, BrokerConfig};
use crate::service::JobsService;
use crate::store::{Changes, Store, StoreError};
use rumqttc::MqttOptions;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The service's MQTT identity (client id and username).
pub const SERVICE_IDENTITY: &str = "jobhost-fleet";

/// Which broker the service uses.
#[derive(Debug, Clone)]
pub enum BrokerChoice {
    /// Start rmqtt in-process on this address (port 0: any free port).
    Embedded {
        /// Listen address.
        listen: SocketAddr,
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

/// Everything `start` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Holds `jobs.sqlite` and `artifacts/`.
    pub data_dir: PathBuf,
    /// The broker.
    pub broker: BrokerChoice,
    /// HTTP API and artifact downloads.
    pub http: SocketAddr,
    /// Base URL devices use for artifacts; defaults to `http://<http addr>`.
    pub public_url: Option<String>,
    /// Lifetime of presigned URLs.
    pub url_ttl: Duration,
    /// Bearer token for the management API.
    pub token: Option<String>,
}

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
    /// HTTP bind.
    #[error("cannot listen on {addr}: {source}")]
    Http {
        /// Address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl Server {
    /// Starts everything; returns once the broker and HTTP API listen.
    pub async fn start(config: ServerConfig, now: Clock) -> Result<Self, ServerError> {
        crate::broker::install_crypto_provider();
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            ServerError::Storage(format!("cannot create {}: {e}", config.data_dir.display()))
        })?;
        let db = config.data_dir.join("jobs.sqlite");
        let store = Store::open(&db)
            .map_err(|e| ServerError::Storage(format!("cannot open {}: {e}", db.display())))?;
        let store = Arc::new(Mutex::new(store));

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
        let artifacts = Arc::new(
            Artifacts::open(&artifacts_dir, &public_url, config.url_ttl).map_err(|e| {
                ServerError::Storage(format!("artifacts in {}: {e}", artifacts_dir.display()))
            })?,
        );

        let (broker, options) = match &config.broker {
            BrokerChoice::Embedded { listen } => {
                let password = random_secret()?;
                let mut broker_config = BrokerConfig::new(SERVICE_IDENTITY, password.clone());
                broker_config.listen = *listen;
                let broker = Broker::start(broker_config).await?;
                let addr = broker.local_addr();
                let mut options = service_options(&addr.ip().to_string(), addr.port());
                options.set_credentials(SERVICE_IDENTITY, password);
                (Some(broker), options)
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
                (None, options)
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
            (None, BrokerChoice::Embedded { listen }) => *listen,
        };

        let (stop, stopped) = watch::channel(false);
        let (changes, changes_rx) = mpsc::unbounded_channel();
        let service = JobsService {
            store: store.clone(),
            artifacts: artifacts.clone(),
            now: now.clone(),
        };
        let service_options = options.clone();
        let mut tasks = vec![tokio::spawn(service.run(
            options,
            changes_rx,
            stopped.clone(),
        ))];
        let state = ApiState::new(store.clone(), changes.clone(), artifacts.clone())
            .with_clock(now.clone());
        let state = match &config.token {
            Some(t) => state.with_token(t.clone()),
            None => state,
        };
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
        tracing::info!(target: "service", %mqtt_addr, %http_addr, "jobs service running");
        Ok(Self {
            mqtt_addr,
            http_addr,
            store,
            artifacts,
            changes,
            now,
            broker,
            service_options,
            stop,
            tasks,
        })
    }

    /// MQTT options for another session with the service's privileges
    /// (tests and tools that inject messages as the service would), under
    /// its own client id so it does not take over the service's session.
    pub fn service_mqtt_options(&self, client_id: &str) -> MqttOptions {
        let mut options = self.service_options.clone();
        options.set_client_id(client_id.to_owned());
        options
    }

    /// Runs the timeout sweep (reference §6) at the server's clock now,
    /// instead of when the service's timer next wakes (at most 5 s later),
    /// and hands the things whose executions timed out to the notifier, as
    /// the timer does. For tests that move an injected clock. Returns those
    /// things; empty if the timer got there first.
    pub fn sweep_timeouts(&self) -> Result<Changes, StoreError> {
        let now = (self.now)();
        let changes = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .expire_timeouts(now)?;
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
