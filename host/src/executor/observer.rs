//! Where an execution's intermediate results go: the agent publishes and
//! journals them, the local harness prints and files them.

use jobhost_protocol::StatusDetails;

/// Receives what a plugin reports while it runs.
pub trait Observer: Send {
    /// A progress report (already sanitised), for an IN_PROGRESS update.
    /// Rate limiting is the observer's job: it sees every report.
    fn progress(&mut self, details: &StatusDetails);

    /// A checkpoint to make durable. Return `Ok` only once it would survive
    /// a power cut; the plugin is told it failed otherwise.
    fn checkpoint(&mut self, state: &str) -> Result<(), String>;
}

/// Discards progress and keeps the last checkpoint in memory (benchmarks,
/// tests that do not care).
#[derive(Debug, Default)]
pub struct NullObserver {
    /// The last checkpoint saved.
    pub checkpoint: Option<String>,
}

impl Observer for NullObserver {
    fn progress(&mut self, _details: &StatusDetails) {}

    fn checkpoint(&mut self, state: &str) -> Result<(), String> {
        self.checkpoint = Some(state.to_owned());
        Ok(())
    }
}
