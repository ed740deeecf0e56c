//! The on-device journal: what must survive a crash, a reboot or `kill -9`.
//!
//! - the execution being run, with its last checkpoint, so a restart
//!   resumes it instead of starting over;
//! - a terminal status not yet accepted by the service, so it is re-sent
//!   until it is (it is written here BEFORE it is published).
//!
//! The content is a small JSON object, appended to a preallocated log of
//! checksummed records (`journal.log`, see `log.rs`) with one `fdatasync`
//! per change: a crash leaves the old or the new content, never a mix, and
//! a change costs one small write, not a new file. A `journal.json` left by
//! an older agent is taken over at the first start.
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

mod log;

use crate::durable::sync_parent;
use jobhost_protocol::{StatusDetails, TerminalStatus};
use log::RecordLog;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// The single-file journal of agents before the record log.
const LEGACY_FILE: &str = "journal.json";

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
    log: RecordLog,
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
    /// Opens the journal in `state_dir`. A file that does not read as a
    /// journal (a disk error, a hand edit) is moved aside and logged, and
    /// the agent starts empty: the cloud's statusDetails still carry the
    /// checkpoint. A record torn by a crash is dropped: the change it
    /// carried was never reported durable.
    pub fn open(state_dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(state_dir)?;
        let path = state_dir.join(log::FILE_NAME);
        let (log, state) = match RecordLog::open(&path)? {
            None => take_over_legacy(state_dir, &path)?,
            Some((log, scan)) => {
                match forget_legacy(state_dir).and(Ok(scan.last.as_deref().map(parse)))? {
                    Some(Ok(state)) if !scan.damaged => (log, state),
                    Some(Ok(state)) => {
                        tracing::warn!(target: "journal", "{}: dropped a record torn by a crash", path.display());
                        (RecordLog::create(&path, Some(&encode(&state)?))?, state)
                    }
                    None if !scan.damaged => (log, JournalState::default()),
                    Some(Err(e)) => (set_aside(&path, &e)?, JournalState::default()),
                    None => (set_aside(&path, &"no record")?, JournalState::default()),
                }
            }
        };
        Ok(Self {
            log,
            state,
            unsaved: None,
            slots: Slots::new(DEFAULT_CHECKPOINT_INTERVAL),
        })
    }

    /// The journal in `state_dir` as it is on disk, read without changing
    /// anything (for tests and tools; the agent uses [`Journal::open`]).
    pub fn read(state_dir: &Path) -> io::Result<JournalState> {
        match fs::read(state_dir.join(log::FILE_NAME)) {
            Ok(bytes) => match log::scan(&bytes).last {
                Some(payload) => parse(&payload).map_err(io::Error::other),
                None => Ok(JournalState::default()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match fs::read(state_dir.join(LEGACY_FILE)) {
                    Ok(bytes) => parse(&bytes).map_err(io::Error::other),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(JournalState::default()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
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
            self.log.append(&encode(&next)?)?;
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

fn parse(bytes: &[u8]) -> Result<JournalState, serde_json::Error> {
    serde_json::from_slice(bytes)
}

fn encode(state: &JournalState) -> io::Result<Vec<u8>> {
    serde_json::to_vec(state).map_err(io::Error::other)
}

/// Moves an unreadable journal aside (kept for a post-mortem) and starts an
/// empty one.
fn set_aside(path: &Path, why: &dyn std::fmt::Display) -> io::Result<RecordLog> {
    move_aside(path, why)?;
    RecordLog::create(path, None)
}

/// Renames an unreadable journal file to `<name>.corrupt-<pid>`, logged.
fn move_aside(path: &Path, why: &dyn std::fmt::Display) -> io::Result<()> {
    let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
    tracing::error!(target: "journal", "{} is unreadable ({why}); moved to {}", path.display(), aside.display());
    fs::rename(path, &aside)
}

/// The first start after an upgrade: the older agent's `journal.json`
/// becomes the log's first record, then is removed. A crash in between
/// leaves both, and the log, written first, wins the next time.
fn take_over_legacy(state_dir: &Path, path: &Path) -> io::Result<(RecordLog, JournalState)> {
    let legacy = state_dir.join(LEGACY_FILE);
    let state = match fs::read(&legacy) {
        Ok(bytes) => match parse(&bytes) {
            Ok(state) => state,
            Err(e) => {
                move_aside(&legacy, &e)?;
                JournalState::default()
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => JournalState::default(),
        Err(e) => return Err(e),
    };
    let log = RecordLog::create(path, Some(&encode(&state)?))?;
    forget_legacy(state_dir)?;
    Ok((log, state))
}

/// Removes an older agent's `journal.json` once the log holds its content.
fn forget_legacy(state_dir: &Path) -> io::Result<()> {
    let legacy = state_dir.join(LEGACY_FILE);
    match fs::remove_file(&legacy) {
        Ok(()) => sync_parent(&legacy),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
