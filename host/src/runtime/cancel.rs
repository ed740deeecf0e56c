//! Cancellation shared between whoever learns of it (the jobs client, a
//! Ctrl-C handler) and the running plugin: its epoch callback and host
//! calls check the flag, and the executor awaits it to drop a run that is
//! waiting inside a host call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// A cheap, clonable flag; once set it stays set.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    notify: Notify,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: a plugin computing is interrupted at the next epoch tick
    /// (≤ 10 ms), and one waiting in a host call is dropped at once.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves once the token is cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            // Registered before the check: a `cancel` between the check and
            // the await still wakes it (`notify_waiters` reaches every
            // `Notified` created before it).
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CancelToken;

    #[tokio::test]
    async fn cancelled_resolves_for_a_cancel_before_or_during_the_wait() {
        let early = CancelToken::new();
        early.cancel();
        early.cancelled().await;

        let late = CancelToken::new();
        let waiter = tokio::spawn({
            let late = late.clone();
            async move { late.cancelled().await }
        });
        tokio::task::yield_now().await;
        late.cancel();
        waiter.await.expect("the waiter ends once cancelled");
    }
}
