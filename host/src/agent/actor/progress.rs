//! What the actor publishes for an execution while its plugin runs:
//! progress (IN_PROGRESS with the whole statusDetails, at most once per
//! `progress_interval`), and the job document fetched again for a plugin
//! whose presigned URL expired.

use super::Actor;
use crate::agent::state::{raw, Refreshing, State};
use jobhost_protocol::requests::UpdateRequest;
use jobhost_protocol::JobExecutionStatus;
use tokio::time::Instant;

impl Actor {
    pub(super) fn maybe_publish_progress(&mut self) {
        let due = self.progress_due
            && self
                .last_progress
                .is_none_or(|t| t.elapsed() >= self.config.progress_interval);
        if due {
            self.publish_progress();
        }
    }

    /// IN_PROGRESS with the complete statusDetails (always the whole map:
    /// UpdateJobExecution documents no merge of a partial one). No expectedVersion: progress must not race
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
        let _ = self.outbox.update(&current.job_id, update);
        self.last_progress = Some(Instant::now());
        self.progress_due = false;
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
            if current.is(job_id, execution_number));
        if !running {
            let _ = reply.send(Err("the execution is no longer running".into()));
            return;
        }
        tracing::info!(target: "agent", job_id = %job_id, "fetching the job document again for fresh URLs");
        let token = self.outbox.describe(job_id, Some(execution_number), true);
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
}
