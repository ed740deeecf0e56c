//! What spans a run's end: applying the actions the reboot and rotation
//! state machines (`agent::reboot`, `agent::rotate`) decide, so the
//! machines themselves stay pure and the lifecycle stays readable.

use super::Actor;
use crate::agent::state::{raw, Current, Event, State};
use crate::agent::{reboot, rotate};
use crate::executor::Report;
use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::{JobExecutionStatus, StatusDetails, TerminalStatus};

impl Actor {
    /// The reboot command of the current execution ended.
    pub(super) fn on_reboot_command(
        &mut self,
        job_id: &str,
        execution_number: u64,
        result: Result<(), String>,
    ) {
        let State::Rebooting { current, phase } = &self.state else {
            return;
        };
        if !current.is(job_id, execution_number) {
            return;
        }
        if let Some(action) = phase.on_command(result) {
            self.apply_reboot(action);
        }
    }

    /// Applies what the reboot machine decided for the rebooting execution.
    pub(super) fn apply_reboot(&mut self, action: reboot::Action) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Rebooting { current, .. } => self.apply_reboot_to(current, action, true),
            other => self.state = other,
        }
    }

    /// Applies `action` to `current`, which was `rebooting`, or running
    /// (the plugin asked for the reboot).
    pub(super) fn apply_reboot_to(
        &mut self,
        mut current: Current,
        action: reboot::Action,
        rebooting: bool,
    ) {
        match action {
            reboot::Action::JournalAndAnnounce { entry, details } => {
                let reason = entry.reason.clone();
                let checkpoint = current.checkpoint.clone();
                if let Err(e) = self.journal_update(|s| {
                    if let Some(r) = s.running.as_mut() {
                        r.reboot = Some(entry);
                        r.checkpoint = checkpoint;
                    }
                }) {
                    return self.fail(current, format!("cannot journal the reboot: {e}"));
                }
                current.details = details;
                let mut update = UpdateRequest::new(JobExecutionStatus::InProgress);
                update.execution_number = Some(current.execution_number);
                update.status_details = Some(raw(&current.details));
                let request = self.outbox.update(&current.job_id, update);
                tracing::warn!(target: "agent", job_id = %current.job_id, "rebooting the device: {reason}");
                self.state = State::Rebooting {
                    current,
                    phase: reboot::Phase::Announcing(request),
                };
            }
            reboot::Action::RunCommand(argv) => {
                let events = self.events.clone();
                let (job_id, execution_number) = (current.job_id.clone(), current.execution_number);
                tokio::spawn(async move {
                    let result = reboot::run_device_command(&argv).await;
                    let _ = events.send(Event::RebootCommand {
                        job_id,
                        execution_number,
                        result,
                    });
                });
                self.state = State::Rebooting {
                    current,
                    phase: reboot::Phase::Commanding,
                };
            }
            reboot::Action::WaitForDown => {
                tracing::warn!(target: "agent", job_id = %current.job_id, "reboot command done; waiting for the device to go down");
                self.state = State::Rebooting {
                    current,
                    phase: reboot::Phase::WaitingForDown(tokio::time::Instant::now()),
                };
            }
            reboot::Action::Fail(why) => {
                // Once rebooting, the failure is the agent's news to log;
                // a refused request is the report's.
                if rebooting {
                    tracing::error!(target: "agent", job_id = %current.job_id, "{why}");
                }
                self.fail(current, why);
            }
        }
    }

    // ----- certificate rotation -----

    /// The plugin returned `ok` after `certificates.install`: journal, swap
    /// the files, reconnect with the new pair.
    pub(super) fn rotate_certificate(&mut self, current: Current, outcome: StatusDetails) {
        let entry = match rotate::requested(&self.config) {
            Ok(entry) => entry,
            Err(why) => return self.apply_rotation_to(current, rotate::Action::Fail(why)),
        };
        if let Err(e) = self.journal_update(|s| {
            if let Some(r) = s.running.as_mut() {
                r.rotation = Some(entry);
            }
        }) {
            // Without the journal a crash mid-swap could not be undone.
            let why = format!("cannot journal the rotation: {e}");
            return self.apply_rotation_to(current, rotate::Action::Fail(why));
        }
        let action = rotate::install(&self.config, outcome);
        self.apply_rotation_to(current, action);
    }

    /// Connected with the new certificate: report SUCCEEDED, over this
    /// connection.
    pub(super) fn on_rotation_connected(&mut self) {
        let State::Rotating { current, phase } = std::mem::replace(&mut self.state, State::Idle)
        else {
            return;
        };
        tracing::info!(target: "agent", job_id = %current.job_id, "the broker accepted the new certificate");
        let report = Report {
            status: TerminalStatus::Succeeded,
            status_details: phase.on_connected(),
        };
        self.report(current.job_id, current.execution_number, report);
    }

    /// Applies what the rotation machine decided for the rotating
    /// execution.
    pub(super) fn apply_rotation(&mut self, action: rotate::Action) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Rotating { current, .. } => self.apply_rotation_to(current, action),
            other => self.state = other,
        }
    }

    fn apply_rotation_to(&mut self, current: Current, action: rotate::Action) {
        match action {
            rotate::Action::Reconnect(options, phase) => {
                if let Err(why) = self.outbox.reconnect(*options) {
                    let action = rotate::roll_back(&self.config, why.to_string());
                    return self.apply_rotation_to(current, action);
                }
                tracing::warn!(target: "agent", job_id = %current.job_id, "new certificate installed; reconnecting with it");
                self.state = State::Rotating { current, phase };
            }
            // FAILED is sent once the connection is back: `Reporting`
            // resends on connect.
            rotate::Action::RollBack { why, restored } => {
                let back =
                    restored.and_then(|o| self.outbox.reconnect(*o).map_err(|e| e.to_string()));
                let reason = rotate::rolled_back(&why, back);
                tracing::error!(target: "agent", job_id = %current.job_id, "{reason}");
                self.fail(current, reason);
            }
            rotate::Action::Fail(why) => {
                tracing::error!(target: "agent", job_id = %current.job_id, "{why}");
                self.fail(current, why);
            }
        }
    }

    /// Reports FAILED with `why`.
    fn fail(&mut self, current: Current, why: String) {
        let report = Report::failure(TerminalStatus::Failed, &why, StatusDetails::new());
        self.report(current.job_id, current.execution_number, report);
    }
}
