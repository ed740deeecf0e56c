//! Requests to the service and their resends: every update that matters
//! carries a clientToken and is re-sent with the same token until a reply
//! arrives; progress is rate-limited.

use super::actor::{is, raw, Actor, Current, Pending, Refreshing, State, SEEN_CAPACITY};
use jobhost_protocol::requests::{DescribeRequest, UpdateRequest};
use jobhost_protocol::topics::{JobsTopic, Operation, NEXT};
use jobhost_protocol::JobExecutionStatus;
use tokio::time::Instant;

impl Actor {
    pub(super) fn on_tick(&mut self) {
        let resend = match &mut self.state {
            State::Starting { request, .. }
            | State::Reporting { request, .. }
            | State::Rebooting {
                phase: super::reboot::Phase::Announcing(request),
                ..
            } => request.resend_due(),
            // An idle agent asks for the head of its queue until answered.
            State::Idle => self.next_request.as_mut().and_then(Pending::resend_due),
            _ => None,
        };
        if let Some((topic, payload)) = resend {
            tracing::info!(target: "agent", "no reply yet on {topic}; re-sending");
            self.publish(topic, payload);
        }
        self.maybe_publish_progress();
        self.flush_checkpoint_if_due();
        self.check_reboot_timeout();
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

    pub(super) fn maybe_publish_progress(&mut self) {
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
    pub(super) fn publish_progress(&mut self) {
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

    /// `$next/get`: the head of the queue. Kept until answered, and
    /// re-sent (same clientToken) by [`Self::on_tick`] while idle.
    pub(super) fn request_next(&mut self) {
        let token = self.token();
        let req = DescribeRequest {
            include_job_document: Some(true),
            client_token: Some(token.clone()),
            ..DescribeRequest::default()
        };
        let topic =
            JobsTopic::Request(Operation::Describe(NEXT.into())).for_thing(&self.config.thing_name);
        let payload = serde_json::to_vec(&req).unwrap_or_default();
        self.publish(topic.clone(), payload.clone());
        self.next_request = Some(Pending::sent_now(token, topic, payload));
    }

    /// A reply to `$next/get` with `token` arrived: stop re-sending it.
    pub(super) fn next_answered(&mut self, token: Option<&str>) {
        if self
            .next_request
            .as_ref()
            .is_some_and(|r| token == Some(r.token.as_str()))
        {
            self.next_request = None;
        }
    }

    /// Asks for the running execution's document again, for a plugin
    /// whose presigned URL expired; the reply goes to [`Self::answer_refresh`].
    pub(super) fn refresh_document(
        &mut self,
        job_id: &str,
        execution_number: u64,
        reply: std::sync::mpsc::Sender<Result<String, String>>,
    ) {
        let running = matches!(&self.state, State::Running { current, .. }
            if is(current, job_id, execution_number));
        if !running {
            let _ = reply.send(Err("the execution is no longer running".into()));
            return;
        }
        let token = self.token();
        let req = DescribeRequest {
            execution_number: Some(execution_number),
            include_job_document: Some(true),
            client_token: Some(token.clone()),
        };
        let topic = JobsTopic::Request(Operation::Describe(job_id.to_owned()))
            .for_thing(&self.config.thing_name);
        tracing::info!(target: "agent", job_id = %job_id, "fetching the job document again for fresh URLs");
        self.publish_json(topic, &req);
        // A newer request replaces an older one, whose waiter then hears so.
        if let Some(old) = self.refreshing.replace(Refreshing {
            job_id: job_id.to_owned(),
            token,
            reply,
        }) {
            let _ = old.reply.send(Err("superseded by a newer request".into()));
        }
    }

    /// Hands a describe reply to the plugin waiting for it, if it is the
    /// reply to its request.
    pub(super) fn answer_refresh(
        &mut self,
        job_id: &str,
        token: Option<&str>,
        answer: impl FnOnce() -> Result<String, String>,
    ) {
        let ours = self
            .refreshing
            .as_ref()
            .is_some_and(|r| r.job_id == job_id && token == Some(r.token.as_str()));
        if let Some(waiting) = self.refreshing.take_if(|_| ours) {
            let _ = waiting.reply.send(answer());
        }
    }

    pub(super) fn describe(&mut self, job: &str) {
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
    pub(super) fn request(&mut self, job: &str, mut update: UpdateRequest) -> Pending {
        let token = self.token();
        update.client_token = Some(token.clone());
        let topic = JobsTopic::Request(Operation::Update(job.to_owned()))
            .for_thing(&self.config.thing_name);
        let payload = serde_json::to_vec(&update).unwrap_or_default();
        self.publish(topic.clone(), payload.clone());
        Pending::sent_now(token, topic, payload)
    }

    pub(super) fn publish_json<T: serde::Serialize>(&self, topic: String, body: &T) {
        match serde_json::to_vec(body) {
            Ok(payload) => self.publish(topic, payload),
            Err(e) => tracing::error!(target: "agent", "cannot encode request for {topic}: {e}"),
        }
    }

    /// Queues a publish. While the queue refuses them (full: the broker is
    /// slow or away) only the first refusal is logged, and the count when
    /// it takes them again: a log line per refused publish would flood the
    /// log for as long as the link is down.
    pub(super) fn publish(&self, topic: String, payload: Vec<u8>) {
        match self.mqtt.publish(topic.clone(), payload) {
            // The request is kept by the caller and re-sent on reconnect.
            Err(e) if self.refused_publishes.get() == 0 => {
                self.refused_publishes.set(1);
                tracing::warn!(target: "agent", "cannot queue publish to {topic}: {e}; further refusals are counted");
            }
            Err(_) => self.refused_publishes.set(self.refused_publishes.get() + 1),
            Ok(()) => {
                let refused = self.refused_publishes.replace(0);
                if refused > 0 {
                    tracing::info!(target: "agent", "the publish queue takes publishes again after {refused} refused");
                }
            }
        }
    }

    pub(super) fn token(&mut self) -> String {
        self.tokens += 1;
        format!("jh-{}-{:08x}", self.tokens, fastrand::u32(..))
    }

    pub(super) fn remember(&mut self, job_id: &str, execution_number: u64) {
        if self.seen.len() == SEEN_CAPACITY {
            self.seen.pop_front();
        }
        self.seen.push_back((job_id.to_owned(), execution_number));
    }

    pub(super) fn forget_running(&self, current: &Current) {
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

    pub(super) fn journal_state(&self) -> super::journal::JournalState {
        self.journal
            .lock()
            .map(|j| j.state().clone())
            .unwrap_or_default()
    }

    pub(super) fn journal_update(
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
