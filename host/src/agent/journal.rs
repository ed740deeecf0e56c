//! The on-device journal: what must survive a crash, a reboot or `kill -9`.
//!
//! - the execution being run, with its last checkpoint, so a restart
//!   resumes it instead of starting over;
//! - a terminal status not yet accepted by the service, so it is re-sent
//!   until it is (it is written here BEFORE it is published).
//!
//! One small JSON file, replaced atomically (write temp, fsync, rename,
//! fsync the directory): a crash leaves the old or the new journal, never a
//! mix.

use crate::durable::write_atomically;
use jobhost_protocol::{StatusDetails, TerminalStatus};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "journal.json";

/// The execution in progress on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningEntry {
    /// Job id.
    pub job_id: String,
    /// Execution number.
    pub execution_number: u64,
    /// The last checkpoint the plugin saved.
    pub checkpoint: Option<String>,
    /// Set when the plugin asked for a reboot and the agent is about to
    /// (or did) reboot the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot: Option<RebootEntry>,
    /// Set while the agent swaps in a new client certificate and
    /// reconnects with it; found at the next start, it means the agent
    /// stopped mid-rotation (see `agent::rotate::recover`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationEntry>,
    /// How many agent starts in a row found this execution running here and
    /// resumed it (a planned reboot does not count): a run that keeps
    /// taking the agent down, or is always cut short, is not resumed
    /// forever (`agent::lifecycle::MAX_RESTARTS`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restarts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A certificate rotation in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationEntry {
    /// sha256 of the certificate file in use before the swap: how a
    /// restart tells which pair on disk is the previous one.
    pub previous_sha256: String,
}

/// A reboot in progress: compared after the restart, a changed boot id
/// proves the device really rebooted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RebootEntry {
    /// The boot id before the reboot.
    pub boot_id: String,
    /// Why the plugin asked.
    pub reason: String,
}

/// A terminal status written but not yet accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingReport {
    /// Job id.
    pub job_id: String,
    /// Execution number.
    pub execution_number: u64,
    /// SUCCEEDED, FAILED or REJECTED.
    pub status: TerminalStatus,
    /// The details to send with it.
    pub status_details: StatusDetails,
}

/// Everything the journal holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalState {
    /// The execution being run.
    pub running: Option<RunningEntry>,
    /// The terminal status awaiting acceptance.
    pub pending_report: Option<PendingReport>,
}

/// The journal file and its current content.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    state: JournalState,
}

impl Journal {
    /// Opens the journal in `state_dir`. A file that does not parse (a disk
    /// error, a hand edit) is moved aside and logged, and the agent starts
    /// empty: the cloud's statusDetails still carry the checkpoint.
    pub fn open(state_dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(state_dir)?;
        let path = state_dir.join(FILE_NAME);
        let state = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(state) => state,
                Err(e) => {
                    let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
                    tracing::error!(target: "journal", "{} is unreadable ({e}); moved to {}", path.display(), aside.display());
                    fs::rename(&path, &aside)?;
                    JournalState::default()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => JournalState::default(),
            Err(e) => return Err(e),
        };
        Ok(Self { path, state })
    }

    /// The current content.
    pub fn state(&self) -> &JournalState {
        &self.state
    }

    /// Changes the content and makes the change durable before returning.
    /// On error the in-memory state is left as it was on disk.
    pub fn update(&mut self, change: impl FnOnce(&mut JournalState)) -> io::Result<()> {
        let mut next = self.state.clone();
        change(&mut next);
        if next == self.state {
            return Ok(());
        }
        write_atomically(
            &self.path,
            &serde_json::to_vec_pretty(&next).map_err(io::Error::other)?,
        )?;
        self.state = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.update(|s| {
            s.running = Some(RunningEntry {
                job_id: "j".into(),
                execution_number: 2,
                checkpoint: Some("c".into()),
                reboot: None,
                rotation: None,
                restarts: 2,
            })
        })
        .unwrap();
        let (details, _) = StatusDetails::from_pairs([("reason", "r")]);
        j.update(|s| {
            s.pending_report = Some(PendingReport {
                job_id: "j".into(),
                execution_number: 2,
                status: TerminalStatus::Failed,
                status_details: details.clone(),
            })
        })
        .unwrap();
        let again = Journal::open(dir.path()).unwrap();
        assert_eq!(again.state(), j.state());
        assert_eq!(
            again
                .state()
                .running
                .as_ref()
                .unwrap()
                .checkpoint
                .as_deref(),
            Some("c")
        );
    }

    #[test]
    fn a_corrupt_journal_is_moved_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.state(), &JournalState::default());
        let moved = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("corrupt")
            })
            .count();
        assert_eq!(moved, 1);
    }
}
