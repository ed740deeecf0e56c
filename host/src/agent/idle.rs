//! Memory given back once the agent has been idle a while.
//!
//! A job maps what it runs: its plugin's compiled code, and the agent's own
//! job path (MQTT, the journal, HTTP, wasmtime's instantiation). An agent
//! holds about 8 MiB once started and about 14 MiB after serving jobs
//! (BENCHMARKS.md, "Footprint"). Once no job has run for [`RELEASE_AFTER`],
//! the agent gives back what the jobs mapped, as it did after start-up: it
//! releases its plugins (each is mapped again by its next job, half a
//! millisecond for a small one), returns freed heap, and drops its
//! executable's read-only pages ([`crate::image`]). A device that ran a
//! rollout an hour ago then holds what a freshly started agent holds.

use std::time::{Duration, Instant};

/// How long the agent is idle before it gives memory back: long enough that
/// jobs in a burst (a rollout's retries, a job and its follow-up) keep what
/// they mapped.
pub(super) const RELEASE_AFTER: Duration = Duration::from_secs(60);

/// When an idle agent is due to give memory back: once per idle period,
/// [`RELEASE_AFTER`] into it.
#[derive(Debug)]
pub(super) struct IdleRelease {
    /// Runs started when last seen.
    runs: u64,
    /// The last moment the agent was seen busy (or its start).
    busy_at: Instant,
    /// Whether this idle period's release has happened.
    released: bool,
}

impl IdleRelease {
    /// Start-up has given its memory back already: nothing is due until a
    /// job has run.
    pub(super) fn new(now: Instant) -> Self {
        Self {
            runs: 0,
            busy_at: now,
            released: true,
        }
    }

    /// Told on each tick whether the agent is idle and how many runs have
    /// started so far (a job shorter than a tick is seen by its count):
    /// true once per idle period, when it is time to give memory back.
    pub(super) fn due(&mut self, idle: bool, runs: u64, now: Instant) -> bool {
        if !idle || runs != self.runs {
            self.runs = runs;
            self.busy_at = now;
            self.released = false;
            return false;
        }
        if self.released || now.duration_since(self.busy_at) < RELEASE_AFTER {
            return false;
        }
        self.released = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{IdleRelease, RELEASE_AFTER};
    use std::time::{Duration, Instant};

    const TICK: Duration = Duration::from_millis(250);

    #[test]
    fn nothing_is_due_before_a_job_has_run() {
        let start = Instant::now();
        let mut idle = IdleRelease::new(start);
        assert!(!idle.due(true, 0, start + RELEASE_AFTER * 10));
    }

    #[test]
    fn due_once_per_idle_period_after_the_delay() {
        let start = Instant::now();
        let mut idle = IdleRelease::new(start);
        // A job runs from t=1 s to t=3 s, seen busy on the ticks between.
        let busy_until = start + Duration::from_secs(3);
        assert!(!idle.due(false, 1, start + Duration::from_secs(1)));
        assert!(!idle.due(false, 1, busy_until));
        assert!(!idle.due(true, 1, busy_until + RELEASE_AFTER - TICK));
        assert!(idle.due(true, 1, busy_until + RELEASE_AFTER));
        assert!(!idle.due(true, 1, busy_until + RELEASE_AFTER + TICK));
        assert!(!idle.due(true, 1, busy_until + RELEASE_AFTER * 5));
    }

    #[test]
    fn a_job_shorter_than_a_tick_counts_and_restarts_the_delay() {
        let start = Instant::now();
        let mut idle = IdleRelease::new(start);
        assert!(!idle.due(true, 0, start + TICK));
        // Between two ticks a run started and ended: only its count shows.
        let seen = start + Duration::from_secs(100);
        assert!(!idle.due(true, 1, seen));
        assert!(!idle.due(true, 1, seen + RELEASE_AFTER - TICK));
        assert!(idle.due(true, 1, seen + RELEASE_AFTER));
        // Another quick job after the release: due again, a delay later.
        let again = seen + RELEASE_AFTER * 2;
        assert!(!idle.due(true, 2, again));
        assert!(idle.due(true, 2, again + RELEASE_AFTER));
    }
}
