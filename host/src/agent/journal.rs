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
//!
//! Checkpoints are coalesced ([`Journal::save_checkpoint`]): each write is
//! an fsync, i.e. flash wear, and a plugin may checkpoint in a loop. Up to
//! [`CHECKPOINT_BURST`] checkpoints are written at once (durable when the
//! plugin's call returns), then one per checkpoint interval (the agent's
//! `progress_interval`); one saved faster waits in memory and the newest
//! is written at the next slot ([`Journal::flush_due`], on the agent's
//! tick), with any other journal write (a status, a reboot), and at
//! shutdown. So a power cut loses at most the checkpoints of the last
//! interval of a plugin that saves them faster than that: the resumed run
//! gets the last one written.

use crate::durable::write_atomically;
use jobhost_protocol::{StatusDetails, TerminalStatus};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FILE_NAME: &str = "journal.json";

/// Checkpoints written back to back before coalescing starts: a plugin
/// that saves a few in a row (before and after a risky step) has each
/// durable when its call returns.
pub const CHECKPOINT_BURST: u32 = 3;

/// The default checkpoint interval (the agent's default `progress_interval`).
const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);

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
    /// forever (`agent::actor::lifecycle::MAX_RESTARTS`).
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
    /// Shut the device down once it is accepted (the built-in `shutdown`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub then_shutdown: bool,
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
    /// What is on disk.
    state: JournalState,
    /// The newest checkpoint of the running execution not yet on disk.
    unsaved: Option<Unsaved>,
    /// Slots for checkpoint writes.
    slots: Slots,
}

/// A checkpoint waiting for its write slot.
#[derive(Debug)]
struct Unsaved {
    job_id: String,
    execution_number: u64,
    state: String,
}

/// What [`Journal::save_checkpoint`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Written: it survives a power cut.
    Durable,
    /// Kept in memory until the next write slot (coalesced).
    Deferred,
    /// That execution is not the running one: nothing to save it for.
    NotRunning,
}

/// A token bucket: [`CHECKPOINT_BURST`] writes, refilled at one per
/// `interval`.
#[derive(Debug)]
struct Slots {
    interval: Duration,
    tokens: f64,
    refilled: Instant,
}

impl Slots {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            tokens: f64::from(CHECKPOINT_BURST),
            refilled: Instant::now(),
        }
    }

    /// Takes a write slot if one is free.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64()
            / self.interval.as_secs_f64().max(0.001);
        self.tokens = (self.tokens + earned).min(f64::from(CHECKPOINT_BURST));
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
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
        Ok(Self {
            path,
            state,
            unsaved: None,
            slots: Slots::new(DEFAULT_CHECKPOINT_INTERVAL),
        })
    }

    /// Coalesces checkpoint writes to one per `interval` after the burst.
    pub fn with_checkpoint_interval(mut self, interval: Duration) -> Self {
        self.slots = Slots::new(interval);
        self
    }

    /// The content on disk (without a checkpoint waiting for its slot).
    pub fn state(&self) -> &JournalState {
        &self.state
    }

    /// Changes the content and makes the change durable before returning,
    /// with the newest checkpoint if one waits for its slot. On error the
    /// in-memory state is left as it was on disk.
    pub fn update(&mut self, change: impl FnOnce(&mut JournalState)) -> io::Result<()> {
        let mut next = self.state.clone();
        if let Some(u) = &self.unsaved {
            if let Some(running) = next
                .running
                .as_mut()
                .filter(|r| r.job_id == u.job_id && r.execution_number == u.execution_number)
            {
                running.checkpoint = Some(u.state.clone());
            }
        }
        change(&mut next);
        if next != self.state {
            write_atomically(
                &self.path,
                &serde_json::to_vec_pretty(&next).map_err(io::Error::other)?,
                None,
            )?;
            self.state = next;
        }
        self.unsaved = None;
        Ok(())
    }

    /// Saves `state` as the checkpoint of the running execution: written
    /// now if a write slot is free, otherwise kept as the newest and
    /// written at the next slot (see the module doc).
    pub fn save_checkpoint(
        &mut self,
        job_id: &str,
        execution_number: u64,
        state: &str,
    ) -> io::Result<Saved> {
        let running = self
            .state
            .running
            .as_ref()
            .is_some_and(|r| r.job_id == job_id && r.execution_number == execution_number);
        if !running {
            return Ok(Saved::NotRunning);
        }
        self.unsaved = Some(Unsaved {
            job_id: job_id.to_owned(),
            execution_number,
            state: state.to_owned(),
        });
        if !self.slots.take() {
            return Ok(Saved::Deferred);
        }
        self.update(|_| {})?;
        Ok(Saved::Durable)
    }

    /// Writes a checkpoint waiting for its slot if the slot has come (the
    /// agent's tick calls this). Returns whether it wrote.
    pub fn flush_due(&mut self) -> io::Result<bool> {
        if self.unsaved.is_none() || !self.slots.take() {
            return Ok(false);
        }
        self.update(|_| {})?;
        Ok(true)
    }

    /// Writes a checkpoint waiting for its slot now (at shutdown).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.unsaved.is_none() {
            return Ok(());
        }
        self.update(|_| {})
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
                then_shutdown: false,
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

    fn running(j: &mut Journal) {
        j.update(|s| {
            s.running = Some(RunningEntry {
                job_id: "j".into(),
                execution_number: 1,
                checkpoint: None,
                reboot: None,
                rotation: None,
                restarts: 0,
            })
        })
        .unwrap();
    }

    fn on_disk(dir: &Path) -> Option<String> {
        Journal::open(dir)
            .unwrap()
            .state()
            .running
            .clone()?
            .checkpoint
    }

    #[test]
    fn checkpoints_beyond_the_burst_are_coalesced_and_the_newest_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path())
            .unwrap()
            .with_checkpoint_interval(Duration::from_secs(3600));
        running(&mut j);
        for i in 1..=CHECKPOINT_BURST {
            let saved = j.save_checkpoint("j", 1, &format!("c{i}")).unwrap();
            assert_eq!(saved, Saved::Durable, "c{i} is within the burst");
            assert_eq!(on_disk(dir.path()), Some(format!("c{i}")));
        }
        for i in CHECKPOINT_BURST + 1..=1000 {
            let saved = j.save_checkpoint("j", 1, &format!("c{i}")).unwrap();
            assert_eq!(saved, Saved::Deferred);
        }
        assert_eq!(on_disk(dir.path()), Some(format!("c{CHECKPOINT_BURST}")));
        assert!(!j.flush_due().unwrap(), "no slot within the hour");
        // Any other write carries the newest checkpoint along.
        j.update(|s| {
            if let Some(r) = s.running.as_mut() {
                r.restarts = 1;
            }
        })
        .unwrap();
        assert_eq!(on_disk(dir.path()).as_deref(), Some("c1000"));
        j.save_checkpoint("j", 1, "last").unwrap();
        j.flush().unwrap();
        assert_eq!(on_disk(dir.path()).as_deref(), Some("last"));
        assert_eq!(
            j.save_checkpoint("other", 1, "x").unwrap(),
            Saved::NotRunning
        );
    }

    #[test]
    fn a_deferred_checkpoint_is_written_at_the_next_slot() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path())
            .unwrap()
            .with_checkpoint_interval(Duration::from_millis(20));
        running(&mut j);
        let mut i = 0;
        while j.save_checkpoint("j", 1, &format!("c{i}")).unwrap() == Saved::Durable {
            i += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !j.flush_due().unwrap() {
            assert!(Instant::now() < deadline, "no slot came");
            std::thread::yield_now();
        }
        assert_eq!(on_disk(dir.path()), Some(format!("c{i}")));
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
