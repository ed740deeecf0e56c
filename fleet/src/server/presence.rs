//! Thing connectivity from the embedded broker: its reports of device
//! sessions opening and closing ([`crate::broker::PresenceSender`]) are
//! recorded in the store, in the order the broker sent them, and the
//! things whose pending lists that changed (a dynamic group on
//! `connectivity.connected` feeding a continuous job) go to the notifier.
//!
//! With an external broker the service sees no sessions, and connectivity
//! stays as it was last recorded.

use super::ServerError;
use crate::broker::{wall_ms, PresenceSender};
use crate::clock::Clock;
use crate::store::{Changes, Presence, Store};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Reports waiting for [`spawn`], and what the reset before the broker
/// started changed.
pub(super) struct Pending {
    reports: mpsc::UnboundedReceiver<Presence>,
    reset: Changes,
}

/// Call before the embedded broker starts: marks every thing recorded as
/// connected disconnected (no session outlives the broker that held it),
/// and returns the sender to give the broker. Doing this first means that
/// no report of the new broker can be older than the reset.
pub(super) fn prepare(
    store: &Arc<Mutex<Store>>,
    now: &Clock,
) -> Result<(PresenceSender, Pending), ServerError> {
    let reset = store
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .reset_connectivity(wall_ms(), now())
        .map_err(|e| ServerError::Storage(format!("cannot reset thing connectivity: {e}")))?;
    let (sender, reports) = mpsc::unbounded_channel();
    Ok((sender, Pending { reports, reset }))
}

/// Records reports until `stop` turns true, handing changes to `changes`.
pub(super) fn spawn(
    pending: Pending,
    store: Arc<Mutex<Store>>,
    changes: mpsc::UnboundedSender<Changes>,
    now: Clock,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let Pending { mut reports, reset } = pending;
    tokio::spawn(async move {
        if !reset.is_empty() {
            let _ = changes.send(reset);
        }
        loop {
            let report = tokio::select! {
                _ = stop.changed() => {
                    if *stop.borrow() { return }
                    continue;
                }
                report = reports.recv() => match report {
                    Some(r) => r,
                    None => return,
                },
            };
            let (store, at) = (store.clone(), now());
            let recorded = tokio::task::spawn_blocking(move || {
                store
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record_presence(&report, at)
            })
            .await;
            match recorded {
                Ok(Ok(c)) if !c.is_empty() => {
                    let _ = changes.send(c);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(target: "service", "cannot record connectivity: {e}"),
                Err(e) => tracing::error!(target: "service", "connectivity task failed: {e}"),
            }
        }
    })
}
