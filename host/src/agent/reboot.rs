//! A plugin's reboot, across the reboot (reference §10, "reboot"):
//!
//! ```text
//! Running ──plugin returns ok after request-reboot──▶ journal {boot id, reason}
//!   ──▶ Rebooting/Announcing (UPDATE IN_PROGRESS: step=rebooting, bootId)
//!   ──accepted──▶ run [device] reboot_command ──ok──▶ WaitingForDown
//!   ──(the device goes down; the agent starts again)──▶ $next: same execution
//!   ──boot id changed──▶ run the plugin again with its checkpoint
//!   ──boot id unchanged──▶ FAILED "the device did not reboot"
//! WaitingForDown ──[device] reboot_timeout_secs──▶ FAILED
//! ```
//!
//! The boot id (the kernel's random per-boot id by default) is what proves
//! a reboot happened; an agent restart alone does not change it.

use super::actor::{raw, Actor, Current, Pending, Plan, State, CHECKPOINT_KEY};
use super::journal::RebootEntry;
use super::Event;
use crate::executor::Report;
use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::{JobExecutionStatus, StatusDetails, TerminalStatus};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// statusDetails keys the agent adds while rebooting (they are also how a
/// device whose disk was wiped knows it was rebooting).
pub(super) const STEP_KEY: &str = "step";
pub(super) const REBOOTING: &str = "rebooting";
pub(super) const BOOT_ID_KEY: &str = "bootId";

/// The reboot command itself gets this long to return.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a reboot stands.
#[derive(Debug)]
pub(crate) enum Phase {
    /// The IN_PROGRESS update announcing the reboot awaits its reply.
    Announcing(Pending),
    /// The reboot command is running.
    Commanding,
    /// The command succeeded; the device should go down any moment.
    WaitingForDown(Instant),
}

/// The current boot id, trimmed.
pub(super) fn boot_id(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("cannot read the boot id from {}: {e}", path.display()))
}

impl Actor {
    /// After a restart: the plan for an execution that was rebooting, from
    /// the journal or (disk wiped) from the cloud's statusDetails. `None`
    /// when it was not rebooting.
    pub(super) fn after_reboot(
        &self,
        journaled: Option<&RebootEntry>,
        details: &StatusDetails,
    ) -> Option<Result<(), String>> {
        let before = match journaled {
            Some(r) => r.boot_id.clone(),
            None if details.get(STEP_KEY) == Some(REBOOTING) => {
                details.get(BOOT_ID_KEY)?.to_owned()
            }
            None => return None,
        };
        let now = match boot_id(&self.config.device.boot_id_file) {
            Ok(id) => id,
            Err(e) => return Some(Err(e)),
        };
        if now == before {
            Some(Err(format!(
                "the device did not reboot: boot id {now} is unchanged since the reboot was requested"
            )))
        } else {
            tracing::info!(target: "agent", "rebooted (boot id {before} -> {now}); resuming the execution");
            Some(Ok(()))
        }
    }

    /// The plugin returned successfully and asked for a reboot: journal it,
    /// then announce it to the cloud before doing anything irreversible.
    pub(super) fn prepare_reboot(
        &mut self,
        mut current: Current,
        reason: String,
        outcome: StatusDetails,
    ) {
        let fail = |this: &mut Self, current: &Current, why: String| {
            let report = Report::failure(TerminalStatus::Failed, &why, StatusDetails::new());
            this.report(current.job_id.clone(), current.execution_number, report);
        };
        if self.config.device.reboot_command.is_none() {
            return fail(
                self,
                &current,
                "reboot requested, but this device has no [device] reboot_command".into(),
            );
        }
        let boot = match boot_id(&self.config.device.boot_id_file) {
            Ok(id) => id,
            Err(e) => return fail(self, &current, e),
        };
        let entry = RebootEntry {
            boot_id: boot.clone(),
            reason: reason.clone(),
        };
        let checkpoint = current.checkpoint.clone();
        if let Err(e) = self.journal_update(|s| {
            if let Some(r) = s.running.as_mut() {
                r.reboot = Some(entry);
                r.checkpoint = checkpoint;
            }
        }) {
            // Without the journal a restart could not tell a reboot from a
            // crash-loop: do not reboot on that basis.
            return fail(self, &current, format!("cannot journal the reboot: {e}"));
        }
        let mut details = outcome;
        if let Some(c) = &current.checkpoint {
            details.insert(CHECKPOINT_KEY, c);
        }
        details.insert(STEP_KEY, REBOOTING);
        details.insert(BOOT_ID_KEY, &boot);
        details.insert("rebootReason", &reason);
        current.details = details;
        let mut update = UpdateRequest::new(JobExecutionStatus::InProgress);
        update.execution_number = Some(current.execution_number);
        update.status_details = Some(raw(&current.details));
        let request = self.request(&current.job_id, update);
        tracing::warn!(target: "agent", job_id = %current.job_id, "rebooting the device: {reason}");
        self.state = State::Rebooting {
            current,
            phase: Phase::Announcing(request),
        };
    }

    /// The cloud knows: run the reboot command.
    pub(super) fn reboot_now(&mut self, current: Current) {
        let argv = self
            .config
            .device
            .reboot_command
            .clone()
            .unwrap_or_default();
        let events = self.events.clone();
        let (job_id, execution_number) = (current.job_id.clone(), current.execution_number);
        tokio::spawn(async move {
            let result = run_reboot_command(&argv).await;
            let _ = events.send(Event::RebootCommand {
                job_id,
                execution_number,
                result,
            });
        });
        self.state = State::Rebooting {
            current,
            phase: Phase::Commanding,
        };
    }

    pub(super) fn on_reboot_command(
        &mut self,
        job_id: &str,
        execution_number: u64,
        result: Result<(), String>,
    ) {
        let State::Rebooting { current, .. } = &self.state else {
            return;
        };
        if current.job_id != job_id || current.execution_number != execution_number {
            return;
        }
        let current = current.clone();
        match result {
            Ok(()) => {
                tracing::warn!(target: "agent", job_id = %job_id, "reboot command done; waiting for the device to go down");
                self.state = State::Rebooting {
                    current,
                    phase: Phase::WaitingForDown(Instant::now()),
                };
            }
            Err(why) => self.reboot_failed(current, format!("the reboot command failed: {why}")),
        }
    }

    /// Called on every tick: a device that never went down.
    pub(super) fn check_reboot_timeout(&mut self) {
        let timeout = self.config.device.reboot_timeout;
        if let State::Rebooting {
            current,
            phase: Phase::WaitingForDown(since),
        } = &self.state
        {
            if since.elapsed() >= timeout {
                let current = current.clone();
                self.reboot_failed(
                    current,
                    format!(
                        "the device did not reboot within {} s of the reboot command",
                        timeout.as_secs()
                    ),
                );
            }
        }
    }

    fn reboot_failed(&mut self, current: Current, why: String) {
        tracing::error!(target: "agent", job_id = %current.job_id, "{why}");
        let report = Report::failure(TerminalStatus::Failed, &why, StatusDetails::new());
        self.report(current.job_id, current.execution_number, report);
    }
}

/// The plan for a rebooting execution after the restart.
pub(super) fn plan_after_reboot(result: Result<(), String>, run: Plan) -> Plan {
    match result {
        Ok(()) => run,
        Err(why) => Plan::Fail(why),
    }
}

async fn run_reboot_command(argv: &[String]) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("no reboot command")?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            format!(
                "{program} did not return within {} s",
                COMMAND_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .trim()
            .chars()
            .rev()
            .take(200)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(format!("{program} exited with {}: {tail}", output.status))
    }
}
