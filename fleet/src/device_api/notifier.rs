//! `notify` and `notify-next`, as AWS publishes them
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>):
//!
//! - `notify-next` only when the head of a thing's queue changes (a new
//!   first execution, or none): the head's own progress does not trigger it;
//! - `notify` when the pending list changed (an execution queued, started,
//!   or gone terminal) — the store reports exactly those as [`Changes`].

use super::DeviceApiCtx;
use crate::store::Changes;
use jobhost_protocol::responses::{Notify, NotifyNext};
use jobhost_protocol::topics::JobsTopic;
use jobhost_protocol::{JobExecution, JobExecutionStatus};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub(crate) struct Notifier {
    ctx: DeviceApiCtx,
    /// The head last announced per thing, as (job id, execution number).
    heads: HashMap<String, Option<(String, u64)>>,
}

impl Notifier {
    pub(crate) fn new(ctx: DeviceApiCtx) -> Self {
        Self {
            ctx,
            heads: HashMap::new(),
        }
    }

    pub(crate) async fn notify(&mut self, changes: Changes) {
        for thing in changes.things {
            let Some((head, pending, url_ttl)) = self.snapshot(&thing) else {
                continue;
            };
            let now = (self.ctx.now)();
            let mut jobs: BTreeMap<String, Vec<_>> = BTreeMap::new();
            for (_, status, summary) in pending {
                jobs.entry(status.as_str().to_owned())
                    .or_default()
                    .push(summary);
            }
            let notify = Notify {
                timestamp: now,
                jobs,
            };
            self.publish(JobsTopic::Notify.for_thing(&thing), &notify)
                .await;

            let key = head
                .as_ref()
                .map(|e| (e.job_id.clone(), e.execution_number));
            if self.heads.get(&thing) != Some(&key) {
                self.heads.insert(thing.clone(), key);
                let execution = head.map(|mut e| {
                    e.job_document = e.job_document.map(|d| {
                        self.ctx.delivery.resolve_with_ttl(
                            &d,
                            &thing,
                            &e.job_id,
                            e.execution_number,
                            url_ttl,
                            now,
                        )
                    });
                    e
                });
                self.publish(
                    JobsTopic::NotifyNext.for_thing(&thing),
                    &NotifyNext {
                        timestamp: now,
                        execution,
                    },
                )
                .await;
            }
        }
    }

    /// The thing's head, its pending list, and how long the head's
    /// presigned URLs stay valid (None: the server's TTL).
    #[allow(clippy::type_complexity)]
    fn snapshot(
        &self,
        thing: &str,
    ) -> Option<(
        Option<JobExecution>,
        Vec<(
            String,
            JobExecutionStatus,
            jobhost_protocol::JobExecutionSummary,
        )>,
        Option<Duration>,
    )> {
        let store = self.ctx.store.lock().ok()?;
        let result = store
            .head(thing)
            .and_then(|head| Ok((head, store.pending_list(thing)?)));
        match result {
            Ok((head, pending)) => {
                let ttl = head
                    .as_ref()
                    .and_then(|e| super::handler::url_ttl(&store, &e.job_id));
                Some((head, pending, ttl))
            }
            Err(e) => {
                tracing::error!(target: "service", thing, "cannot read the queue: {e}");
                None
            }
        }
    }

    async fn publish<T: serde::Serialize>(&self, topic: String, body: &T) {
        match serde_json::to_vec(body) {
            Ok(payload) => self.ctx.publisher.publish(topic, payload).await,
            Err(e) => tracing::error!(target: "service", "cannot encode {topic}: {e}"),
        }
    }
}
