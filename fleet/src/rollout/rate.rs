//! How many targets a rollout may notify, and when: the rate of
//! `jobExecutionsRolloutConfig` and how it is spent.
//!
//! A rate of R per minute is spent as ⌈R/60⌉ a second rather than R at the
//! top of each minute, so that a staged rollout is staged within the minute
//! too, and never more than R in any 60 seconds. Everything here is
//! computed from what the store persisted (what was released, when), never
//! from a counter held in memory, so that a restarted service continues
//! the rollout where it was instead of starting a fresh minute's budget.

use super::config::{ExponentialRate, RolloutConfig, MAX_PER_MINUTE};

/// How many seconds of rate a release may catch up after a gap (a
/// scheduler tick that came late, a restart, a maintenance window that just
/// opened): enough to absorb a slow tick, too few to turn a pause into a
/// burst. The per-minute ceiling holds regardless.
pub const CATCH_UP_SECONDS: i64 = 5;

/// The largest number of rate increases counted: the rate has reached its
/// ceiling long before (1.1^64 > 400).
const MAX_INCREASES: u64 = 64;

impl RolloutConfig {
    /// The rate, per minute, once `notified` targets have been notified and
    /// `succeeded` of them succeeded: `maximumPerMinute` (1000 when not
    /// given), or the exponential rate capped by it.
    pub fn rate_per_minute(&self, notified: u64, succeeded: u64) -> u32 {
        let ceiling = self.maximum_per_minute.unwrap_or(MAX_PER_MINUTE);
        let Some(e) = &self.exponential_rate else {
            return ceiling;
        };
        let steps = i32::try_from(e.increases(notified, succeeded).min(MAX_INCREASES)).unwrap_or(0);
        let rate = f64::from(e.base_rate_per_minute) * e.increment_factor.powi(steps);
        if rate >= f64::from(ceiling) {
            ceiling
        } else {
            // `rate` is below the ceiling, a u32: the cast cannot truncate.
            (rate.floor() as u32).max(1)
        }
    }
}

impl ExponentialRate {
    /// How many times the rate has increased: once per
    /// `numberOfNotifiedThings` notified, or per `numberOfSucceededThings`
    /// succeeded, whichever gives more. With a base of 50, a factor of 2
    /// and 1000 notified things, the rate is 50, then 100 from the 1000th
    /// notified thing, 200 from the 2000th, 400 from the 3000th (the
    /// table in <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-configurations-details.html>).
    pub fn increases(&self, notified: u64, succeeded: u64) -> u64 {
        let c = &self.rate_increase_criteria;
        let every = |count: u64, n: Option<u32>| n.map_or(0, |n| count / u64::from(n.max(1)));
        every(notified, c.number_of_notified_things)
            .max(every(succeeded, c.number_of_succeeded_things))
    }
}

/// How many targets may be released at `now` at `rate` per minute, given
/// how many were released in the 60 seconds up to `now`
/// (`released_last_minute`) and when the last release was.
pub fn allowance(rate: u32, released_last_minute: u64, last_release: Option<i64>, now: i64) -> u64 {
    let per_second = u64::from(rate).div_ceil(60);
    let seconds = last_release.map_or(1, |t| (now - t).clamp(0, CATCH_UP_SECONDS));
    let by_time = per_second * u64::try_from(seconds).unwrap_or(0);
    by_time.min(u64::from(rate).saturating_sub(released_last_minute))
}
