//! Requests to the service and their resends: every update that matters
//! carries a clientToken and is re-sent with the same token until a reply
//! arrives ([`Pending`]); `$next/get` is kept until answered; publishes the
//! connection refuses are counted, not logged one by one.

use crate::mqtt::{Backoff, MqttError, MqttHandle};
use jobhost_protocol::requests::{DescribeRequest, UpdateRequest};
use jobhost_protocol::topics::{JobsTopic, Operation, NEXT};
use std::time::Duration;
use tokio::time::Instant;

/// How long to wait for an accepted/rejected reply before re-sending.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request awaiting its reply, re-sent until answered.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(super) token: String,
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    sent_at: Instant,
    wait: Duration,
    backoff: Backoff,
}

impl Pending {
    /// A request just published: re-sent after [`REPLY_TIMEOUT`] without a
    /// reply, then with doubling (jittered) delays up to five minutes.
    fn sent_now(token: String, topic: String, payload: Vec<u8>) -> Self {
        Pending {
            token,
            topic,
            payload,
            sent_at: Instant::now(),
            wait: REPLY_TIMEOUT,
            backoff: Backoff::new(REPLY_TIMEOUT, Duration::from_secs(300)),
        }
    }

    /// Whether `token` is this request's.
    pub(super) fn answered_by(&self, token: Option<&str>) -> bool {
        token == Some(self.token.as_str())
    }

    /// Waits longer before the next resend: after a resend, or a transient
    /// rejection.
    pub(super) fn back_off(&mut self) {
        self.wait = self.backoff.next_delay().max(REPLY_TIMEOUT);
    }

    /// The request to publish again if its wait is over (the next wait
    /// then starts, longer).
    fn resend_due(&mut self) -> Option<(String, Vec<u8>)> {
        if self.sent_at.elapsed() < self.wait {
            return None;
        }
        self.sent_at = Instant::now();
        self.back_off();
        Some((self.topic.clone(), self.payload.clone()))
    }
}

/// The agent's side of the jobs API: builds requests for this thing,
/// hands them to the connection, and keeps `$next/get` until answered.
pub(super) struct Outbox {
    mqtt: MqttHandle,
    thing_name: String,
    tokens: u64,
    /// Publishes the connection refused since it last took one (see
    /// [`Outbox::publish`]).
    refused: u64,
    /// The last `$next/get`, until a reply to it arrives: re-sent while the
    /// agent is idle (see [`Outbox::resend_next_if_due`]). Without a reply
    /// an idle agent would wait for a notify-next, which only a change of
    /// the queue's head sends, while its queued jobs wait for it; and a
    /// request is lost without any reconnect when the service is not
    /// subscribed as it is sent (jobhost-fleet restarting on an external
    /// broker, or not yet subscribed again after the broker restarted: the
    /// broker drops a message nobody subscribes to). Found by
    /// `scripts/soak`.
    next_request: Option<Pending>,
}

impl Outbox {
    pub(super) fn new(mqtt: MqttHandle, thing_name: &str) -> Self {
        Self {
            mqtt,
            thing_name: thing_name.to_owned(),
            tokens: 0,
            refused: 0,
            next_request: None,
        }
    }

    /// `$next/get`: the head of the queue. Kept until answered, and
    /// re-sent (same clientToken) by [`Self::resend_next_if_due`].
    pub(super) fn request_next(&mut self) {
        let token = self.token();
        let req = DescribeRequest {
            include_job_document: Some(true),
            client_token: Some(token.clone()),
            ..DescribeRequest::default()
        };
        let topic =
            JobsTopic::Request(Operation::Describe(NEXT.into())).for_thing(&self.thing_name);
        let payload = serde_json::to_vec(&req).unwrap_or_default();
        self.publish(topic.clone(), payload.clone());
        self.next_request = Some(Pending::sent_now(token, topic, payload));
    }

    /// A reply to `$next/get` with `token` arrived: stop re-sending it.
    pub(super) fn next_answered(&mut self, token: Option<&str>) {
        self.next_request.take_if(|r| r.answered_by(token));
    }

    /// For an idle agent: asks for the head of its queue again if the last
    /// `$next/get` went unanswered.
    pub(super) fn resend_next_if_due(&mut self) {
        if let Some(mut pending) = self.next_request.take() {
            self.resend_if_due(&mut pending);
            self.next_request = Some(pending);
        }
    }

    /// Re-publishes `request` if its wait is over.
    pub(super) fn resend_if_due(&mut self, request: &mut Pending) {
        if let Some((topic, payload)) = request.resend_due() {
            tracing::info!(target: "agent", "no reply yet on {topic}; re-sending");
            self.publish(topic, payload);
        }
    }

    /// Re-publishes `request` now (after a reconnect: rumqttc drops unacked
    /// QoS 1 publishes when the broker has no session for us).
    pub(super) fn resend(&mut self, request: &mut Pending) {
        request.sent_at = Instant::now();
        self.publish(request.topic.clone(), request.payload.clone());
    }

    /// Describes `job` (`execution_number`, with its document: for a
    /// plugin's refresh); returns the clientToken.
    pub(super) fn describe(
        &mut self,
        job: &str,
        execution_number: Option<u64>,
        include_job_document: bool,
    ) -> String {
        let token = self.token();
        let req = DescribeRequest {
            execution_number,
            include_job_document: Some(include_job_document),
            client_token: Some(token.clone()),
        };
        let topic =
            JobsTopic::Request(Operation::Describe(job.to_owned())).for_thing(&self.thing_name);
        self.publish_json(topic, &req);
        token
    }

    /// Publishes an update for `job` with a fresh token; returns it as a
    /// [`Pending`] for callers that wait for the reply.
    pub(super) fn update(&mut self, job: &str, mut update: UpdateRequest) -> Pending {
        let token = self.token();
        update.client_token = Some(token.clone());
        let topic =
            JobsTopic::Request(Operation::Update(job.to_owned())).for_thing(&self.thing_name);
        let payload = serde_json::to_vec(&update).unwrap_or_default();
        self.publish(topic.clone(), payload.clone());
        Pending::sent_now(token, topic, payload)
    }

    /// Drops the connection and connects again with `options`.
    pub(super) fn reconnect(&self, options: rumqttc::MqttOptions) -> Result<(), MqttError> {
        self.mqtt.reconnect(options)
    }

    fn publish_json<T: serde::Serialize>(&mut self, topic: String, body: &T) {
        match serde_json::to_vec(body) {
            Ok(payload) => self.publish(topic, payload),
            Err(e) => tracing::error!(target: "agent", "cannot encode request for {topic}: {e}"),
        }
    }

    /// Queues a publish. While the queue refuses them (full: the broker is
    /// slow or away) only the first refusal is logged, and the count when
    /// it takes them again: a log line per refused publish would flood the
    /// log for as long as the link is down.
    fn publish(&mut self, topic: String, payload: Vec<u8>) {
        match self.mqtt.publish(topic.clone(), payload) {
            // The request is kept by the caller and re-sent on reconnect.
            Err(e) if self.refused == 0 => {
                self.refused = 1;
                tracing::warn!(target: "agent", "cannot queue publish to {topic}: {e}; further refusals are counted");
            }
            Err(_) => self.refused += 1,
            Ok(()) => {
                let refused = std::mem::take(&mut self.refused);
                if refused > 0 {
                    tracing::info!(target: "agent", "the publish queue takes publishes again after {refused} refused");
                }
            }
        }
    }

    fn token(&mut self) -> String {
        self.tokens += 1;
        format!("jh-{}-{:08x}", self.tokens, fastrand::u32(..))
    }
}
