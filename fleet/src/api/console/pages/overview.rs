//! The fleet at a glance: things online and offline as the broker sees
//! them (GetThingConnectivityData), jobs running, and the latest failed
//! executions of the most recent jobs with their reasons.

use super::super::dispatch::{self, encode, ApiFailure};
use super::super::html::{self, Section};
use super::super::session::Operator;
use axum::http::Method;
use axum::response::Html;
use maud::html;
use serde_json::Value;

/// How many of the newest jobs the failures come from.
const RECENT_JOBS: usize = 10;

/// `GET /console/`.
pub(in super::super) async fn page(op: Operator) -> Html<String> {
    let things = dispatch::get(&op.api, "/things").await;
    let mut online = Vec::new();
    let mut offline = Vec::new();
    if let Ok(t) = &things {
        for name in t
            .get("things")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.get("thingName").and_then(Value::as_str))
        {
            let path = format!("/things/{}/connectivity-data", encode(name));
            let connected = dispatch::send(&op.api, Method::POST, &path, None)
                .await
                .ok()
                .and_then(|c| c.get("connected").and_then(Value::as_bool))
                .unwrap_or(false);
            if connected {
                online.push(name.to_owned())
            } else {
                offline.push(name.to_owned())
            }
        }
    }
    let running = dispatch::get(&op.api, "/jobs?status=IN_PROGRESS").await;
    let failures = failures(&op).await;
    let running_jobs: Vec<String> = running
        .as_ref()
        .ok()
        .and_then(|r| r.get("jobs"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|j| j.get("jobId").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let body = html! {
        @if let Err(e) = &things { (html::failure(e)) }
        @if let Err(e) = &running { (html::failure(e)) }
        dl.cards {
            div { dt { "Things online" } dd { (online.len()) } }
            div { dt { "Things offline" } dd { (offline.len()) } }
            div { dt { "Jobs in progress" } dd { (running_jobs.len()) } }
            div { dt { "Recent failed executions" } dd { (failures.as_ref().map(Vec::len).unwrap_or(0)) } }
        }
        h2 { "Things" }
        @if online.is_empty() && offline.is_empty() { p { "No things registered." } }
        ul {
            @for n in &online { li { a href={"/console/things/" (encode(n))} { (n) } " " span.badge.ok { "ONLINE" } } }
            @for n in &offline { li { a href={"/console/things/" (encode(n))} { (n) } " " span.badge.muted { "OFFLINE" } } }
        }
        h2 { "Jobs in progress" }
        @if running_jobs.is_empty() { p { "None." } }
        ul { @for j in &running_jobs { li { a href={"/console/jobs/" (encode(j))} { (j) } } } }
        h2 { "Recent failures" }
        @match &failures {
            Err(e) => (html::failure(e)),
            Ok(f) if f.is_empty() => p { "None among the newest jobs." },
            Ok(f) => div.scroll { table {
                thead { tr { th scope="col" { "Job" } th scope="col" { "Device" } th scope="col" { "Status" } th scope="col" { "Reason" } } }
                tbody { @for (job, thing, status, reason) in f {
                    tr {
                        td { a href={"/console/jobs/" (encode(job))} { (job) } }
                        td { a href={"/console/things/" (encode(thing))} { (thing) } }
                        td { (html::status(status)) }
                        td { (reason) }
                    }
                } }
            } },
        }
    };
    html::page("Fleet overview", Section::Overview, &op.session, body)
}

/// (job, thing, status, reason) of the failed executions of the newest jobs.
async fn failures(op: &Operator) -> Result<Vec<(String, String, String, String)>, ApiFailure> {
    let jobs = dispatch::get(&op.api, "/jobs").await?;
    let ids: Vec<String> = jobs
        .get("jobs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .rev()
                .take(RECENT_JOBS)
                .filter_map(|j| j.get("jobId").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for id in ids {
        let listed = dispatch::get(&op.api, &format!("/jobs/{}/things", encode(&id))).await?;
        for row in listed
            .get("executionSummaries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let status = row
                .pointer("/jobExecutionSummary/status")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !matches!(status, "FAILED" | "TIMED_OUT" | "REJECTED") {
                continue;
            }
            let thing = html::arn_name(row.get("thingArn").and_then(Value::as_str).unwrap_or(""))
                .to_owned();
            let reason = dispatch::get(
                &op.api,
                &format!("/things/{}/jobs/{}", encode(&thing), encode(&id)),
            )
            .await
            .ok()
            .and_then(|d| {
                d.pointer("/execution/statusDetails/detailsMap/reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
            out.push((id.clone(), thing, status.to_owned(), reason));
        }
    }
    Ok(out)
}
