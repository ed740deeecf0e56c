//! `GET /events[?jobId=…]`: the jobs events as a Server-Sent-Events stream
//! (`text/event-stream`), for the web console: the same events the service
//! publishes on the broker (`crate::events`), whatever the event
//! configuration, which governs the broker only.
//!
//! Each event is
//!
//! ```text
//! event: jobExecution/succeeded
//! id: <the payload's eventId>
//! data: <AWS's payload, one line of JSON>
//! ```
//!
//! where the name is the topic without `$aws/events/` and the job id
//! (`job/completed`, `job/canceled`, `job/deleted`,
//! `jobExecution/<operation>`): a fixed set, which an `EventSource` can
//! listen for. A comment line (`: keep-alive`) every
//! [`ApiState::events_keep_alive`] keeps proxies from closing an idle
//! stream.
//!
//! The stream holds no queue of its own: it reads the store's bounded
//! channel as fast as the client reads the stream. A client that falls
//! more than [`crate::store::EVENT_CAPACITY`] changes behind gets
//!
//! ```text
//! event: lagged
//! data: {"missed":<how many changes>}
//! ```
//!
//! and the stream goes on from the oldest change still held: the client
//! should re-read what it shows (DescribeJob, ListJobExecutionsForJob).
//!
//! The stream ends when the server shuts down (an `EventSource`
//! reconnects by itself).

use super::extract::Query;
use super::{ApiError, ApiState};
use crate::events::AwsEvent;
use crate::store::ExecutionChange;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use jobhost_protocol::topics::is_valid_job_id;
use serde::Deserialize;
use std::convert::Infallible;
use tokio::sync::broadcast::{error::RecvError, Receiver};

/// The query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct EventsQuery {
    /// Only this job's events.
    #[serde(default)]
    job_id: Option<String>,
}

/// `GET /events`.
pub(super) async fn stream_events(
    State(state): State<ApiState>,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if let Some(job_id) = &q.job_id {
        if !is_valid_job_id(job_id) {
            return Err(ApiError::InvalidRequest(format!(
                "jobId {job_id:?} must be 1-64 characters of [a-zA-Z0-9_-]"
            )));
        }
    }
    let job_id = q.job_id;
    stream_changes(&state, move |change| {
        let event = AwsEvent::from_change(change)?;
        if job_id.as_deref().is_some_and(|j| j != event.job_id) {
            return None;
        }
        Some(
            Event::default()
                .event(event.name())
                .id(event.event_id)
                .data(event.payload),
        )
    })
    .await
}

/// The store's committed changes as a Server-Sent-Events stream, each
/// turned into an event by `to_event` (None skips it), with the `lagged`
/// event, the keep-alive comment and the end at shutdown that every
/// stream of this API has. `GET /events` and `GET /execution-changes`
/// ([`super::changes`]) differ only in `to_event`.
pub(super) async fn stream_changes<F>(
    state: &ApiState,
    to_event: F,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError>
where
    F: FnMut(&ExecutionChange) -> Option<Event> + Send + 'static,
{
    // Subscribed before the response starts: a client that has the
    // response headers misses nothing committed after.
    let changes = state.with_store(|s| Ok(s.subscribe())).await?;
    let closing = state.closing.subscribe();
    let events = stream::unfold(
        (changes, closing, to_event),
        |(mut changes, mut closing, mut to_event)| async move {
            let event = tokio::select! {
                event = next_event(&mut changes, &mut to_event) => event?,
                // Ended by the shutdown (or a server dropped meanwhile).
                _ = closing.wait_for(|closing| *closing) => return None,
            };
            Some((Ok(event), (changes, closing, to_event)))
        },
    );
    Ok(Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(state.events_keep_alive)
            .text("keep-alive"),
    ))
}

/// The next event for the stream, or None when the store is gone.
async fn next_event<F>(changes: &mut Receiver<ExecutionChange>, to_event: &mut F) -> Option<Event>
where
    F: FnMut(&ExecutionChange) -> Option<Event>,
{
    loop {
        match changes.recv().await {
            Ok(change) => {
                if let Some(event) = to_event(&change) {
                    return Some(event);
                }
            }
            Err(RecvError::Lagged(missed)) => {
                return Some(
                    Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{missed}}}")),
                );
            }
            Err(RecvError::Closed) => return None,
        }
    }
}
