//! A plugin's reboot, across the reboot, as AWS's JavaScript jobs agent
//! does it (`rebootHandler` in `examples/jobs-agent.js` of
//! <https://github.com/aws/aws-iot-device-sdk-js>): the step goes to
//! statusDetails before the reboot, so the same execution resumes after it;
//! jobhost adds the boot id, to know that the reboot happened:
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
//!
//! Each step takes what happened ([`requested`], then the [`Phase`]'s
//! `on_*` methods) and returns the [`Action`] the actor applies: nothing
//! here publishes, journals or runs a command (thin-edge's
//! `restart_manager` shape).

use super::journal::RebootEntry;
use super::outbox::Pending;
use crate::config::Device;
use jobhost_protocol::StatusDetails;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

/// statusDetails keys the agent adds while rebooting (they are also how a
/// device whose disk was wiped knows it was rebooting).
pub(super) const STEP_KEY: &str = "step";
pub(super) const REBOOTING: &str = "rebooting";
pub(super) const BOOT_ID_KEY: &str = "bootId";
const REASON_KEY: &str = "rebootReason";

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

/// What the actor does next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Journal `entry` (with the run's checkpoint), then announce the
    /// reboot, IN_PROGRESS with `details`: [`Phase::Announcing`]. If the
    /// journal cannot be written, fail instead: without it a restart could
    /// not tell a reboot from a crash-loop.
    JournalAndAnnounce {
        entry: RebootEntry,
        details: StatusDetails,
    },
    /// Run this command: [`Phase::Commanding`].
    RunCommand(Vec<String>),
    /// Wait for the device to go down: [`Phase::WaitingForDown`].
    WaitForDown,
    /// Report FAILED with this reason.
    Fail(String),
}

/// The current boot id, trimmed.
pub(super) fn boot_id(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("cannot read the boot id from {}: {e}", path.display()))
}

/// The plugin returned successfully and asked for a reboot, for `reason`,
/// with `outcome` (its checkpoint already in it): journal it, then announce
/// it to the cloud before doing anything irreversible.
pub(super) fn requested(device: &Device, reason: &str, outcome: StatusDetails) -> Action {
    if device.reboot_command.is_none() {
        return Action::Fail(
            "reboot requested, but this device has no [device] reboot_command".into(),
        );
    }
    let boot = match boot_id(&device.boot_id_file) {
        Ok(id) => id,
        Err(e) => return Action::Fail(e),
    };
    let mut details = outcome;
    details.insert(STEP_KEY, REBOOTING);
    details.insert(BOOT_ID_KEY, &boot);
    details.insert(REASON_KEY, reason);
    Action::JournalAndAnnounce {
        entry: RebootEntry {
            boot_id: boot,
            reason: reason.to_owned(),
        },
        details,
    }
}

impl Phase {
    /// The cloud accepted the announcement: run the reboot command.
    pub(super) fn on_announced(&self, device: &Device) -> Option<Action> {
        let Phase::Announcing(_) = self else {
            return None;
        };
        Some(Action::RunCommand(
            device.reboot_command.clone().unwrap_or_default(),
        ))
    }

    /// The reboot command ended.
    pub(super) fn on_command(&self, result: Result<(), String>) -> Option<Action> {
        let Phase::Commanding = self else {
            return None;
        };
        Some(match result {
            Ok(()) => Action::WaitForDown,
            Err(why) => Action::Fail(format!("the reboot command failed: {why}")),
        })
    }

    /// A tick: a device that never went down.
    pub(super) fn on_tick(&self, device: &Device) -> Option<Action> {
        let Phase::WaitingForDown(since) = self else {
            return None;
        };
        (since.elapsed() >= device.reboot_timeout).then(|| {
            Action::Fail(format!(
                "the device did not reboot within {} s of the reboot command",
                device.reboot_timeout.as_secs()
            ))
        })
    }
}

/// After a restart: whether an execution that was rebooting (from the
/// journal or, disk wiped, from the cloud's statusDetails) may run again:
/// `Ok` when the boot id changed, `Err(why)` when it did not. `None` when
/// it was not rebooting. The reboot's keys are taken out of `details`.
pub(super) fn after_restart(
    journaled: Option<&RebootEntry>,
    details: &mut StatusDetails,
    boot_id_file: &Path,
) -> Option<Result<(), String>> {
    let before = match journaled {
        Some(r) => r.boot_id.clone(),
        None if details.get(STEP_KEY) == Some(REBOOTING) => details.get(BOOT_ID_KEY)?.to_owned(),
        None => return None,
    };
    for key in [STEP_KEY, BOOT_ID_KEY, REASON_KEY] {
        details.remove(key);
    }
    let now = match boot_id(boot_id_file) {
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

/// Runs a `[device]` command (reboot, shutdown); `Err` says why it
/// failed.
pub(super) async fn run_device_command(argv: &[String]) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("no command")?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    fn device(dir: &Path) -> Device {
        std::fs::write(dir.join("boot_id"), "boot-1\n").unwrap();
        Device {
            reboot_command: Some(vec!["/bin/true".into()]),
            shutdown_command: None,
            boot_id_file: dir.join("boot_id"),
            reboot_timeout: Duration::from_secs(300),
            certificate_dir: None,
        }
    }

    /// The machine alone, without the actor: each step is a value.
    #[tokio::test(start_paused = true)]
    async fn a_reboot_goes_announce_command_wait_then_fails_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let device = device(dir.path());
        let mut outcome = StatusDetails::new();
        outcome.insert("result", "reboot requested");
        let Action::JournalAndAnnounce { entry, details } =
            requested(&device, "kernel update", outcome)
        else {
            panic!("announce first");
        };
        assert_eq!(entry.boot_id, "boot-1");
        assert_eq!(details.get(STEP_KEY), Some(REBOOTING));
        assert_eq!(details.get("result"), Some("reboot requested"));

        assert_eq!(
            Phase::Commanding.on_command(Ok(())),
            Some(Action::WaitForDown)
        );
        assert!(matches!(
            Phase::Commanding.on_command(Err("exit 1".into())),
            Some(Action::Fail(why)) if why == "the reboot command failed: exit 1"
        ));
        let waiting = Phase::WaitingForDown(Instant::now());
        assert_eq!(waiting.on_tick(&device), None);
        tokio::time::advance(device.reboot_timeout).await;
        assert!(matches!(
            waiting.on_tick(&device),
            Some(Action::Fail(why)) if why.contains("did not reboot within 300 s")
        ));
    }

    #[test]
    fn without_a_reboot_command_the_request_fails() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device {
            reboot_command: None,
            ..device(dir.path())
        };
        assert!(matches!(
            requested(&device, "why", StatusDetails::new()),
            Action::Fail(why) if why.contains("no [device] reboot_command")
        ));
    }

    #[test]
    fn after_the_restart_the_boot_id_decides() {
        let dir = tempfile::tempdir().unwrap();
        let device = device(dir.path());
        let entry = |boot: &str| RebootEntry {
            boot_id: boot.into(),
            reason: "r".into(),
        };
        let mut details = StatusDetails::new();
        details.insert(STEP_KEY, REBOOTING);
        let changed = after_restart(Some(&entry("boot-0")), &mut details, &device.boot_id_file);
        assert_eq!(changed, Some(Ok(())));
        assert_eq!(details.get(STEP_KEY), None, "the reboot's keys are dropped");
        let same = after_restart(Some(&entry("boot-1")), &mut details, &device.boot_id_file);
        assert!(matches!(same, Some(Err(why)) if why.contains("did not reboot")));
        assert_eq!(
            after_restart(None, &mut details, &device.boot_id_file),
            None
        );
    }
}
