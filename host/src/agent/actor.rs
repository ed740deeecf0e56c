//! The job lifecycle, one execution at a time (reference §10):
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
//! token) on reconnect and when no reply came within [`REPLY_TIMEOUT`];
//! only InternalError/RequestThrottled (and unknown codes) are retried.

use super::journal::{Journal, PendingReport, RunningEntry};
use super::observer::AgentObserver;
use super::{Event, Registry};
use crate::config::Config;
use crate::executor::{self, CancelToken, Conclusion, Execution, Report};
use crate::jobs::{Backoff, MqttEvent, MqttHandle};
use crate::runtime::{Plugin, Runtime, Sandbox};
use jobhost_protocol::requests::{DescribeRequest, UpdateRequest};
use jobhost_protocol::responses::{ExecutionAccepted, Notify, NotifyNext};
use jobhost_protocol::topics::{JobsTopic, Operation, Reply, NEXT};
use jobhost_protocol::{
    ErrorCode, ErrorResponse, JobExecution, JobExecutionStatus, StatusDetails, TerminalStatus,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How long to wait for an accepted/rejected reply before re-sending.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// statusDetails key under which the checkpoint travels to the cloud.
pub const CHECKPOINT_KEY: &str = "checkpoint";

/// Finished executions remembered for dedupe (duplicates arrive after every
/// reconnect; a handful is plenty since the service only re-offers the head).
const SEEN_CAPACITY: usize = 64;

/// The execution being handled.
#[derive(Debug, Clone)]
struct Current {
    job_id: String,
    execution_number: u64,
    /// Set once the IN_PROGRESS claim is accepted, so that a plugin that
    /// cannot run (unknown operation, no document) is still reported
    /// through IN_PROGRESS → REJECTED, never straight from QUEUED.
    plan: Plan,
    document: String,
    operation: String,
    checkpoint: Option<String>,
    /// The statusDetails the cloud holds for it (checkpoint + progress).
    details: StatusDetails,
}

#[derive(Debug, Clone)]
enum Plan {
    Run(Arc<Plugin>),
    Reject(String),
}

/// A request awaiting its reply, re-sent until answered.
#[derive(Debug)]
struct Pending {
    token: String,
    topic: String,
    payload: Vec<u8>,
    sent_at: Instant,
    wait: Duration,
    backoff: Backoff,
}

#[derive(Debug)]
enum State {
    Idle,
    Starting {
        current: Current,
        request: Pending,
    },
    Running {
        current: Current,
        cancel: CancelToken,
    },
    Reporting {
        job_id: String,
        execution_number: u64,
        request: Pending,
    },
}

pub(crate) struct Actor {
    config: Arc<Config>,
    runtime: Arc<Runtime>,
    registry: Arc<Registry>,
    journal: Arc<Mutex<Journal>>,
    mqtt: MqttHandle,
    events: mpsc::UnboundedSender<Event>,
    state: State,
    seen: VecDeque<(String, u64)>,
    tokens: u64,
    last_progress: Option<Instant>,
    progress_due: bool,
}

impl Actor {
    pub(crate) fn new(
        config: Arc<Config>,
        runtime: Arc<Runtime>,
        registry: Arc<Registry>,
        journal: Arc<Mutex<Journal>>,
        mqtt: MqttHandle,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        Self {
            config,
            runtime,
            registry,
            journal,
            mqtt,
            events,
            state: State::Idle,
            seen: VecDeque::new(),
            tokens: 0,
            last_progress: None,
            progress_due: false,
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
                        // journal resumes it on the next start.
                        tracing::info!(target: "agent", "shutting down");
                        return;
                    }
                }
                event = mqtt_events.recv() => match event {
                    Some(MqttEvent::Connected) => self.on_connected(),
                    Some(MqttEvent::Message { topic, payload }) => self.on_message(&topic, &payload),
                    Some(MqttEvent::Disconnected(_)) => {}
                    None => return,
                },
                Some(event) = events.recv() => self.on_event(event),
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    // ----- MQTT -----

    fn on_connected(&mut self) {
        // Replay what was in flight: rumqttc drops unacked QoS 1 publishes
        // when the broker has no session for us (eventloop.rs:160).
        if matches!(self.state, State::Idle) {
            self.resume_pending_report();
        }
        match &mut self.state {
            State::Starting { request, .. } | State::Reporting { request, .. } => {
                let (topic, payload) = (request.topic.clone(), request.payload.clone());
                request.sent_at = Instant::now();
                self.publish(topic, payload);
            }
            State::Running { .. } => self.publish_progress(),
            State::Idle => {}
        }
        // Resynchronise: a notify-next may have been missed while offline,
        // including the one that would tell us our job was cancelled.
        if matches!(self.state, State::Idle | State::Running { .. }) {
            self.request_next();
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
            JobsTopic::NotifyNext => {
                parse::<NotifyNext>(payload).map(|n| self.on_next(n.execution))
            }
            JobsTopic::Reply(Operation::Describe(job), Reply::Accepted) if job == NEXT => {
                parse::<ExecutionAccepted>(payload).map(|a| self.on_next(a.execution))
            }
            JobsTopic::Reply(Operation::Describe(job), Reply::Accepted) => {
                parse::<ExecutionAccepted>(payload).map(|a| self.on_described(&job, a.execution))
            }
            JobsTopic::Reply(Operation::Describe(job), Reply::Rejected) => {
                parse::<ErrorResponse>(payload).map(|e| self.on_describe_rejected(&job, &e))
            }
            JobsTopic::Notify => parse::<Notify>(payload).map(|n| self.on_notify(&n)),
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
                // was cancelled or removed (reference §6: there is no
                // "cancelled" message). Confirm before acting.
                let ours = execution
                    .as_ref()
                    .is_some_and(|e| e.job_id == current.job_id);
                if !ours {
                    let job = current.job_id.clone();
                    self.describe(&job);
                }
            }
            State::Reporting { .. } => {}
        }
    }

    fn on_notify(&mut self, notify: &Notify) {
        if let State::Running { current, .. } | State::Starting { current, .. } = &self.state {
            if !notify.lists(&current.job_id) {
                let job = current.job_id.clone();
                self.describe(&job);
            }
        }
    }

    fn on_described(&mut self, job: &str, execution: Option<JobExecution>) {
        let terminal = execution.as_ref().is_none_or(|e| e.status.is_terminal());
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
        let matches_request = |r: &Pending| token.as_deref() == Some(r.token.as_str());
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
            } if job_id == job && matches_request(&request) => {
                tracing::info!(target: "agent", job_id = %job_id, "status accepted");
                self.finish_report(job_id, execution_number);
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
            } if current.job_id == job && token == Some(request.token.as_str()) => {
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
                    request.wait = request.backoff.next_delay().max(REPLY_TIMEOUT);
                    self.state = State::Starting { current, request };
                    return;
                }
                tracing::warn!(target: "agent", job_id = %job, code = %error.code, "claim refused ({}); skipping", error.message);
                self.forget_running(&current);
                self.remember(&current.job_id, current.execution_number);
                self.request_next();
            }
            State::Reporting {
                job_id,
                execution_number,
                mut request,
            } if job_id == job && token == Some(request.token.as_str()) => {
                if error.code.is_transient() {
                    request.wait = request.backoff.next_delay().max(REPLY_TIMEOUT);
                    self.state = State::Reporting {
                        job_id,
                        execution_number,
                        request,
                    };
                    return;
                }
                tracing::error!(target: "agent", job_id = %job_id, code = %error.code, "status refused permanently: {}", error.message);
                self.finish_report(job_id, execution_number);
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

    // ----- lifecycle -----

    /// Plans the execution and claims it with IN_PROGRESS.
    fn start(&mut self, e: JobExecution) {
        let document = e
            .job_document
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        let operation = e
            .job_document
            .as_ref()
            .and_then(|d| d.get("operation"))
            .and_then(|o| o.as_str())
            .map(str::to_owned);
        let plan = match (&e.job_document, &operation) {
            (None, _) => Plan::Reject("the job has no document".into()),
            (Some(_), None) => {
                Plan::Reject("the job document has no string `operation` field".into())
            }
            (Some(_), Some(op)) => match self.registry.get(op) {
                Some(plugin) => Plan::Run(plugin),
                None => Plan::Reject(format!(
                    "unknown operation `{op}`: no plugin on this device handles it (available: {})",
                    self.registry.operations().join(", ")
                )),
            },
        };
        let details = e.status_details.clone().unwrap_or_default();
        // Resume from the journal, or from the cloud when the disk was wiped.
        let journaled = self
            .journal_state()
            .running
            .filter(|r| r.job_id == e.job_id && r.execution_number == e.execution_number);
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
        let current = Current {
            job_id: e.job_id.clone(),
            execution_number: e.execution_number,
            plan,
            document,
            operation: operation.unwrap_or_default(),
            checkpoint,
            details,
        };
        let entry = RunningEntry {
            job_id: current.job_id.clone(),
            execution_number: current.execution_number,
            checkpoint: current.checkpoint.clone(),
        };
        if let Err(err) = self.journal_update(|s| s.running = Some(entry)) {
            // Without a journal a crash would lose the checkpoint; the
            // cloud copy still exists, so carry on but say so.
            tracing::error!(target: "agent", "journal write failed: {err}");
        }
        self.claim(current, e.version_number);
    }

    /// Sends (or re-sends) the IN_PROGRESS claim.
    fn claim(&mut self, current: Current, expected_version: u64) {
        let mut update = UpdateRequest::new(JobExecutionStatus::InProgress);
        update.expected_version = Some(expected_version);
        update.execution_number = Some(current.execution_number);
        update.status_details = Some(raw(&current.details));
        let request = self.request(&current.job_id, update);
        tracing::info!(target: "agent", job_id = %current.job_id, execution = current.execution_number, "claiming (IN_PROGRESS)");
        self.state = State::Starting { current, request };
    }

    /// The claim was accepted: run the plugin, or report the refusal.
    fn begin(&mut self, current: Current) {
        let plugin = match &current.plan {
            Plan::Reject(reason) => {
                tracing::warn!(target: "agent", job_id = %current.job_id, "rejecting: {reason}");
                let report =
                    Report::failure(TerminalStatus::Rejected, reason, StatusDetails::new());
                return self.report(current.job_id.clone(), current.execution_number, report);
            }
            Plan::Run(plugin) => plugin.clone(),
        };
        let cancel = CancelToken::new();
        let execution = Execution {
            job_id: current.job_id.clone(),
            execution_number: current.execution_number,
            operation: current.operation.clone(),
            document: current.document.clone(),
            checkpoint: current.checkpoint.clone(),
        };
        let grants = self
            .config
            .grants
            .get(plugin.name())
            .cloned()
            .unwrap_or_default();
        let sandbox = Sandbox {
            dirs: grants.dirs,
            download: grants.download,
        };
        let limits = self.config.limits.clone();
        let observer = Box::new(AgentObserver {
            journal: self.journal.clone(),
            events: self.events.clone(),
            job_id: current.job_id.clone(),
            execution_number: current.execution_number,
        });
        let (runtime, events, token) = (self.runtime.clone(), self.events.clone(), cancel.clone());
        tracing::info!(target: "agent", job_id = %current.job_id, plugin = plugin.name(), "running");
        // wasmtime calls are synchronous: keep them off the async workers.
        tokio::task::spawn_blocking(move || {
            let conclusion = executor::execute(
                &runtime, &plugin, &execution, &sandbox, &limits, observer, token,
            );
            let _ = events.send(Event::Finished {
                job_id: execution.job_id,
                execution_number: execution.execution_number,
                conclusion,
            });
        });
        self.state = State::Running { current, cancel };
    }

    fn on_event(&mut self, event: Event) {
        let State::Running { current, cancel } = &mut self.state else {
            return;
        };
        match event {
            Event::Progress {
                job_id,
                execution_number,
                details,
            } if is(current, &job_id, execution_number) => {
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
            } if is(current, &job_id, execution_number) => {
                if cancel.is_cancelled() {
                    return;
                }
                current.details.insert(CHECKPOINT_KEY, &state);
                current.checkpoint = Some(state);
                // A checkpoint is what a wiped device resumes from: send it
                // now, not at the next progress slot.
                self.publish_progress();
            }
            Event::Finished {
                job_id,
                execution_number,
                conclusion,
            } if is(current, &job_id, execution_number) => match conclusion {
                Conclusion::Cancelled => {
                    tracing::info!(target: "agent", job_id = %job_id, "cancelled; reporting nothing");
                    let current = current.clone();
                    self.forget_running(&current);
                    self.remember(&job_id, execution_number);
                    self.state = State::Idle;
                    self.request_next();
                }
                Conclusion::Report(report) => self.report(job_id, execution_number, report),
            },
            _ => {}
        }
    }

    /// Journal the terminal status, then publish it.
    fn report(&mut self, job_id: String, execution_number: u64, report: Report) {
        tracing::info!(target: "agent", job_id = %job_id, status = %report.status, reason = report.reason().unwrap_or(""), "reporting");
        let pending = PendingReport {
            job_id: job_id.clone(),
            execution_number,
            status: report.status,
            status_details: report.status_details,
        };
        if let Err(e) = self.journal_update(|s| {
            s.running = None;
            s.pending_report = Some(pending.clone());
        }) {
            tracing::error!(target: "agent", "journal write failed: {e}; the status is sent but would not survive a crash");
        }
        self.send_report(pending);
    }

    fn send_report(&mut self, pending: PendingReport) {
        let mut update = UpdateRequest::new(pending.status.into());
        update.execution_number = Some(pending.execution_number);
        update.status_details = Some(raw(&pending.status_details));
        let request = self.request(&pending.job_id, update);
        self.state = State::Reporting {
            job_id: pending.job_id,
            execution_number: pending.execution_number,
            request,
        };
    }

    /// A terminal status from before a restart is sent before anything new.
    fn resume_pending_report(&mut self) {
        if let Some(pending) = self.journal_state().pending_report {
            tracing::info!(target: "agent", job_id = %pending.job_id, status = %pending.status, "re-sending the status journaled before restart");
            self.send_report(pending);
        }
    }

    fn finish_report(&mut self, job_id: String, execution_number: u64) {
        if let Err(e) = self.journal_update(|s| s.pending_report = None) {
            tracing::error!(target: "agent", "journal write failed: {e}");
        }
        self.remember(&job_id, execution_number);
        self.state = State::Idle;
        self.request_next();
    }

    fn cancel_current(&mut self, job: &str, why: &str) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Running { current, cancel } if current.job_id == job => {
                if !cancel.is_cancelled() {
                    tracing::warn!(target: "agent", job_id = %job, "job cancelled ({why}); interrupting the plugin");
                    cancel.cancel();
                }
                // Stay Running until the plugin has stopped (Finished).
                self.state = State::Running { current, cancel };
            }
            State::Starting { current, .. } if current.job_id == job => {
                tracing::warn!(target: "agent", job_id = %job, "job cancelled before it started ({why})");
                self.forget_running(&current);
                self.remember(&current.job_id, current.execution_number);
                self.request_next();
            }
            other => self.state = other,
        }
    }

    // ----- timers -----

    fn on_tick(&mut self) {
        let resend = match &mut self.state {
            State::Starting { request, .. } | State::Reporting { request, .. }
                if request.sent_at.elapsed() >= request.wait =>
            {
                request.sent_at = Instant::now();
                request.wait = request.backoff.next_delay().max(REPLY_TIMEOUT);
                Some((request.topic.clone(), request.payload.clone()))
            }
            _ => None,
        };
        if let Some((topic, payload)) = resend {
            tracing::info!(target: "agent", "no reply yet on {topic}; re-sending");
            self.publish(topic, payload);
        }
        self.maybe_publish_progress();
    }

    fn maybe_publish_progress(&mut self) {
        let due = self.progress_due
            && self
                .last_progress
                .is_none_or(|t| t.elapsed() >= self.config.progress_interval);
        if due {
            self.publish_progress();
        }
    }

    /// IN_PROGRESS with the complete statusDetails (the service replaces
    /// the map, reference §3.4). No expectedVersion: progress must not race
    /// the claim or a resend into VersionMismatch.
    fn publish_progress(&mut self) {
        let State::Running { current, cancel } = &self.state else {
            return;
        };
        if cancel.is_cancelled() {
            return;
        }
        let mut update = UpdateRequest::new(JobExecutionStatus::InProgress);
        update.execution_number = Some(current.execution_number);
        update.status_details = Some(raw(&current.details));
        let job = current.job_id.clone();
        let _ = self.request(&job, update);
        self.last_progress = Some(Instant::now());
        self.progress_due = false;
    }

    // ----- plumbing -----

    fn request_next(&mut self) {
        let req = DescribeRequest {
            include_job_document: Some(true),
            client_token: Some(self.token()),
            ..DescribeRequest::default()
        };
        let topic =
            JobsTopic::Request(Operation::Describe(NEXT.into())).for_thing(&self.config.thing_name);
        self.publish_json(topic, &req);
    }

    fn describe(&mut self, job: &str) {
        let req = DescribeRequest {
            include_job_document: Some(false),
            client_token: Some(self.token()),
            ..DescribeRequest::default()
        };
        let topic = JobsTopic::Request(Operation::Describe(job.to_owned()))
            .for_thing(&self.config.thing_name);
        self.publish_json(topic, &req);
    }

    /// Publishes an update for `job` with a fresh token; returns it as a
    /// [`Pending`] for callers that wait for the reply.
    fn request(&mut self, job: &str, mut update: UpdateRequest) -> Pending {
        let token = self.token();
        update.client_token = Some(token.clone());
        let topic = JobsTopic::Request(Operation::Update(job.to_owned()))
            .for_thing(&self.config.thing_name);
        let payload = serde_json::to_vec(&update).unwrap_or_default();
        self.publish(topic.clone(), payload.clone());
        Pending {
            token,
            topic,
            payload,
            sent_at: Instant::now(),
            wait: REPLY_TIMEOUT,
            backoff: Backoff::new(REPLY_TIMEOUT, Duration::from_secs(300)),
        }
    }

    fn publish_json<T: serde::Serialize>(&self, topic: String, body: &T) {
        match serde_json::to_vec(body) {
            Ok(payload) => self.publish(topic, payload),
            Err(e) => tracing::error!(target: "agent", "cannot encode request for {topic}: {e}"),
        }
    }

    fn publish(&self, topic: String, payload: Vec<u8>) {
        if let Err(e) = self.mqtt.publish(topic.clone(), payload) {
            // The request is kept by the caller and re-sent on reconnect.
            tracing::warn!(target: "agent", "cannot queue publish to {topic}: {e}");
        }
    }

    fn token(&mut self) -> String {
        self.tokens += 1;
        format!("jh-{}-{:08x}", self.tokens, fastrand::u32(..))
    }

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

    fn journal_state(&self) -> super::journal::JournalState {
        self.journal
            .lock()
            .map(|j| j.state().clone())
            .unwrap_or_default()
    }

    fn journal_update(
        &self,
        change: impl FnOnce(&mut super::journal::JournalState),
    ) -> std::io::Result<()> {
        let mut journal = self
            .journal
            .lock()
            .map_err(|_| std::io::Error::other("journal lock poisoned"))?;
        journal.update(change)
    }
}

fn is(current: &Current, job_id: &str, execution_number: u64) -> bool {
    current.job_id == job_id && current.execution_number == execution_number
}

fn raw(details: &StatusDetails) -> jobhost_protocol::requests::RawStatusDetails {
    details
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
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
