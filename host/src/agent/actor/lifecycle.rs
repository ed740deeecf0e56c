//! The job lifecycle proper: plan and claim an execution, run it, report
//! it, or abandon it when cancelled (see the state diagram in `actor`);
//! and apply what the reboot and rotation machines decide.

use super::Actor;
use crate::agent::journal::{PendingReport, RunningEntry};
use crate::agent::observer::AgentObserver;
use crate::agent::state::{raw, Current, Event, Overrun, Plan, State, CHECKPOINT_KEY};
use crate::agent::{reboot, rotate};
use crate::document::Routed;
use crate::executor::{self, CancelToken, Conclusion, Execution, Report, WATCHDOG_GRACE};
use crate::plugins::Builtin;
use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::{JobExecution, JobExecutionStatus, StatusDetails, TerminalStatus};
use tracing::Instrument;

/// Agent starts in a row that may resume the same execution. A run killed
/// by a power cut resumes (from its checkpoint); one that takes the agent
/// down every time, or is always cut short, is reported FAILED at the next
/// start instead of being run forever. Planned reboots do not count.
const MAX_RESTARTS: u32 = 5;

impl Actor {
    /// Plans the execution and claims it with IN_PROGRESS.
    pub(super) fn start(&mut self, e: JobExecution) {
        // Native `{"operation": …}`, or a document in another agent's
        // convention translated into the plugin's native one.
        let routed = e
            .job_document
            .as_ref()
            .map(|d| crate::document::route(d, &self.config.device_client_handlers));
        let (plan, routed) = self.plan(routed);
        let (document, operation) = match routed {
            Some(r) => (r.document.to_string(), Some(r.operation)),
            None => (
                e.job_document
                    .as_ref()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                None,
            ),
        };
        let mut details = e.status_details.clone().unwrap_or_default();
        // Resume from the journal, or from the cloud when the disk was wiped.
        let journaled = self
            .journal_state()
            .running
            .filter(|r| r.job_id == e.job_id && r.execution_number == e.execution_number);
        let interrupted_rotation = journaled.as_ref().is_some_and(|r| r.rotation.is_some());
        let restarts = match &journaled {
            Some(r) if r.reboot.is_none() && r.rotation.is_none() => r.restarts + 1,
            _ => 0,
        };
        let rebooted = reboot::after_restart(
            journaled.as_ref().and_then(|r| r.reboot.as_ref()),
            &mut details,
            &self.config.device.boot_id_file,
        );
        let plan = match rebooted {
            Some(Ok(())) => plan,
            Some(Err(why)) => Plan::Fail(why),
            None if interrupted_rotation => Plan::Fail(rotate::INTERRUPTED.into()),
            None if restarts > MAX_RESTARTS => Plan::Fail(format!(
                "the agent restarted {restarts} times in a row during this run; not resumed again"
            )),
            None => plan,
        };
        let checkpoint = match journaled {
            Some(r) => r.checkpoint,
            None if e.status == JobExecutionStatus::InProgress => {
                details.get(CHECKPOINT_KEY).map(str::to_owned)
            }
            None => None,
        };
        if checkpoint.is_some() {
            tracing::info!(target: "agent", job_id = %e.job_id, "resuming from checkpoint");
        }
        let refusal_details = match &plan {
            Plan::Reject(reason) | Plan::Fail(reason) => {
                crate::document::failure_details(e.job_document.as_ref(), reason)
            }
            Plan::Run(_) | Plan::Builtin(_) => StatusDetails::new(),
        };
        let current = Current {
            job_id: e.job_id.clone(),
            execution_number: e.execution_number,
            plan,
            document,
            operation: operation.unwrap_or_default(),
            checkpoint,
            details,
            refusal_details,
        };
        let entry = RunningEntry {
            job_id: current.job_id.clone(),
            execution_number: current.execution_number,
            checkpoint: current.checkpoint.clone(),
            reboot: None,
            rotation: None,
            restarts,
        };
        // The claim leaves first and the entry is fsynced while it travels
        // and the service commits it: the journal's write is off the job's
        // critical path. The entry is still on disk before the plugin can
        // run, because the claim's acceptance is handled by this actor,
        // after this returns. A crash between the two loses nothing: the
        // plugin has not run, and the cloud's IN_PROGRESS (with its
        // checkpoint, if any) resumes the job after the restart.
        self.claim(current, e.version_number);
        if let Err(err) = self.journal_update(|s| s.running = Some(entry)) {
            // Without a journal a crash would lose the checkpoint; the
            // cloud copy still exists, so carry on but say so.
            tracing::error!(target: "agent", "journal write failed: {err}");
        }
    }

    /// What to do with a routed document: a built-in, a plugin (its
    /// document bound to the plugin's grants), or a refusal; with the
    /// routed document when there is one to run.
    fn plan(&self, routed: Option<Result<Routed, String>>) -> (Plan, Option<Routed>) {
        let mut r = match routed {
            None => return (Plan::Reject("the job has no document".into()), None),
            Some(Err(reason)) => return (Plan::Reject(reason), None),
            Some(Ok(r)) => r,
        };
        let plan = match Builtin::parse(&r.operation, &r.document) {
            Some(Ok(Builtin::Shutdown { .. })) if self.config.device.shutdown_command.is_none() => {
                Plan::Reject(
                    "this device has no [device] shutdown_command, so jobs cannot shut it down \
                     (e.g. shutdown_command = [\"/usr/bin/systemctl\", \"poweroff\"])"
                        .into(),
                )
            }
            Some(Ok(builtin)) => Plan::Builtin(builtin),
            Some(Err(reason)) => Plan::Reject(reason),
            None => match self.plugins.route(&r.operation) {
                Some(installed) => {
                    let requested: Vec<&str> = (installed.manifest.capabilities.dirs.iter())
                        .map(|d| d.path.as_str())
                        .collect();
                    let target = crate::document::Target {
                        name: &installed.manifest.name,
                        requested: &requested,
                        dirs: &installed.sandbox.dirs,
                        command: installed.sandbox.command.as_ref(),
                    };
                    // A codesign that is malformed, or missing where the
                    // device requires one, is the document's fault too.
                    let bound = crate::document::bind(&mut r, target).and_then(|()| {
                        crate::trust::artifact::refusal(
                            self.config.trust.require_artifact_signatures,
                            &r.operation,
                            &r.document,
                        )
                        .map_or(Ok(()), Err)
                    });
                    match bound {
                        Ok(()) => Plan::Run(installed),
                        Err(reason) => Plan::Reject(reason),
                    }
                }
                None => Plan::Reject(format!(
                    "unknown operation `{}`{}: no plugin on this device handles it ({})",
                    r.operation,
                    r.origin(),
                    available(&self.plugins.operations())
                )),
            },
        };
        (plan, Some(r))
    }

    /// Sends (or re-sends) the IN_PROGRESS claim.
    pub(super) fn claim(&mut self, current: Current, expected_version: u64) {
        let mut update = UpdateRequest::new(JobExecutionStatus::InProgress);
        update.expected_version = Some(expected_version);
        update.execution_number = Some(current.execution_number);
        update.status_details = Some(raw(&current.details));
        let request = self.outbox.update(&current.job_id, update);
        tracing::info!(target: "agent", job_id = %current.job_id, execution = current.execution_number, "claiming (IN_PROGRESS)");
        self.state = State::Starting { current, request };
    }

    /// The claim was accepted: run the plugin, or report the refusal.
    pub(super) fn begin(&mut self, current: Current) {
        let installed = match &current.plan {
            Plan::Reject(reason) => {
                tracing::warn!(target: "agent", job_id = %current.job_id, "rejecting: {reason}");
                let details = current.refusal_details.clone();
                let report = Report::failure(TerminalStatus::Rejected, reason, details);
                return self.report(current.job_id.clone(), current.execution_number, report);
            }
            Plan::Fail(reason) => {
                tracing::warn!(target: "agent", job_id = %current.job_id, "failing: {reason}");
                let details = current.refusal_details.clone();
                let report = Report::failure(TerminalStatus::Failed, reason, details);
                return self.report(current.job_id.clone(), current.execution_number, report);
            }
            Plan::Builtin(builtin) => {
                let builtin = builtin.clone();
                return self.run_builtin(current, builtin);
            }
            Plan::Run(installed) => installed.clone(),
        };
        let cancel = CancelToken::new();
        let execution = Execution {
            job_id: current.job_id.clone(),
            execution_number: current.execution_number,
            operation: current.operation.clone(),
            document: current.document.clone(),
            checkpoint: current.checkpoint.clone(),
            diagnostics: Some(self.diagnostics.clone()),
        };
        let mut sandbox = installed.sandbox.clone();
        sandbox.certificate_target = rotate::certificate_target(&self.config);
        let plugin = installed.plugin.clone();
        let limits = installed.limits.clone();
        let observer = Box::new(AgentObserver {
            journal: self.journal.clone(),
            events: self.events.clone(),
            job_id: current.job_id.clone(),
            execution_number: current.execution_number,
        });
        let (runtime, events, token) = (self.runtime.clone(), self.events.clone(), cancel.clone());
        tracing::info!(target: "agent", job_id = %current.job_id, plugin = plugin.name(), "running");
        self.runs += 1;
        self.arm_watchdog(&current, Overrun::Deadline(limits.timeout));
        // A run is a future, but wasm between two epoch ticks does not
        // yield: it gets a thread of its own, off the async workers.
        let handle = tokio::runtime::Handle::current();
        // Whatever the run logs (the executor, the imports, the plugin's own
        // lines) carries the job it is for.
        let span = tracing::info_span!(
            "job",
            job_id = %current.job_id,
            execution_number = current.execution_number,
            plugin = plugin.name(),
        );
        tokio::task::spawn_blocking(move || {
            let run = executor::execute(
                &runtime, &plugin, &execution, &sandbox, &limits, observer, token,
            );
            let conclusion = handle.block_on(run.instrument(span));
            let _ = events.send(Event::Finished {
                job_id: execution.job_id,
                execution_number: execution.execution_number,
                conclusion,
            });
        });
        self.state = State::Running { current, cancel };
    }

    /// The outer watchdog: an alarm for the run in progress, `limit` plus
    /// [`WATCHDOG_GRACE`] from now (see [`Self::on_overran`]).
    fn arm_watchdog(&mut self, current: &Current, limit: Overrun) {
        let events = self.events.clone();
        let after = match limit {
            Overrun::Deadline(deadline) => deadline + WATCHDOG_GRACE,
            Overrun::Cancel => WATCHDOG_GRACE,
        };
        let alarm = Event::Overran {
            job_id: current.job_id.clone(),
            execution_number: current.execution_number,
            run: self.runs,
            limit,
        };
        let alarm = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = events.send(alarm);
        });
        // One alarm at a time: a cancel's replaces the deadline's (it is
        // due sooner), and the run's `Finished` drops it. A stale alarm
        // would be ignored (`on_overran` checks the run), but each one left
        // sleeping holds a task until `timeout` + grace: at one job every
        // 50 ms and the default 600 s, ~12,000 of them, megabytes
        // (BENCHMARKS.md "Footprint").
        if let Some(previous) = self.watchdog.replace(alarm.abort_handle()) {
            previous.abort();
        }
    }

    /// The watchdog's alarm: if that run is still the one going, it is stuck
    /// where neither its deadline nor a cancel can reach. It is told to stop
    /// (should it ever come back to wasm) and left behind on its thread;
    /// whatever it returns later is ignored. Past its deadline it is
    /// reported FAILED; if its job was cancelled, nothing is reported. The
    /// agent then takes the next job.
    fn on_overran(&mut self, job_id: &str, execution_number: u64, run: u64, limit: Overrun) {
        let State::Running { current, cancel } = &self.state else {
            return;
        };
        if run != self.runs || !current.is(job_id, execution_number) {
            return;
        }
        let cancelled = cancel.is_cancelled();
        cancel.cancel();
        match limit {
            Overrun::Deadline(deadline) if !cancelled => {
                let reason = executor::abandoned_reason(deadline);
                tracing::error!(target: "agent", job_id = %job_id, "{reason}");
                let report = Report::failure(TerminalStatus::Failed, &reason, StatusDetails::new());
                self.report(job_id.to_owned(), execution_number, report);
            }
            _ => {
                tracing::error!(target: "agent", job_id = %job_id, "cancelled, but the plugin did not stop within {} s (blocked in a host call): abandoned; reporting nothing", WATCHDOG_GRACE.as_secs());
                let current = current.clone();
                self.drop_cancelled(&current);
            }
        }
    }

    /// A cancelled run is over: report nothing, forget it, ask for more.
    fn drop_cancelled(&mut self, current: &Current) {
        self.forget_running(current);
        self.remember(&current.job_id, current.execution_number);
        self.state = State::Idle;
        self.outbox.request_next();
    }

    /// Runs a built-in operation (install-plugin, remove-plugin) off the
    /// async workers: it downloads and compiles.
    fn run_builtin(&mut self, current: Current, builtin: Builtin) {
        let cancel = CancelToken::new();
        let (plugins, runtime, events, token) = (
            self.plugins.clone(),
            self.runtime.clone(),
            self.events.clone(),
            cancel.clone(),
        );
        let (job_id, execution_number) = (current.job_id.clone(), current.execution_number);
        let timeout = self.config.limits.timeout;
        tracing::info!(target: "agent", job_id = %job_id, operation = builtin.operation(), "running built-in operation");
        // A new run: no watchdog alarm of an earlier one applies to it.
        self.runs += 1;
        tokio::task::spawn_blocking(move || {
            let conclusion = builtin.run(&plugins, &runtime, &token, timeout);
            let _ = events.send(Event::Finished {
                job_id,
                execution_number,
                conclusion,
            });
        });
        self.state = State::Running { current, cancel };
    }

    pub(super) fn on_event(&mut self, event: Event) {
        if let Event::RebootCommand {
            job_id,
            execution_number,
            result,
        } = event
        {
            return self.on_reboot_command(&job_id, execution_number, result);
        }
        if let Event::RefreshDocument {
            job_id,
            execution_number,
            reply,
        } = event
        {
            return self.refresh_document(&job_id, execution_number, reply);
        }
        if let Event::Overran {
            job_id,
            execution_number,
            run,
            limit,
        } = event
        {
            return self.on_overran(&job_id, execution_number, run, limit);
        }
        let State::Running { current, cancel } = &mut self.state else {
            return;
        };
        match event {
            Event::Progress {
                job_id,
                execution_number,
                details,
            } if current.is(&job_id, execution_number) => {
                if cancel.is_cancelled() {
                    return;
                }
                let checkpoint = current.details.get(CHECKPOINT_KEY).map(str::to_owned);
                current.details = details;
                if let Some(c) = checkpoint {
                    current.details.insert(CHECKPOINT_KEY, &c);
                }
                self.progress_due = true;
                self.maybe_publish_progress();
            }
            Event::Checkpoint {
                job_id,
                execution_number,
                state,
            } if current.is(&job_id, execution_number) => {
                if cancel.is_cancelled() {
                    return;
                }
                current.details.insert(CHECKPOINT_KEY, &state);
                current.checkpoint = Some(state);
                // Rate-limited like progress (a plugin may checkpoint in a
                // loop): the newest goes out at once if the last update is
                // older than `progress_interval`, else at the next slot.
                self.progress_due = true;
                self.maybe_publish_progress();
            }
            Event::Finished {
                job_id,
                execution_number,
                conclusion,
            } if current.is(&job_id, execution_number) => {
                // The run ended: drop its alarm (a field of its own, as
                // `self.state` is borrowed here).
                if let Some(alarm) = self.watchdog.take() {
                    alarm.abort();
                }
                self.on_finished(job_id, execution_number, conclusion);
            }
            _ => {}
        }
    }

    /// The current run's conclusion.
    fn on_finished(&mut self, job_id: String, execution_number: u64, conclusion: Conclusion) {
        let State::Running { current, .. } = &mut self.state else {
            return;
        };
        match conclusion {
            Conclusion::Cancelled => {
                tracing::info!(target: "agent", job_id = %job_id, "cancelled; reporting nothing");
                let current = current.clone();
                self.drop_cancelled(&current);
            }
            Conclusion::Report(report) => {
                // The built-in shutdown ends after the job: once its
                // SUCCEEDED is accepted (`agent::shutdown`).
                let shutdown = matches!(current.plan, Plan::Builtin(Builtin::Shutdown { .. }))
                    && report.status == TerminalStatus::Succeeded;
                self.report_then(job_id, execution_number, report, shutdown)
            }
            Conclusion::Reboot {
                reason,
                status_details,
            } => {
                let mut outcome = status_details;
                if let Some(c) = &current.checkpoint {
                    outcome.insert(CHECKPOINT_KEY, c);
                }
                let action = reboot::requested(&self.config.device, &reason, outcome);
                let current = current.clone();
                self.apply_reboot_to(current, action, false);
            }
            Conclusion::RotateCertificate { status_details } => {
                let current = current.clone();
                self.rotate_certificate(current, status_details);
            }
        }
    }

    /// Journal the terminal status, then publish it.
    pub(super) fn report(&mut self, job_id: String, execution_number: u64, report: Report) {
        self.report_then(job_id, execution_number, report, false);
    }

    /// [`Self::report`], and shut the device down once it is accepted.
    pub(super) fn report_then(
        &mut self,
        job_id: String,
        execution_number: u64,
        report: Report,
        then_shutdown: bool,
    ) {
        tracing::info!(target: "agent", job_id = %job_id, status = %report.status, reason = report.reason().unwrap_or(""), "reporting");
        let pending = PendingReport {
            job_id: job_id.clone(),
            execution_number,
            status: report.status,
            status_details: report.status_details,
            then_shutdown,
        };
        if let Err(e) = self.journal_update(|s| {
            s.running = None;
            s.pending_report = Some(pending.clone());
        }) {
            tracing::error!(target: "agent", "journal write failed: {e}; the status is sent but would not survive a crash");
        }
        self.send_report(pending);
    }

    pub(super) fn send_report(&mut self, pending: PendingReport) {
        let mut update = UpdateRequest::new(pending.status.into());
        update.execution_number = Some(pending.execution_number);
        update.status_details = Some(raw(&pending.status_details));
        let request = self.outbox.update(&pending.job_id, update);
        self.state = State::Reporting {
            job_id: pending.job_id,
            execution_number: pending.execution_number,
            request,
            then_shutdown: pending.then_shutdown,
        };
    }

    /// A terminal status from before a restart is sent before anything new.
    /// Returns whether there was one (and it is now being reported).
    pub(super) fn resume_pending_report(&mut self) -> bool {
        let Some(pending) = self.journal_state().pending_report else {
            return false;
        };
        tracing::info!(target: "agent", job_id = %pending.job_id, status = %pending.status, "re-sending the status journaled before restart");
        self.send_report(pending);
        true
    }

    pub(super) fn finish_report(&mut self, job_id: String, execution_number: u64) {
        if let Err(e) = self.journal_update(|s| s.pending_report = None) {
            tracing::error!(target: "agent", "journal write failed: {e}");
        }
        self.remember(&job_id, execution_number);
        self.state = State::Idle;
        self.outbox.request_next();
    }

    pub(super) fn cancel_current(&mut self, job: &str, why: &str) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Running { current, cancel } if current.job_id == job => {
                if !cancel.is_cancelled() {
                    tracing::warn!(target: "agent", job_id = %job, "job cancelled ({why}); interrupting the plugin");
                    cancel.cancel();
                    // Built-ins stop at their own checkpoints (a compile
                    // in progress finishes); a plugin must stop now.
                    if matches!(current.plan, Plan::Run(_)) {
                        self.arm_watchdog(&current, Overrun::Cancel);
                    }
                }
                // Stay Running until the plugin has stopped (Finished).
                self.state = State::Running { current, cancel };
            }
            State::Starting { current, .. } if current.job_id == job => {
                tracing::warn!(target: "agent", job_id = %job, "job cancelled before it started ({why})");
                self.forget_running(&current);
                self.remember(&current.job_id, current.execution_number);
                self.outbox.request_next();
            }
            other => self.state = other,
        }
    }
}

/// The available operations, for an "unknown operation" reason.
fn available(operations: &[String]) -> String {
    if operations.is_empty() {
        "no trusted plugin is installed".into()
    } else {
        format!("available: {}", operations.join(", "))
    }
}
