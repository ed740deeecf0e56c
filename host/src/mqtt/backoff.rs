//! Reconnect delays. rumqttc reconnects on the very next `poll()` after an
//! error, which spins at ~40k attempts/s while the broker is down
//! (rumqtt#703, #918), and AWS IoT refuses more than one CONNECT per second
//! per client id. So: exponential, with jitter, never under one second.

use std::time::Duration;

/// Exponential backoff with jitter between `min` and `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `min` (clamped to ≥ 1 s) and capped at `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_secs(1));
        Self {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// Forget past failures (after a successful connect).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt: `min·2ⁿ` capped at `max`, then
    /// scaled by a random factor in [0.5, 1) ("equal jitter") so a fleet
    /// that lost its broker together does not reconnect in lockstep — but
    /// never below `min`.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self
            .min
            .saturating_mul(1u32.checked_shl(self.attempt.min(16)).unwrap_or(u32::MAX));
        self.attempt = self.attempt.saturating_add(1);
        let capped = exp.min(self.max);
        capped.mul_f64(0.5 + fastrand::f64() / 2.0).max(self.min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_bounds_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(60)),
            "{delays:?}"
        );
        assert!(
            delays[8] >= Duration::from_secs(30),
            "reaches the cap region: {delays:?}"
        );
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }

    #[test]
    fn never_faster_than_one_connect_per_second() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(20));
        assert!((0..50).all(|_| b.next_delay() >= Duration::from_secs(1)));
    }
}
