//! Staged rollouts, abort rules, schedules and retries through the whole
//! service: CreateJob, DescribeJob, ListJobs and CancelJob over HTTP,
//! devices on the embedded broker, the store on its SQLite file, and the
//! injected clock of [`Fleet`].
//!
//! Time moves only when a test moves the clock. A test sets the clock to a
//! second and ticks the scheduler with [`Server::advance_rollouts`]; the
//! service's own scheduler ticks too, at the same clock, whenever it
//! wakes. Any number of ticks at one second release no more than the rate
//! allows (the rate is spent from the store's log of releases), so the
//! tests measure what was released with DescribeJob, never by counting
//! what their own tick returned.
//!
//! [`Server::advance_rollouts`]: jobhost_fleet::server::Server::advance_rollouts

mod abort;
mod rate;
mod retry;
mod schedule;

use crate::conformance::{Device, Fleet, T0};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// `n` thing names, `t000`, `t001`, ...
pub fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i:03}")).collect()
}

/// `t` as a StringDateTime (`YYYY-MM-DDTHH:MM:SS`, UTC).
pub fn iso(t: i64) -> String {
    jobhost_fleet::rollout::datetime::format_utc(t)
}

/// `PUT /jobs/{id}` with `targets`, a document, and the fields of `extra`;
/// returns the status and the JSON body.
pub async fn create(
    fleet: &Fleet,
    id: &str,
    targets: &[String],
    extra: Value,
) -> (StatusCode, Value) {
    let mut body = json!({ "targets": targets, "document": "{\"operation\":\"update\"}" });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    send(
        fleet
            .http
            .put(fleet.url(&format!("/jobs/{id}")))
            .json(&body),
    )
    .await
}

/// Sends `request`; returns the status and the JSON body (Null if none).
pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// CreateJob that must succeed.
pub async fn created(fleet: &Fleet, id: &str, targets: &[String], extra: Value) {
    let (status, body) = create(fleet, id, targets, extra).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `GET path` → JSON.
pub async fn get(fleet: &Fleet, path: &str) -> Value {
    let response = fleet.http.get(fleet.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

/// DescribeJob's `job`.
pub async fn describe(fleet: &Fleet, id: &str) -> Value {
    get(fleet, &format!("/jobs/{id}")).await["job"].take()
}

/// `jobhost.rollout.releasedThings` of DescribeJob.
pub async fn released(fleet: &Fleet, id: &str) -> u64 {
    describe(fleet, id).await["jobhost"]["rollout"]["releasedThings"]
        .as_u64()
        .unwrap()
}

/// Sets the clock to `T0 + offset` and ticks the scheduler there.
pub fn tick_at(fleet: &Fleet, offset: i64) {
    fleet.at(offset);
    fleet.server.advance_rollouts().unwrap();
}

/// The statuses of ListJobExecutionsForJob, by thing name.
pub async fn statuses(fleet: &Fleet, id: &str) -> Vec<(String, String)> {
    let list = get(fleet, &format!("/jobs/{id}/things")).await;
    list["executionSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let thing = e["thingArn"].as_str().unwrap().rsplit('/').next().unwrap();
            let status = e["jobExecutionSummary"]["status"].as_str().unwrap();
            (thing.to_owned(), status.to_owned())
        })
        .collect()
}

/// Waits for `device`'s next `notify-next`, skipping `notify`s, and
/// returns its execution (None for an empty queue). Timestamps are not
/// checked: the clock may have moved since the service published.
pub async fn next_notify_next(device: &mut Device) -> Option<Value> {
    loop {
        let (topic, body) = device.recv().await;
        match topic.as_str() {
            "notify-next" => return body.get("execution").cloned(),
            "notify" => {}
            other => panic!("{}: unexpected message on {other}: {body}", device.thing),
        }
    }
}

/// The job's status.
pub async fn status(fleet: &Fleet, id: &str) -> String {
    describe(fleet, id).await["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A JSON body's `message`, for 400s.
pub fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}
