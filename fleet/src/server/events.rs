//! The jobs events' place in the service: a task that turns the store's
//! changes into AWS's events ([`crate::events::publish_on_broker`]) and
//! hands them to the device API, which publishes them on the service's
//! own MQTT session ([`crate::device_api::DeviceApi::relay`]).

use super::ServerError;
use crate::device_api::Relay;
use crate::events::publish_on_broker;
use crate::store::Store;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Starts the task; returns it and the receiving end of the relay.
///
/// It subscribes before anything else can change the store, and reads the
/// event configuration under the same hold of the lock: every change from
/// here on is published or not as the configuration committed before it
/// says.
pub(super) fn spawn(
    store: &Arc<Mutex<Store>>,
    stop: watch::Receiver<bool>,
) -> Result<(JoinHandle<()>, Relay), ServerError> {
    let (changes, config) = {
        let store = store.lock().unwrap_or_else(PoisonError::into_inner);
        let config = store.event_configurations().map_err(|e| {
            ServerError::Storage(format!("cannot read the event configuration: {e}"))
        })?;
        (store.subscribe(), config)
    };
    let (relay, relayed) = mpsc::unbounded_channel();
    let task = tokio::spawn(publish_on_broker(
        store.clone(),
        changes,
        config,
        relay,
        stop,
    ));
    Ok((task, relayed))
}
