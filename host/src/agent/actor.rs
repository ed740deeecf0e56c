//! The job lifecycle, one execution at a time (the device workflow of
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-workflow-jobs-online.html>,
//! with a claim before any side effect):
//!
//! ```text
//! Idle ──notify-next / $next──▶ Starting (UPDATE IN_PROGRESS, expectedVersion)
//! Starting ──accepted──▶ Running (plugin on a blocking thread)
//! Running ──plugin done──▶ Reporting (journal first, then UPDATE terminal)
//! Reporting ──accepted / permanent reject──▶ Idle ──▶ $next/get
//! Running ──job gone from notify(-next), terminal on describe/reject──▶ cancel plugin, send nothing
//! ```
//!
//! Every request that matters carries a clientToken and is re-sent (same
//! token) on reconnect and when no reply came within
//! [`super::outbox::REPLY_TIMEOUT`]; only InternalError/RequestThrottled
//! (and unknown codes) are retried.
//!
//! A plugin's reboot and certificate rotation are state machines of their
//! own (`super::reboot`, `super::rotate`): told what happened, they return
//! actions, which the actor applies (`apply`). This file reacts to the
//! MQTT side; `lifecycle` claims, runs and reports; `progress` publishes
//! a running execution's progress and fetches its document again.

mod apply;
mod lifecycle;
mod progress;

use super::journal::{Journal, JournalState};
use super::outbox::{Outbox, Pending};
use super::state::{Current, Event, Refreshing, State, SEEN_CAPACITY};
use super::{reboot, shutdown};
use crate::config::Config;
use crate::mqtt::{MqttEvent, MqttHandle};
use crate::plugins::Plugins;
use crate::runtime::Runtime;
use jobhost_protocol::responses::{ExecutionAccepted, Notify, NotifyNext};
use jobhost_protocol::topics::{is_valid_job_id, JobsTopic, Operation, Reply, NEXT};
use jobhost_protocol::{ErrorCode, ErrorResponse, JobExecution};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The agent: one loop over MQTT events, the running plugin's events and a
/// tick; the only owner of [`State`].
pub(crate) struct Actor {
    config: Arc<Config>,
    runtime: Arc<Runtime>,
    plugins: Arc<Plugins>,
    journal: Arc<Mutex<Journal>>,
    outbox: Outbox,
    events: mpsc::UnboundedSender<Event>,
    state: State,
    seen: VecDeque<(String, u64)>,
    last_progress: Option<Instant>,
    progress_due: bool,
    /// What plugins granted `diagnostics` see; the broker link is kept
    /// up to date here.
    diagnostics: crate::diagnostics::AgentDiagnostics,
    /// Runs started so far: tells the watchdog's alarm for an abandoned
    /// run from one for the run in progress.
    runs: u64,
    /// The watchdog alarm of the run in progress, if armed.
    watchdog: Option<tokio::task::AbortHandle>,
    /// A running plugin waiting for its job document again.
    refreshing: Option<Refreshing>,
    /// Job ids refused as invalid, so each is logged once (see
    /// [`Actor::valid_job_id`]).
    invalid_ids: VecDeque<String>,
    /// When to give back what jobs mapped (`config.give_back_memory`).
    idle: super::idle::IdleRelease,
}

impl Actor {
    pub(crate) fn new(
        config: Arc<Config>,
        runtime: Arc<Runtime>,
        plugins: Arc<Plugins>,
        journal: Arc<Mutex<Journal>>,
        mqtt: MqttHandle,
        events: mpsc::UnboundedSender<Event>,
        diagnostics: crate::diagnostics::AgentDiagnostics,
    ) -> Self {
        Self {
            outbox: Outbox::new(mqtt, &config.thing_name),
            diagnostics,
            config,
            runtime,
            plugins,
            journal,
            events,
            state: State::Idle,
            seen: VecDeque::new(),
            last_progress: None,
            progress_due: false,
            refreshing: None,
            runs: 0,
            idle: super::idle::IdleRelease::new(std::time::Instant::now()),
            watchdog: None,
            invalid_ids: VecDeque::new(),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut mqtt_events: mpsc::Receiver<MqttEvent>,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        // A running plugin is left to the process exit; the
                        // journal resumes it on the next start, from its
                        // newest checkpoint.
                        tracing::info!(target: "agent", "shutting down");
                        if let Err(e) = self.journal.lock().map_err(|_| std::io::Error::other("journal lock poisoned")).and_then(|mut j| j.flush()) {
                            tracing::error!(target: "agent", "journal write failed: {e}; the newest checkpoint is lost");
                        }
                        return;
                    }
                }
                event = mqtt_events.recv() => match event {
                    Some(MqttEvent::Connected) => {
                        self.diagnostics.broker().connected();
                        self.on_connected()
                    }
                    Some(MqttEvent::Message { topic, payload }) => self.on_message(&topic, &payload),
                    Some(MqttEvent::Disconnected { why, busy }) => {
                        self.diagnostics.broker().disconnected();
                        self.on_disconnected(&why, busy);
                    }
                    None => return,
                },
                Some(event) = events.recv() => self.on_event(event),
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    // ----- MQTT -----

    fn on_connected(&mut self) {
        if let State::Rotating { .. } = &self.state {
            return self.on_rotation_connected();
        }
        // A status journaled before a restart goes first, and only once:
        // it was just published, so the resend below must not repeat it.
        if matches!(self.state, State::Idle) && self.resume_pending_report() {
            return;
        }
        // Replay what was in flight: rumqttc drops unacked QoS 1 publishes
        // when the broker has no session for us (eventloop.rs:160).
        if let Some(request) = self.state.request_mut() {
            self.outbox.resend(request);
        } else if let State::Running { .. } = &self.state {
            self.publish_progress();
        }
        // Resynchronise: a notify-next may have been missed while offline,
        // including the one that would tell us our job was cancelled.
        if matches!(self.state, State::Idle | State::Running { .. }) {
            self.outbox.request_next();
        }
    }

    fn on_disconnected(&mut self, why: &str, busy: bool) {
        if let State::Rotating { current, phase } = &self.state {
            if busy {
                tracing::info!(target: "agent", job_id = %current.job_id, "the broker is busy ({why}); trying the new certificate again");
            }
            if let Some(action) = phase.on_disconnected(&self.config, why, busy) {
                self.apply_rotation(action);
            }
        }
    }

    /// Every 250 ms: resends, rate-limited progress, the journal's
    /// coalesced checkpoint, and the reboot's and rotation's timeouts.
    fn on_tick(&mut self) {
        match &mut self.state {
            // An idle agent asks for the head of its queue until answered.
            State::Idle => self.outbox.resend_next_if_due(),
            state => {
                if let Some(request) = state.request_mut() {
                    self.outbox.resend_if_due(request);
                }
            }
        }
        self.maybe_publish_progress();
        self.flush_checkpoint_if_due();
        self.give_back_memory_if_idle();
        match &self.state {
            State::Rebooting { phase, .. } => {
                if let Some(action) = phase.on_tick(&self.config.device) {
                    self.apply_reboot(action);
                }
            }
            State::Rotating { phase, .. } => {
                if let Some(action) = phase.on_tick(&self.config) {
                    self.apply_rotation(action);
                }
            }
            _ => {}
        }
    }

    /// Once idle for a while after jobs: releases the plugins they mapped,
    /// freed heap and the executable's pages (`agent::idle`).
    fn give_back_memory_if_idle(&mut self) {
        let idle = matches!(self.state, State::Idle);
        if !self.config.give_back_memory
            || !self.idle.due(idle, self.runs, std::time::Instant::now())
        {
            return;
        }
        let plugins = self.plugins.release_all();
        crate::heap::release_freed_memory();
        let pages = crate::image::release_startup_pages();
        tracing::debug!(target: "agent", "idle: {plugins} plugins released, {} KiB of the executable unmapped", pages / 1024);
    }

    /// Writes a coalesced checkpoint once its journal slot has come, so
    /// that the newest is durable within one interval even when the plugin
    /// saves no other.
    fn flush_checkpoint_if_due(&self) {
        let flushed = self
            .journal
            .lock()
            .map_err(|_| std::io::Error::other("journal lock poisoned"))
            .and_then(|mut j| j.flush_due());
        if let Err(e) = flushed {
            tracing::error!(target: "agent", "journal write failed: {e}; the newest checkpoint is not durable yet");
        }
    }

    fn on_message(&mut self, topic: &str, payload: &[u8]) {
        let (thing, parsed) = match JobsTopic::parse(topic) {
            Ok(t) => t,
            Err(e) => return tracing::warn!(target: "agent", "ignoring message: {e}"),
        };
        if thing != self.config.thing_name {
            return tracing::warn!(target: "agent", "ignoring message for another thing on {topic}");
        }
        let result = match parsed {
            JobsTopic::NotifyNext => parse::<NotifyNext>(payload).map(|n| {
                if self.valid_execution(n.execution.as_ref()) {
                    self.on_next(n.execution)
                }
            }),
            JobsTopic::Reply(Operation::Describe(job), Reply::Accepted) if job == NEXT => {
                parse::<ExecutionAccepted>(payload).map(|a| {
                    self.outbox.next_answered(a.client_token.as_deref());
                    if self.valid_execution(a.execution.as_ref()) {
                        self.on_next(a.execution)
                    }
                })
            }
            JobsTopic::Reply(Operation::Describe(job), Reply::Accepted) => {
                parse::<ExecutionAccepted>(payload).map(|a| {
                    if !self.valid_execution(a.execution.as_ref()) {
                        return;
                    }
                    // The plugin got the document as routed (a Device
                    // Client document translated); so must its refresh.
                    let config = self.config.clone();
                    self.answer_refresh(&job, a.client_token.as_deref(), || match &a.execution {
                        Some(e) => e
                            .job_document
                            .as_ref()
                            .ok_or_else(|| {
                                "the service sent the execution without its document".into()
                            })
                            .and_then(|d| crate::document::route(d, &config.device_client_handlers))
                            .map(|routed| routed.document.to_string()),
                        None => Err("the service no longer has the execution".into()),
                    });
                    self.on_described(&job, a.execution)
                })
            }
            JobsTopic::Reply(Operation::Describe(job), Reply::Rejected) => {
                parse::<ErrorResponse>(payload).map(|e| {
                    if job == NEXT && !e.code.is_transient() {
                        // Asking again would be refused again.
                        self.outbox.next_answered(e.client_token.as_deref());
                    }
                    self.answer_refresh(&job, e.client_token.as_deref(), || {
                        Err(format!("describe rejected: {} {}", e.code, e.message))
                    });
                    self.on_describe_rejected(&job, &e)
                })
            }
            JobsTopic::Notify => parse::<Notify>(payload).map(|n| {
                // Every invalid id is logged, not only the first.
                let ids = n.jobs.values().flatten().map(|s| s.job_id.as_str());
                let invalid = ids.filter(|id| !self.valid_job_id(id)).count();
                if invalid == 0 {
                    self.on_notify(&n)
                }
            }),
            JobsTopic::Reply(Operation::Update(job), Reply::Accepted) => {
                parse::<serde_json::Value>(payload)
                    .map(|v| self.on_update_accepted(&job, token_of(&v)))
            }
            JobsTopic::Reply(Operation::Update(job), Reply::Rejected) => {
                parse::<ErrorResponse>(payload).map(|e| self.on_update_rejected(&job, e))
            }
            // Requests (our own echoes on some brokers) and replies to
            // operations this agent does not use.
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(target: "agent", "ignoring malformed payload on {topic}: {e}");
        }
    }

    /// Whether `id`, a jobId from a broker payload, is one AWS could have
    /// issued (1-64 of `[a-zA-Z0-9_-]`). Job ids go into topics and logs:
    /// `+`/`#` would make every publish for it fail (a wedged agent), `/`
    /// would address other topics, control characters would forge log
    /// lines. Only a malicious or broken broker or service sends such an
    /// id; the message is ignored, and each id logged once, escaped.
    fn valid_job_id(&mut self, id: &str) -> bool {
        if is_valid_job_id(id) {
            return true;
        }
        /// Enough of an id to recognise it in the log.
        const SHOWN_CHARS: usize = 80;
        let shown: String = id.chars().take(SHOWN_CHARS).collect();
        if !self.invalid_ids.contains(&shown) {
            if self.invalid_ids.len() == SEEN_CAPACITY {
                self.invalid_ids.pop_front();
            }
            let cut = if shown.len() < id.len() { " (cut)" } else { "" };
            tracing::warn!(target: "agent", "ignoring a message naming the invalid jobId {shown:?}{cut}");
            self.invalid_ids.push_back(shown);
        }
        false
    }

    /// [`Self::valid_job_id`] for an execution a message may carry.
    fn valid_execution(&mut self, execution: Option<&JobExecution>) -> bool {
        execution.is_none_or(|e| self.valid_job_id(&e.job_id))
    }

    /// The head of the queue, from notify-next or `$next/get`.
    fn on_next(&mut self, execution: Option<JobExecution>) {
        match &self.state {
            State::Idle => {
                if let Some(e) = execution.filter(|e| !e.status.is_terminal()) {
                    if self.seen.contains(&(e.job_id.clone(), e.execution_number)) {
                        tracing::debug!(target: "agent", job_id = %e.job_id, "duplicate notification ignored");
                    } else {
                        self.start(e);
                    }
                }
            }
            State::Starting { current, .. } | State::Running { current, .. } => {
                // Our execution is IN_PROGRESS, so it is the head unless it
                // was cancelled, removed or timed out (AWS IoT sends a device
                // no "cancelled" message). A retry of the same job is a new
                // execution number: the head is ours only if both match.
                // Confirm before acting, asking for our execution by number.
                let ours = execution
                    .as_ref()
                    .is_some_and(|e| current.is(&e.job_id, e.execution_number));
                if !ours {
                    self.outbox
                        .describe(&current.job_id, Some(current.execution_number), false);
                }
            }
            State::Reporting { .. } | State::Rebooting { .. } | State::Rotating { .. } => {}
        }
    }

    fn on_notify(&mut self, notify: &Notify) {
        if let State::Running { current, .. } | State::Starting { current, .. } = &self.state {
            // Our execution, not only our job: a retry of it (a new
            // execution number, queued once ours ended) keeps the job
            // listed. A summary without a number (0) may be ours.
            let listed = notify.jobs.values().flatten().any(|s| {
                s.job_id == current.job_id
                    && (s.execution_number == 0 || s.execution_number == current.execution_number)
            });
            if !listed {
                self.outbox
                    .describe(&current.job_id, Some(current.execution_number), false);
            }
        }
    }

    fn on_described(&mut self, job: &str, execution: Option<JobExecution>) {
        // A reply about another execution number of our job (a service that
        // answers with the latest one) means ours is no longer live: the
        // service queues a retry only after the previous execution ended.
        let superseded = |e: &JobExecution| match &self.state {
            State::Starting { current, .. } | State::Running { current, .. } => {
                current.job_id == e.job_id && current.execution_number != e.execution_number
            }
            _ => false,
        };
        let terminal = execution
            .as_ref()
            .is_none_or(|e| e.status.is_terminal() || superseded(e));
        if terminal {
            self.cancel_current(job, "the service reports it terminal");
        }
    }

    fn on_describe_rejected(&mut self, job: &str, error: &ErrorResponse) {
        if matches!(
            error.code,
            ErrorCode::TerminalStateReached | ErrorCode::ResourceNotFound
        ) {
            self.cancel_current(job, &format!("describe rejected: {}", error.code));
        }
    }

    fn on_update_accepted(&mut self, job: &str, token: Option<String>) {
        let matches_request = |r: &Pending| r.answered_by(token.as_deref());
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Starting {
                current, request, ..
            } if current.job_id == job && matches_request(&request) => {
                self.begin(current);
            }
            State::Reporting {
                job_id,
                execution_number,
                request,
                then_shutdown,
            } if job_id == job && matches_request(&request) => {
                tracing::info!(target: "agent", job_id = %job_id, "status accepted");
                self.finish_report(job_id, execution_number);
                if then_shutdown {
                    shutdown::run(&self.config.device);
                }
            }
            State::Rebooting { current, phase }
                if current.job_id == job
                    && matches!(&phase, reboot::Phase::Announcing(r) if matches_request(r)) =>
            {
                let action = phase.on_announced(&self.config.device);
                self.state = State::Rebooting { current, phase };
                if let Some(action) = action {
                    self.apply_reboot(action);
                }
            }
            other => self.state = other,
        }
    }

    fn on_update_rejected(&mut self, job: &str, error: ErrorResponse) {
        let token = error.client_token.as_deref();
        let terminal_state = error
            .execution_state
            .as_ref()
            .is_some_and(|s| s.status.is_terminal());
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Starting {
                current,
                mut request,
                ..
            } if current.job_id == job && request.answered_by(token) => {
                if error.code == ErrorCode::VersionMismatch && !terminal_state {
                    if let Some(state) = &error.execution_state {
                        // Someone else moved it (our own earlier claim, a
                        // resend): claim again against the version it has.
                        let version = state.version_number;
                        self.claim(current, version);
                        return;
                    }
                }
                if error.code.is_transient() {
                    request.back_off();
                    self.state = State::Starting { current, request };
                    return;
                }
                tracing::warn!(target: "agent", job_id = %job, code = %error.code, "claim refused ({}); skipping", error.message);
                self.forget_running(&current);
                self.remember(&current.job_id, current.execution_number);
                self.outbox.request_next();
            }
            State::Reporting {
                job_id,
                execution_number,
                mut request,
                then_shutdown,
            } if job_id == job && request.answered_by(token) => {
                if error.code.is_transient() {
                    request.back_off();
                    self.state = State::Reporting {
                        job_id,
                        execution_number,
                        request,
                        then_shutdown,
                    };
                    return;
                }
                tracing::error!(target: "agent", job_id = %job_id, code = %error.code, "status refused permanently: {}", error.message);
                if then_shutdown {
                    tracing::warn!(target: "agent", job_id = %job_id, "not shutting down: the service refused the job's SUCCEEDED");
                }
                self.finish_report(job_id, execution_number);
            }
            State::Rebooting {
                current,
                phase: reboot::Phase::Announcing(mut request),
            } if current.job_id == job && request.answered_by(token) => {
                if error.code.is_transient() {
                    request.back_off();
                    self.state = State::Rebooting {
                        current,
                        phase: reboot::Phase::Announcing(request),
                    };
                    return;
                }
                // Cancelled or gone: no reboot for a job that is over.
                tracing::warn!(target: "agent", job_id = %job, code = %error.code, "reboot announcement refused ({}); not rebooting", error.message);
                self.forget_running(&current);
                self.remember(&current.job_id, current.execution_number);
                self.outbox.request_next();
            }
            State::Running { current, cancel } if current.job_id == job => {
                // A progress update refused because the execution is over.
                let gone = terminal_state
                    || matches!(
                        error.code,
                        ErrorCode::ResourceNotFound | ErrorCode::TerminalStateReached
                    );
                self.state = State::Running { current, cancel };
                if gone {
                    self.cancel_current(job, &format!("progress rejected: {}", error.code));
                }
            }
            other => self.state = other,
        }
    }
}

impl Actor {
    // ----- dedupe and journal -----

    fn remember(&mut self, job_id: &str, execution_number: u64) {
        if self.seen.len() == SEEN_CAPACITY {
            self.seen.pop_front();
        }
        self.seen.push_back((job_id.to_owned(), execution_number));
    }

    fn forget_running(&self, current: &Current) {
        let result = self.journal_update(|s| {
            if s.running.as_ref().is_some_and(|r| {
                r.job_id == current.job_id && r.execution_number == current.execution_number
            }) {
                s.running = None;
            }
        });
        if let Err(e) = result {
            tracing::error!(target: "agent", "journal write failed: {e}");
        }
    }

    fn journal_state(&self) -> JournalState {
        self.journal
            .lock()
            .map(|j| j.state().clone())
            .unwrap_or_default()
    }

    fn journal_update(&self, change: impl FnOnce(&mut JournalState)) -> std::io::Result<()> {
        let mut journal = self
            .journal
            .lock()
            .map_err(|_| std::io::Error::other("journal lock poisoned"))?;
        journal.update(change)
    }
}

fn parse<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(payload)
}

fn token_of(reply: &serde_json::Value) -> Option<String> {
    reply
        .get("clientToken")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
}
