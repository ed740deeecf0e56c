//! When a scheduled job may notify targets: after its `startTime`, before
//! its `endTime`, and inside one of its maintenance windows if it has any
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs-lifecycle.html>:
//! a job is SCHEDULED until its startTime or the start of its next
//! maintenance window, and goes back to SCHEDULED when a window ends).

use super::config::{EndBehavior, MaintenanceWindow, SchedulingConfig};

impl SchedulingConfig {
    /// Whether targets may be notified at `now`. The end is the caller's
    /// concern ([`SchedulingConfig::has_ended`]): it is acted on once.
    pub fn is_open(&self, now: i64) -> bool {
        let started = self.start_time.as_ref().is_none_or(|s| now >= s.epoch());
        started
            && (self.maintenance_windows.is_empty()
                || self.maintenance_windows.iter().any(|w| w.contains(now)))
    }

    /// Whether `endTime` has come.
    pub fn has_ended(&self, now: i64) -> bool {
        self.end_time.as_ref().is_some_and(|e| now >= e.epoch())
    }

    /// What happens at `endTime`: STOP_ROLLOUT unless told otherwise.
    pub fn end(&self) -> EndBehavior {
        self.end_behavior.unwrap_or(EndBehavior::StopRollout)
    }

    /// The next `n` times a maintenance window opens, from `now` (or
    /// `startTime` if later) until `endTime`, in order: AWS's
    /// `scheduledJobRollouts`. Empty without maintenance windows.
    pub fn next_windows(&self, now: i64, n: usize) -> Vec<i64> {
        let from = self.start_time.as_ref().map_or(now, |s| s.epoch().max(now));
        let until = self.end_time.as_ref().map_or(i64::MAX, |e| e.epoch());
        let mut starts: Vec<i64> = Vec::new();
        for w in &self.maintenance_windows {
            let mut at = from;
            for _ in 0..n {
                match w.start_time.next_at_or_after(at) {
                    Some(t) if t < until => {
                        starts.push(t);
                        at = t + 60;
                    }
                    _ => break,
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        starts.truncate(n);
        starts
    }
}

impl MaintenanceWindow {
    /// Whether a window of this rule is open at `now`: it opened at most
    /// `durationInMinutes` ago.
    pub fn contains(&self, now: i64) -> bool {
        let length = i64::from(self.duration_in_minutes) * 60;
        self.start_time.last_within(now, length - 1).is_some()
    }
}
