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

    /// The job document fetched again from the service, for fresh presigned
    /// URLs after one expired. Blocks until it arrives, `stop` returns
    /// true, or the observer gives up. Where there is no service (the local
    /// harness) there is nothing to fetch.
    fn refresh_document(&mut self, stop: &dyn Fn() -> bool) -> Result<String, String> {
        let _ = stop;
        Err("there is no jobs service to fetch the document from".into())
    }
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
