//! The rollout scheduler: a task that calls [`Store::advance_rollouts`]
//! every [`TICK`] while a job has targets to release or a schedule to
//! follow, and every [`IDLE_TICK`] otherwise, and hands the things whose
//! queues changed to the notifier, as the timeout loop does for expiries.
//!
//! It has a task of its own rather than a branch of the device API's loop:
//! that loop restarts its sleep at every device message, so under steady
//! traffic a one-second tick would never fire. It sleeps on real time but
//! reads the service's [`Clock`] at each tick; the rate is spent from the
//! store's log of releases, so ticks that come late, twice, or from a test
//! ([`super::Server::advance_rollouts`]) release no more than the rate.

use crate::clock::Clock;
use crate::store::{Changes, Store};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The tick while a rollout runs: a rate is spent second by second
/// (`crate::rollout::rate`).
pub const TICK: Duration = Duration::from_secs(1);

/// The tick while nothing is rolling out. A job created in between
/// releases its first targets itself; the rate's catch-up
/// (`crate::rollout::rate::CATCH_UP_SECONDS`, 5 s) covers the wait for
/// the next tick.
pub const IDLE_TICK: Duration = Duration::from_secs(5);

/// Runs until `stop` turns true (or its sender is gone).
pub(super) async fn run(
    store: Arc<Mutex<Store>>,
    now: Clock,
    changes: mpsc::UnboundedSender<Changes>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let (store, at) = (store.clone(), now());
        let tick = tokio::task::spawn_blocking(move || {
            // A panic while the lock was held rolled its transaction back.
            let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
            let changed = store.advance_rollouts(at);
            (changed, store.rollouts_active())
        })
        .await;
        let active = match tick {
            Ok((changed, active)) => {
                match changed {
                    Ok(c) if !c.is_empty() => {
                        let _ = changes.send(c);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(target: "service", "rollout tick failed: {e}"),
                }
                active.unwrap_or(true)
            }
            Err(e) => {
                tracing::error!(target: "service", "rollout tick panicked: {e}");
                true
            }
        };
        let pause = if active { TICK } else { IDLE_TICK };
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
