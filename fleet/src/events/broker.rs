//! The task that publishes jobs events on the broker.

use super::AwsEvent;
use crate::store::{EventConfigurations, ExecutionChange, Store};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{mpsc, watch};

/// Hands the events of `changes` to `broker` as (topic, payload), while
/// their type is enabled, until `stop` turns true or `broker` closes. The
/// server relays them to the service's MQTT session (`DeviceApi::relay`),
/// which publishes them at QoS 1, not retained.
///
/// `config` must be the configuration in force when `changes` was
/// subscribed (read under the same hold of the store lock): from there the
/// configuration changes arrive in `changes` itself, in commit order, so
/// each event is published exactly when the configuration committed before
/// it enabled its type. Behind by more than the store's channel holds, the
/// task logs how many changes it missed (their events are lost, as AWS's
/// may be), and re-reads the configuration from `store`.
pub async fn publish_on_broker(
    store: Arc<Mutex<Store>>,
    mut changes: broadcast::Receiver<ExecutionChange>,
    mut config: EventConfigurations,
    broker: mpsc::UnboundedSender<(String, Vec<u8>)>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let received = tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
            received = changes.recv() => received,
        };
        match received {
            Ok(ExecutionChange::EventConfigurations(now)) => config = now,
            Ok(change) => {
                let Some(event) = AwsEvent::from_change(&change) else {
                    continue;
                };
                if config.enabled(event.event_type)
                    && broker
                        .send((event.topic(), event.payload.into_bytes()))
                        .is_err()
                {
                    return;
                }
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(target: "service", missed, "jobs events fell behind the store; the events of {missed} changes are lost");
                if let Some(now) = reread(&store).await {
                    config = now;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// The configuration as stored, or None (logged) if it cannot be read.
async fn reread(store: &Arc<Mutex<Store>>) -> Option<EventConfigurations> {
    let store = store.clone();
    let read = tokio::task::spawn_blocking(move || {
        // A panic while the lock was held rolled its transaction back.
        let store = store.lock().unwrap_or_else(PoisonError::into_inner);
        store.event_configurations()
    })
    .await;
    match read {
        Ok(Ok(config)) => Some(config),
        Ok(Err(e)) => {
            tracing::error!(target: "service", "cannot read the event configuration: {e}");
            None
        }
        Err(e) => {
            tracing::error!(target: "service", "cannot read the event configuration: {e}");
            None
        }
    }
}
