//! The fleet at a glance: things online and offline as the broker sees
//! them (GetThingConnectivityData), jobs running, and the latest failed
//! executions of the most recent jobs with their reasons.
//!
//! Bounded for a large fleet: the things come a page of [`THINGS_PAGE`]
//! at a time (ListThings' `maxResults` and `nextToken`; the API has no list
//! with connectivity, so only that page's things are asked about), and the
//! failures are read with ListJobExecutionsForJob's `status` filter and
//! jobhost's `includeStatusDetails` (their reasons), a few per job.

use super::super::dispatch::{self, encode, ApiFailure};
use super::super::html::{self, Section};
use super::super::session::Operator;
use axum::extract::Query;
use axum::http::Method;
use axum::response::Html;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

/// How many of the newest jobs the failures come from.
const RECENT_JOBS: usize = 10;

/// Things per page, each with one GetThingConnectivityData.
const THINGS_PAGE: u32 = 50;

/// Failed executions read per job and failed status.
const FAILURES_PER_STATUS: u32 = 5;

/// `?things=<nextToken>&from=<n>`: a later page of things.
#[derive(Debug, Default, Deserialize)]
pub(in super::super) struct ThingsAt {
    #[serde(default)]
    things: Option<String>,
    #[serde(default)]
    from: Option<u64>,
}

/// `GET /console/`.
pub(in super::super) async fn page(op: Operator, Query(at): Query<ThingsAt>) -> Html<String> {
    let mut path = format!("/things?maxResults={THINGS_PAGE}");
    if let Some(t) = &at.things {
        path.push_str(&format!("&nextToken={}", encode(t)));
    }
    let things = dispatch::get(&op.api, &path).await;
    let next_things = things
        .as_ref()
        .ok()
        .and_then(|t| t.get("nextToken"))
        .and_then(Value::as_str)
        .map(str::to_owned);
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
        @let shown = (online.len() + offline.len()) as u64;
        @let from = at.from.unwrap_or(0);
        @if at.things.is_some() || next_things.is_some() {
            p #things-range { "Online and offline count things " (from + 1) "–" (from + shown) ", " (THINGS_PAGE) " per page." }
        }
        h2 { "Things" }
        @if online.is_empty() && offline.is_empty() { p { "No things registered." } }
        ul {
            @for n in &online { li { a href={"/console/things/" (encode(n))} { (n) } " " span.badge.ok { "ONLINE" } } }
            @for n in &offline { li { a href={"/console/things/" (encode(n))} { (n) } " " span.badge.muted { "OFFLINE" } } }
        }
        @if at.things.is_some() || next_things.is_some() {
            nav.pager aria-label="Pages of things" {
                @if at.things.is_some() { a href="/console/" { "First things" } }
                @if let Some(next) = &next_things {
                    a href={"/console/?things=" (encode(next)) "&from=" (from + shown)} { "Next things" }
                }
            }
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
        for wanted in ["FAILED", "TIMED_OUT", "REJECTED"] {
            let path = format!(
                "/jobs/{}/things?status={wanted}&maxResults={FAILURES_PER_STATUS}&includeStatusDetails=true",
                encode(&id)
            );
            let listed = dispatch::get(&op.api, &path).await?;
            for row in listed
                .get("executionSummaries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let thing =
                    html::arn_name(row.get("thingArn").and_then(Value::as_str).unwrap_or(""))
                        .to_owned();
                let reason = row
                    .pointer("/statusDetails/detailsMap/reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                out.push((id.clone(), thing, wanted.to_owned(), reason));
            }
        }
    }
    Ok(out)
}
