//! One device request in, one reply out, as AWS IoT answers
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/jobs-mqtt-api.html>, errors:
//! <https://docs.aws.amazon.com/iot/latest/developerguide/jobs-api.html#jobs-mqtt-error-response>):
//! `<request topic>/accepted` or `<request topic>/rejected`, echoing
//! the clientToken, timestamps in seconds.

use super::DeviceApiCtx;
use crate::placeholders::Delivery;
use crate::store::{Changes, Rejection, Store};
use jobhost_protocol::requests::{
    DescribeRequest, GetPendingRequest, StartNextRequest, UpdateRequest,
};
use jobhost_protocol::responses::{ExecutionAccepted, GetPendingAccepted, UpdateAccepted};
use jobhost_protocol::topics::{JobsTopic, Operation, TopicError};
use jobhost_protocol::{ErrorCode, JobExecution};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub(crate) struct Handler {
    ctx: DeviceApiCtx,
}

/// A reply to publish: the accepted body, or a rejection.
type Outcome = Result<Value, Rejection>;

/// Longest batch of requests made durable by one commit
/// ([`Handler::handle_batch`]): enough to amortise the flush, short enough
/// that the store is not held from the HTTP API and the timers for long.
pub(crate) const MAX_BATCH: usize = 256;

/// A request read from its topic and payload, before the store sees it.
enum Parsed {
    /// Not a request to answer (our own replies and notifications come
    /// back through the wildcard subscription: answering one would loop).
    Ignored,
    /// Answered without the store.
    Refused(Rejection),
    /// For the store.
    Request {
        thing: String,
        operation: Operation,
        json: Value,
    },
}

impl Handler {
    pub(crate) fn new(ctx: DeviceApiCtx) -> Self {
        Self { ctx }
    }

    /// Handles the messages that were waiting, in order, as one commit:
    /// every reply goes out after the store made every change of the batch
    /// durable (group commit, `crate::store` `commit`), in the order the
    /// requests came. Returns the things whose queues they changed.
    pub(crate) async fn handle_batch(&self, messages: Vec<(String, Vec<u8>)>) -> Changes {
        // Requests for the store, in order; each message keeps its place.
        let mut requests = Vec::new();
        let replies: Vec<(String, Option<String>, Option<Rejection>)> = messages
            .into_iter()
            .filter_map(|(topic, payload)| {
                // The payload is parsed once: the clientToken to echo
                // comes from the request's JSON (none if it is not JSON).
                let (token, refused) = match parse(&topic, &payload) {
                    Parsed::Ignored => return None,
                    Parsed::Refused(rejection) => (client_token(&payload), Some(rejection)),
                    Parsed::Request {
                        thing,
                        operation,
                        json,
                    } => {
                        let token = json
                            .get("clientToken")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        requests.push((thing, operation, json));
                        (token, None)
                    }
                };
                Some((topic, token, refused))
            })
            .collect();
        let now = (self.ctx.now)();
        let mut outcomes = if requests.is_empty() {
            Vec::new()
        } else {
            self.run_in_store(requests, now).await
        }
        .into_iter();
        let mut changes = Changes::none();
        for (topic, token, refused) in replies {
            if let Some(rejection) = refused {
                self.reject(&topic, rejection, token).await;
                continue;
            }
            let (outcome, changed) = outcomes
                .next()
                .unwrap_or_else(|| (Err(internal("request handler failed")), Changes::none()));
            changes.merge(changed);
            self.reply(&topic, outcome, token, now).await;
        }
        changes
    }

    /// Runs `requests` against the store in one commit, off the async
    /// workers; one outcome per request. If the commit fails, none of them
    /// happened: each is answered InternalError, which devices retry.
    async fn run_in_store(
        &self,
        requests: Vec<(String, Operation, Value)>,
        now: i64,
    ) -> Vec<(Outcome, Changes)> {
        let count = requests.len();
        let (store, delivery) = (self.ctx.store.clone(), self.ctx.delivery.clone());
        let work = move || -> Result<Vec<(Outcome, Changes)>, String> {
            let mut store = store.lock().map_err(|_| "store unavailable".to_owned())?;
            store
                .in_one_commit(|store| {
                    requests
                        .into_iter()
                        .map(|(thing, operation, json)| {
                            dispatch(store, &delivery, &thing, operation, json, now)
                        })
                        .collect()
                })
                .map_err(|e| {
                    tracing::error!(target: "service", "{count} device requests not committed: {e}");
                    format!("the store could not commit: {e}")
                })
        };
        let failed = |why: String| {
            (0..count)
                .map(|_| (Err(internal(&why)), Changes::none()))
                .collect()
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(why)) => failed(why),
            Err(_) => failed("request handler failed".into()),
        }
    }

    async fn reply(&self, topic: &str, outcome: Outcome, token: Option<String>, now: i64) {
        match outcome {
            Ok(mut body) => {
                if let Value::Object(map) = &mut body {
                    map.insert("timestamp".into(), now.into());
                    if let Some(t) = &token {
                        map.insert("clientToken".into(), t.clone().into());
                    }
                }
                self.ctx
                    .publisher
                    .publish(format!("{topic}/accepted"), to_vec(&body))
                    .await;
            }
            Err(rejection) => self.reject(topic, rejection, token).await,
        }
    }

    async fn reject(&self, topic: &str, rejection: Rejection, token: Option<String>) {
        let body = rejection.into_response(token, (self.ctx.now)());
        self.ctx
            .publisher
            .publish(format!("{topic}/rejected"), to_vec(&body))
            .await;
    }
}

/// What a message asks, as far as can be told without the store.
fn parse(topic: &str, payload: &[u8]) -> Parsed {
    if topic.ends_with("/accepted") || topic.ends_with("/rejected") {
        return Parsed::Ignored;
    }
    let (thing, operation) = match JobsTopic::parse(topic) {
        Ok((thing, JobsTopic::Request(op))) => (thing, op),
        Ok(_) | Err(TopicError::NotJobs(_)) => return Parsed::Ignored,
        Err(TopicError::Invalid(_)) => {
            return Parsed::Refused(Rejection::new(
                ErrorCode::InvalidTopic,
                format!("no jobs API at {topic}"),
            ))
        }
    };
    match serde_json::from_slice(payload) {
        Ok(json) => Parsed::Request {
            thing,
            operation,
            json,
        },
        Err(e) => Parsed::Refused(Rejection::new(
            ErrorCode::InvalidJson,
            format!("payload is not valid UTF-8 JSON: {e}"),
        )),
    }
}

fn internal(why: &str) -> Rejection {
    Rejection::new(ErrorCode::InternalError, why)
}

fn dispatch(
    store: &mut Store,
    delivery: &Delivery,
    thing: &str,
    operation: Operation,
    json: Value,
    now: i64,
) -> (Outcome, Changes) {
    let resolve = |store: &Store, e: Option<JobExecution>| {
        e.map(|mut e| {
            let ttl = url_ttl(store, &e.job_id);
            e.job_document = e.job_document.map(|d| {
                delivery.resolve_with_ttl(&d, thing, &e.job_id, e.execution_number, ttl, now)
            });
            e
        })
    };
    match operation {
        Operation::GetPending => {
            let outcome = request::<GetPendingRequest>(json).and_then(|_| {
                let (in_progress_jobs, queued_jobs) =
                    store.get_pending(thing).map_err(Rejection::from)?;
                body(&GetPendingAccepted {
                    in_progress_jobs,
                    queued_jobs,
                    timestamp: now,
                    client_token: None,
                })
            });
            (outcome, Changes::none())
        }
        Operation::StartNext => {
            match request::<StartNextRequest>(json).and_then(|r| store.start_next(thing, &r, now)) {
                Ok((execution, changes)) => (
                    body(&ExecutionAccepted {
                        execution: resolve(store, execution),
                        timestamp: now,
                        client_token: None,
                    }),
                    changes,
                ),
                Err(r) => (Err(r), Changes::none()),
            }
        }
        Operation::Describe(job) => {
            let outcome = request::<DescribeRequest>(json)
                .and_then(|r| store.describe(thing, &job, &r))
                .and_then(|execution| {
                    body(&ExecutionAccepted {
                        execution: resolve(store, execution),
                        timestamp: now,
                        client_token: None,
                    })
                });
            (outcome, Changes::none())
        }
        Operation::Update(job) => {
            // AWS answers a missing status with InvalidRequest, not InvalidJson.
            if json.get("status").is_none() {
                return (
                    Err(Rejection::new(
                        ErrorCode::InvalidRequest,
                        "`status` is required",
                    )),
                    Changes::none(),
                );
            }
            match request::<UpdateRequest>(json)
                .and_then(|r| store.update(thing, &job, &r, now).map(|done| (r, done)))
            {
                Ok((r, (result, changes))) => {
                    let accepted = UpdateAccepted {
                        execution_state: r
                            .include_job_execution_state
                            .unwrap_or(false)
                            .then_some(result.execution_state),
                        job_document: r.include_job_document.unwrap_or(false).then(|| {
                            delivery.resolve_with_ttl(
                                &result.job_document,
                                thing,
                                &job,
                                result.execution_number,
                                url_ttl(store, &job),
                                now,
                            )
                        }),
                        timestamp: now,
                        client_token: None,
                    };
                    (body(&accepted), changes)
                }
                Err(r) => (Err(r), Changes::none()),
            }
        }
    }
}

/// How long the job's presigned URLs stay valid (its
/// `presignedUrlConfig.expiresInSec`), or None for the server's TTL. A
/// failed read falls back to the server's TTL: the document still goes out.
pub(super) fn url_ttl(store: &Store, job_id: &str) -> Option<std::time::Duration> {
    store.presigned_url_ttl(job_id).unwrap_or_else(|e| {
        tracing::warn!(target: "service", job_id, "cannot read the job's URL lifetime: {e}");
        None
    })
}

/// Parses a request body; a body of the wrong shape is InvalidRequest.
fn request<T: DeserializeOwned>(json: Value) -> Result<T, Rejection> {
    serde_json::from_value(json)
        .map_err(|e| Rejection::new(ErrorCode::InvalidRequest, format!("invalid request: {e}")))
}

fn body<T: Serialize>(reply: &T) -> Outcome {
    serde_json::to_value(reply).map_err(|e| Rejection::new(ErrorCode::InternalError, e.to_string()))
}

fn client_token(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    v.get("clientToken")?.as_str().map(str::to_owned)
}

fn to_vec<T: Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}
