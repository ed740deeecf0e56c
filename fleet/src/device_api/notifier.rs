//! `notify` and `notify-next`, as AWS publishes them
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-comm-notifications.html>):
//!
//! - `notify-next` only when the head of a thing's queue changes (a new
//!   first execution, or none): the head's own progress does not trigger it;
//! - `notify` when the pending list changed (an execution queued, started,
//!   or gone terminal) — the store reports exactly those as [`Changes`].

use super::DeviceApiCtx;
use crate::store::{Changes, HeadJob, Queue, Queues};
use jobhost_protocol::responses::{Notify, NotifyNext};
use jobhost_protocol::topics::JobsTopic;
use std::collections::{BTreeMap, HashMap};

/// Most things whose queues are read under one hold of the store lock
/// (one read transaction, off the async workers): a device batch changes
/// at most [`super::handler::MAX_BATCH`] things, but a CreateJob on a
/// fleet changes thousands, and the HTTP API and the device requests wait
/// for the lock meanwhile.
const READ_AT_ONCE: usize = 256;

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
        let mut things = changes.things.into_iter().peekable();
        while things.peek().is_some() {
            let chunk: Vec<String> = things.by_ref().take(READ_AT_ONCE).collect();
            let Some(queues) = self.read(chunk).await else {
                continue;
            };
            let now = (self.ctx.now)();
            for queue in queues.things {
                self.announce(queue, &queues.heads, now).await;
            }
        }
    }

    /// Publishes `notify` for `queue`, and `notify-next` if its head is not
    /// the one last announced.
    async fn announce(&mut self, queue: Queue, heads: &HashMap<String, HeadJob>, now: i64) {
        let Queue {
            thing,
            head,
            pending,
        } = queue;
        let mut jobs: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for (status, summary) in pending {
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
        if self.heads.get(&thing) == Some(&key) {
            return;
        }
        let execution = head.map(|mut e| {
            e.job_document = heads.get(&e.job_id).map(|job| {
                self.ctx.delivery.resolve_with_ttl(
                    &job.document,
                    &thing,
                    &e.job_id,
                    e.execution_number,
                    job.url_ttl,
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
        self.heads.insert(thing, key);
    }

    /// The queues of `things`, read in one transaction off the async
    /// workers; None (logged) if the store cannot be read.
    async fn read(&self, things: Vec<String>) -> Option<Queues> {
        let store = self.ctx.store.clone();
        let count = things.len();
        let read = tokio::task::spawn_blocking(move || {
            let store = store
                .lock()
                .map_err(|_| "the store is unavailable".to_owned())?;
            store.queues(&things).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        read.map_err(|e| {
            tracing::error!(target: "service", "cannot read the queues of {count} things to notify: {e}");
        })
        .ok()
    }

    async fn publish<T: serde::Serialize>(&self, topic: String, body: &T) {
        match serde_json::to_vec(body) {
            Ok(payload) => self.ctx.publisher.publish(topic, payload).await,
            Err(e) => tracing::error!(target: "service", "cannot encode {topic}: {e}"),
        }
    }
}
