//! The bridge from a plugin running on a blocking thread to the agent: the
//! checkpoint goes to the journal right here (durable when the plugin's
//! call returns, unless the plugin saves them faster than the journal's
//! write slots: then the newest is written at the next slot, see
//! [`super::journal`]), then both checkpoints and progress are handed to
//! the agent, which publishes them, rate-limited.

use super::journal::Journal;
use super::state::Event;
use crate::executor::Observer;
use jobhost_protocol::StatusDetails;
use std::sync::{mpsc as sync_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a plugin waits for its job document to come back.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the wait checks cancellation and the deadline.
const POLL: Duration = Duration::from_millis(100);

pub(crate) struct AgentObserver {
    pub journal: Arc<Mutex<Journal>>,
    pub events: mpsc::UnboundedSender<Event>,
    pub job_id: String,
    pub execution_number: u64,
}

impl Observer for AgentObserver {
    fn progress(&mut self, details: &StatusDetails) {
        let _ = self.events.send(Event::Progress {
            job_id: self.job_id.clone(),
            execution_number: self.execution_number,
            details: details.clone(),
        });
    }

    fn checkpoint(&mut self, state: &str) -> Result<(), String> {
        let mut journal = self
            .journal
            .lock()
            .map_err(|_| "journal lock poisoned".to_owned())?;
        journal
            .save_checkpoint(&self.job_id, self.execution_number, state)
            .map_err(|e| format!("journal write failed: {e}"))?;
        drop(journal);
        let _ = self.events.send(Event::Checkpoint {
            job_id: self.job_id.clone(),
            execution_number: self.execution_number,
            state: state.to_owned(),
        });
        Ok(())
    }

    fn refresh_document(&mut self, stop: &dyn Fn() -> bool) -> Result<String, String> {
        let (reply, answer) = sync_mpsc::channel();
        self.events
            .send(Event::RefreshDocument {
                job_id: self.job_id.clone(),
                execution_number: self.execution_number,
                reply,
            })
            .map_err(|_| "the agent is shutting down".to_owned())?;
        let until = Instant::now() + REFRESH_TIMEOUT;
        loop {
            match answer.recv_timeout(POLL) {
                Ok(result) => return result,
                Err(sync_mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the agent dropped the request".into())
                }
                Err(sync_mpsc::RecvTimeoutError::Timeout) if stop() => {
                    return Err("the job stopped while waiting".into())
                }
                Err(sync_mpsc::RecvTimeoutError::Timeout) if Instant::now() >= until => {
                    return Err(format!(
                        "no reply from the jobs service within {} s",
                        REFRESH_TIMEOUT.as_secs()
                    ))
                }
                Err(sync_mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jobhost_protocol::status_details::{AGENT_KEYS, AGENT_STEP};

    /// Every key the agent itself writes into an execution's statusDetails
    /// is one a plugin's maps lose: a new one must be added there too (the
    /// download's keys are checked beside them, in `runtime::capabilities::download`).
    #[test]
    fn the_keys_the_agent_writes_are_reserved() {
        for key in [
            crate::executor::REASON_KEY,
            super::super::state::CHECKPOINT_KEY,
            super::super::reboot::BOOT_ID_KEY,
            "rebootReason",
            "pluginError",
            "lastError",
        ] {
            assert!(AGENT_KEYS.contains(&key), "{key} is not reserved");
        }
        assert_eq!(
            AGENT_STEP,
            (
                super::super::reboot::STEP_KEY,
                super::super::reboot::REBOOTING
            )
        );
    }
}
