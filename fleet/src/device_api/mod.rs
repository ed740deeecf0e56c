//! The device API: the jobs service's privileged MQTT client on
//! `$aws/things/+/jobs/#`, which answers devices' requests exactly as AWS
//! IoT does (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>), and publishes
//! `notify` / `notify-next` when queues change
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>).
//!
//! # Layout
//!
//! - `connection`: the one task polling rumqttc (reconnect with backoff,
//!   resubscribe).
//! - `handler`: each device request → one `/accepted` or `/rejected`
//!   reply; the requests waiting are answered after one commit.
//! - `notifier`: which notifications a change triggers.
//!
//! Control-plane changes (the HTTP API) and timer expiries arrive as
//! [`Changes`] on a channel and go through the same notifier. Messages
//! other parts of the service publish on its session (the jobs events of
//! `crate::events`) arrive on [`DeviceApi::relay`].

mod connection;
mod handler;
mod notifier;

use crate::clock::Clock;
use crate::placeholders::Delivery;
use crate::store::{Changes, Store};
use rumqttc::MqttOptions;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

pub use connection::{Publisher, Readiness, SUBSCRIPTION};

/// What the device API needs; [`DeviceApi::run`] runs it. (`crate::server`
/// starts it next to the broker and the HTTP API.)
pub struct DeviceApi {
    /// The job store.
    pub store: Arc<Mutex<Store>>,
    /// Resolves the placeholders of every document delivered.
    pub delivery: Arc<Delivery>,
    /// The clock (seconds since the epoch).
    pub now: Clock,
    /// (topic, payload) to publish on the service's session as they come,
    /// QoS 1, for the parts of the service that publish but do not answer
    /// devices (the jobs events). One session rather than one each: no
    /// second client id for a device to take over.
    pub relay: Option<Relay>,
}

/// Where [`DeviceApi::relay`] receives (topic, payload) to publish.
pub type Relay = mpsc::UnboundedReceiver<(String, Vec<u8>)>;

/// What the request handler and the notifier share: the store they read
/// and change, the resolver of the documents they deliver, the clock for
/// timestamps, and the connection they publish on.
#[derive(Clone)]
pub(crate) struct DeviceApiCtx {
    pub(crate) store: Arc<Mutex<Store>>,
    pub(crate) delivery: Arc<Delivery>,
    pub(crate) now: Clock,
    pub(crate) publisher: Publisher,
}

/// Longest the timer sleeps without re-checking deadlines: a job created
/// with a timeout while the service sleeps is picked up within this.
const MAX_TIMER_SLEEP: Duration = Duration::from_secs(5);

impl DeviceApi {
    /// Runs until `shutdown` turns true. `changes` carries control-plane
    /// changes (from the API) to notify devices about.
    pub async fn run(
        self,
        options: MqttOptions,
        changes: mpsc::UnboundedReceiver<Changes>,
        shutdown: watch::Receiver<bool>,
    ) {
        let (ready, _) = watch::channel(Readiness::Connecting(None));
        self.run_reporting(options, changes, shutdown, ready).await;
    }

    /// [`DeviceApi::run`], reporting on `ready` whether device requests
    /// reach the service (connected and subscribed), for callers that must
    /// not announce the service before they do.
    pub async fn run_reporting(
        mut self,
        options: MqttOptions,
        mut changes: mpsc::UnboundedReceiver<Changes>,
        mut shutdown: watch::Receiver<bool>,
        ready: watch::Sender<Readiness>,
    ) {
        let (publisher, mut incoming) = connection::spawn(options, shutdown.clone(), ready);
        if let Some(relay) = self.relay.take() {
            tokio::spawn(relay_to(relay, publisher.clone()));
        }
        let ctx = DeviceApiCtx {
            store: self.store.clone(),
            delivery: self.delivery.clone(),
            now: self.now.clone(),
            publisher,
        };
        let mut notifier = notifier::Notifier::new(ctx.clone());
        let handler = handler::Handler::new(ctx);
        loop {
            let sleep = self.timer_sleep();
            tokio::select! {
                _ = shutdown.changed() => if *shutdown.borrow() { return },
                message = incoming.recv() => match message {
                    Some(first) => {
                        // What arrived while the last batch was in the
                        // store goes in the next one: under load one
                        // commit answers many devices, idle it adds no wait.
                        let mut batch = vec![first];
                        while batch.len() < handler::MAX_BATCH {
                            match incoming.try_recv() {
                                Ok(message) => batch.push(message),
                                Err(_) => break,
                            }
                        }
                        let changed = handler.handle_batch(batch).await;
                        notifier.notify(changed).await;
                    }
                    None => return,
                },
                Some(changed) = changes.recv() => notifier.notify(changed).await,
                _ = tokio::time::sleep(sleep) => {
                    let expired = self.expire().await;
                    notifier.notify(expired).await;
                }
            }
        }
    }

    /// Time until the next in-progress or step deadline, capped.
    fn timer_sleep(&self) -> Duration {
        let next = self
            .store
            .lock()
            .ok()
            .and_then(|s| s.next_deadline().ok().flatten());
        match next {
            Some(at) => Duration::from_secs(u64::try_from(at - (self.now)()).unwrap_or(0))
                .min(MAX_TIMER_SLEEP),
            None => MAX_TIMER_SLEEP,
        }
    }

    async fn expire(&self) -> Changes {
        let (store, now) = (self.store.clone(), (self.now)());
        tokio::task::spawn_blocking(move || match store.lock() {
            Ok(mut s) => s.expire_timeouts(now).unwrap_or_else(|e| {
                tracing::error!(target: "service", "timeout sweep failed: {e}");
                Changes::none()
            }),
            Err(_) => Changes::none(),
        })
        .await
        .unwrap_or_else(|_| Changes::none())
    }
}

/// Publishes what arrives on `relay` until every sender is gone.
async fn relay_to(mut relay: Relay, publisher: Publisher) {
    while let Some((topic, payload)) = relay.recv().await {
        publisher.publish(topic, payload).await;
    }
}
