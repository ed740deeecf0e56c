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

use super::journal::Journal;
use super::Event;
use crate::config::Config;
use crate::executor::CancelToken;
use crate::mqtt::{Backoff, MqttEvent, MqttHandle};
use crate::plugins::{Builtin, Installed, Plugins};
use crate::runtime::Runtime;
use jobhost_protocol::responses::{ExecutionAccepted, Notify, NotifyNext};
use jobhost_protocol::topics::{is_valid_job_id, JobsTopic, Operation, Reply, NEXT};
use jobhost_protocol::{ErrorCode, ErrorResponse, JobExecution, StatusDetails};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How long to wait for an accepted/rejected reply before re-sending.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// statusDetails key under which the checkpoint travels to the cloud.
pub const CHECKPOINT_KEY: &str = "checkpoint";

/// Finished executions remembered for dedupe (duplicates arrive after every
/// reconnect; a handful is plenty since the service only re-offers the head).
pub(super) const SEEN_CAPACITY: usize = 64;

/// The execution being handled.
#[derive(Debug, Clone)]
pub(super) struct Current {
    pub(super) job_id: String,
    pub(super) execution_number: u64,
    /// Set once the IN_PROGRESS claim is accepted, so that a plugin that
    /// cannot run (unknown operation, no document) is still reported
    /// through IN_PROGRESS → REJECTED, never straight from QUEUED.
    pub(super) plan: Plan,
    pub(super) document: String,
    pub(super) operation: String,
    pub(super) checkpoint: Option<String>,
    /// The statusDetails the cloud holds for it (checkpoint + progress).
    pub(super) details: StatusDetails,
}

#[derive(Debug, Clone)]
pub(super) enum Plan {
    Run(Arc<Installed>),
    Builtin(Builtin),
    Reject(String),
    /// Report FAILED with this reason once claimed (a reboot that did not
    /// happen).
    Fail(String),
}

/// A request awaiting its reply, re-sent until answered.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) token: String,
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    pub(super) sent_at: Instant,
    pub(super) wait: Duration,
    pub(super) backoff: Backoff,
}

impl Pending {
    /// A request just published: re-sent after [`REPLY_TIMEOUT`] without a
    /// reply, then with doubling (jittered) delays up to five minutes.
    pub(super) fn sent_now(token: String, topic: String, payload: Vec<u8>) -> Self {
        Pending {
            token,
            topic,
            payload,
            sent_at: Instant::now(),
            wait: REPLY_TIMEOUT,
            backoff: Backoff::new(REPLY_TIMEOUT, Duration::from_secs(300)),
        }
    }

    /// Waits longer before the next resend: after a resend, or a transient
    /// rejection.
    pub(super) fn back_off(&mut self) {
        self.wait = self.backoff.next_delay().max(REPLY_TIMEOUT);
    }

    /// The request to publish again if its wait is over (the next wait
    /// then starts, longer).
    pub(super) fn resend_due(&mut self) -> Option<(String, Vec<u8>)> {
        if self.sent_at.elapsed() < self.wait {
            return None;
        }
        self.sent_at = Instant::now();
        self.back_off();
        Some((self.topic.clone(), self.payload.clone()))
    }
}

#[derive(Debug)]
pub(super) enum State {
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
    /// The plugin asked for a reboot: announce it (IN_PROGRESS with the
    /// boot id), run the reboot command, wait to go down.
    Rebooting {
        current: Current,
        phase: super::reboot::Phase,
    },
    /// The plugin staged a new certificate and asked to install it: the
    /// files are swapped and the agent waits for the broker to accept it.
    Rotating {
        current: Current,
        phase: super::rotate::Phase,
    },
}

pub(crate) struct Actor {
    pub(super) config: Arc<Config>,
    pub(super) runtime: Arc<Runtime>,
    pub(super) plugins: Arc<Plugins>,
    pub(super) journal: Arc<Mutex<Journal>>,
    pub(super) mqtt: MqttHandle,
    pub(super) events: mpsc::UnboundedSender<Event>,
    pub(super) state: State,
    pub(super) seen: VecDeque<(String, u64)>,
    pub(super) tokens: u64,
    pub(super) last_progress: Option<Instant>,
    pub(super) progress_due: bool,
    /// What plugins granted `diagnostics` see; the broker link is kept
    /// up to date here.
    pub(super) diagnostics: crate::diagnostics::AgentDiagnostics,
    /// Runs started so far: tells the watchdog's alarm for an abandoned
    /// run from one for the run in progress.
    pub(super) runs: u64,
    /// A running plugin waiting for its job document again.
    pub(super) refreshing: Option<Refreshing>,
    /// The last `$next/get`, until a reply to it arrives: re-sent while the
    /// agent is idle (see [`Actor::on_tick`]). Without a reply an idle agent
    /// would wait for a notify-next, which only a change of the queue's
    /// head sends, while its queued jobs wait for it; and a request is lost
    /// without any reconnect when the service is not subscribed as it is
    /// sent (jobhost-fleet restarting on an external broker, or not yet
    /// subscribed again after the broker restarted: the broker drops a
    /// message nobody subscribes to). Found by `scripts/soak`.
    pub(super) next_request: Option<Pending>,
    /// Publishes the MQTT queue refused since it last took one (see
    /// [`Actor::publish`]).
    pub(super) refused_publishes: std::cell::Cell<u64>,
    /// Job ids refused as invalid, so each is logged once (see
    /// [`Actor::valid_job_id`]).
    pub(super) invalid_ids: VecDeque<String>,
}

/// A describe request sent for [`super::Event::RefreshDocument`].
#[derive(Debug)]
pub(super) struct Refreshing {
    pub(super) job_id: String,
    pub(super) token: String,
    pub(super) reply: std::sync::mpsc::Sender<Result<String, String>>,
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
            diagnostics,
            config,
            runtime,
            plugins,
            journal,
            mqtt,
            events,
            state: State::Idle,
            seen: VecDeque::new(),
            tokens: 0,
            last_progress: None,
            progress_due: false,
            refreshing: None,
            next_request: None,
            runs: 0,
            refused_publishes: std::cell::Cell::new(0),
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
                        if !self.on_rotation_connected() {
                            self.on_connected()
                        }
                    }
                    Some(MqttEvent::Message { topic, payload }) => self.on_message(&topic, &payload),
                    Some(MqttEvent::Disconnected { why, busy }) => {
                        self.diagnostics.broker().disconnected();
                        self.on_rotation_disconnected(&why, busy);
                    }
                    None => return,
                },
                Some(event) = events.recv() => self.on_event(event),
                _ = tick.tick() => {
                    self.on_tick();
                    self.check_rotation_timeout();
                }
            }
        }
    }

    // ----- MQTT -----

    fn on_connected(&mut self) {
        // A status journaled before a restart goes first, and only once:
        // it was just published, so the resend below must not repeat it.
        if matches!(self.state, State::Idle) && self.resume_pending_report() {
            return;
        }
        // Replay what was in flight: rumqttc drops unacked QoS 1 publishes
        // when the broker has no session for us (eventloop.rs:160).
        match &mut self.state {
            State::Starting { request, .. }
            | State::Reporting { request, .. }
            | State::Rebooting {
                phase: super::reboot::Phase::Announcing(request),
                ..
            } => {
                let (topic, payload) = (request.topic.clone(), request.payload.clone());
                request.sent_at = Instant::now();
                self.publish(topic, payload);
            }
            State::Running { .. } => self.publish_progress(),
            State::Idle | State::Rebooting { .. } | State::Rotating { .. } => {}
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
            JobsTopic::NotifyNext => parse::<NotifyNext>(payload).map(|n| {
                if self.valid_execution(n.execution.as_ref()) {
                    self.on_next(n.execution)
                }
            }),
            JobsTopic::Reply(Operation::Describe(job), Reply::Accepted) if job == NEXT => {
                parse::<ExecutionAccepted>(payload).map(|a| {
                    self.next_answered(a.client_token.as_deref());
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
                        self.next_answered(e.client_token.as_deref());
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
    pub(super) fn valid_job_id(&mut self, id: &str) -> bool {
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
            State::Reporting { .. } | State::Rebooting { .. } | State::Rotating { .. } => {}
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
            State::Rebooting {
                current,
                phase: super::reboot::Phase::Announcing(request),
            } if current.job_id == job && matches_request(&request) => {
                self.reboot_now(current);
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
                    request.back_off();
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
                    request.back_off();
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
            State::Rebooting {
                current,
                phase: super::reboot::Phase::Announcing(mut request),
            } if current.job_id == job && token == Some(request.token.as_str()) => {
                if error.code.is_transient() {
                    request.back_off();
                    self.state = State::Rebooting {
                        current,
                        phase: super::reboot::Phase::Announcing(request),
                    };
                    return;
                }
                // Cancelled or gone: no reboot for a job that is over.
                tracing::warn!(target: "agent", job_id = %job, code = %error.code, "reboot announcement refused ({}); not rebooting", error.message);
                self.forget_running(&current);
                self.remember(&current.job_id, current.execution_number);
                self.request_next();
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

pub(super) fn is(current: &Current, job_id: &str, execution_number: u64) -> bool {
    current.job_id == job_id && current.execution_number == execution_number
}

pub(super) fn raw(details: &StatusDetails) -> jobhost_protocol::requests::RawStatusDetails {
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
