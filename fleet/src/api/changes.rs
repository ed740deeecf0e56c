//! `GET /execution-changes[?jobId=…][&thingName=…]`: every committed
//! change of a job execution, as Server-Sent Events. jobhost's own: AWS has
//! no such stream, and `GET /events` ([`super::events`]) stays the mirror
//! of AWS's events on the broker, which report only an execution's end.
//! This one also carries what those leave out, an execution being queued
//! and going IN_PROGRESS with the statusDetails the device reported (a
//! progress value, a step), for a page that shows executions as they run
//! (the console's job page).
//!
//! Events:
//!
//! ```text
//! event: execution
//! id: <jobId>/<thingName>/<executionNumber>/<versionNumber>
//! data: {"jobId":…,"thingName":…,"executionNumber":…,"versionNumber":…,
//!        "status":…,"statusDetails":{…},"queuedAt":…,"startedAt":…,
//!        "lastUpdatedAt":…,"forceCanceled":…,"retryAttempt":…}
//!
//! event: executionDeleted
//! data: {"jobId":…,"thingName":…,"executionNumber":…,"status":…,"deletedAt":…}
//!
//! event: job
//! data: {"jobId":…,"operation":"completed"|"canceled"|"deleted","status":…}
//! ```
//!
//! `lagged`, the keep-alive comment and the end at shutdown are those of
//! `GET /events`. The stream holds no document (events stay small).

use super::events::stream_changes;
use super::extract::Query;
use super::{ApiError, ApiState};
use crate::store::ExecutionChange;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use futures_util::stream::Stream;
use jobhost_protocol::topics::{is_valid_job_id, is_valid_thing_name};
use serde::Deserialize;
use serde_json::{json, Value};
use std::convert::Infallible;

/// The query: both filters are optional, and combine.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ChangesQuery {
    /// Only this job's changes.
    #[serde(default)]
    job_id: Option<String>,
    /// Only changes of this thing's executions (a job's end, which belongs
    /// to no thing, is then left out).
    #[serde(default)]
    thing_name: Option<String>,
}

/// `GET /execution-changes`.
pub(super) async fn stream(
    State(state): State<ApiState>,
    Query(q): Query<ChangesQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if let Some(job_id) = q.job_id.as_deref().filter(|j| !is_valid_job_id(j)) {
        return Err(ApiError::InvalidRequest(format!(
            "jobId {job_id:?} must be 1-64 characters of [a-zA-Z0-9_-]"
        )));
    }
    if let Some(thing) = q.thing_name.as_deref().filter(|t| !is_valid_thing_name(t)) {
        return Err(ApiError::InvalidRequest(format!(
            "thingName {thing:?} must be 1-128 characters of [a-zA-Z0-9:_-]"
        )));
    }
    stream_changes(&state, move |change| {
        let wanted_job = q
            .job_id
            .as_deref()
            .is_none_or(|j| change.job_id() == Some(j));
        let wanted_thing = q
            .thing_name
            .as_deref()
            .is_none_or(|t| change.thing_name() == Some(t));
        if !(wanted_job && wanted_thing) {
            return None;
        }
        to_event(change)
    })
    .await
}

/// The event for `change`; None for a change of the event configuration.
pub(super) fn to_event(change: &ExecutionChange) -> Option<Event> {
    let (name, id, data): (&str, Option<String>, Value) = match change {
        ExecutionChange::Updated(r) => {
            let e = &r.execution;
            let id = format!(
                "{}/{}/{}/{}",
                e.job_id, r.thing_name, e.execution_number, e.version_number
            );
            let data = json!({
                "jobId": e.job_id,
                "thingName": r.thing_name,
                "executionNumber": e.execution_number,
                "versionNumber": e.version_number,
                "status": e.status,
                "statusDetails": e.status_details,
                "queuedAt": e.queued_at,
                "startedAt": e.started_at,
                "lastUpdatedAt": e.last_updated_at,
                "forceCanceled": r.force_canceled,
                "retryAttempt": r.retry_attempt,
            });
            ("execution", Some(id), data)
        }
        ExecutionChange::Deleted {
            job_id,
            thing_name,
            execution_number,
            status,
            deleted_at,
            ..
        } => {
            let data = json!({
                "jobId": job_id,
                "thingName": thing_name,
                "executionNumber": execution_number,
                "status": status,
                "deletedAt": deleted_at,
            });
            ("executionDeleted", None, data)
        }
        ExecutionChange::Job(j) => {
            let data = json!({
                "jobId": j.job_id,
                "operation": j.operation.as_str(),
                "status": j.status,
            });
            ("job", None, data)
        }
        ExecutionChange::EventConfigurations(_) => return None,
    };
    let event = Event::default().event(name).data(data.to_string());
    Some(match id {
        Some(id) => event.id(id),
        None => event,
    })
}
