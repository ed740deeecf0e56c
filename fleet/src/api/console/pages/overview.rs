//! The fleet at a glance: things online and offline as the broker sees
//! them, jobs running, and the latest failed executions of the newest jobs
//! with their reasons.
//!
//! Bounded for a large fleet, each part one or a few API requests:
//!
//! - the online and offline counts are fleet-wide, from one
//!   GetBucketsAggregation on `connectivity.connected` (the service
//!   counts; nothing here reads every thing);
//! - the things are listed a page of [`THINGS_PAGE`] at a time (ListThings'
//!   `maxResults` and its tokens, [`super::pager`]), each with its
//!   GetThingConnectivityData;
//! - jobs in progress: one ListJobs with `status=IN_PROGRESS` and
//!   `maxResults` [`RUNNING_SHOWN`] ("20 or more" when more follow);
//! - failures: the [`RECENT_JOBS`] newest jobs from one ListJobs with
//!   jobhost's `sortOrder=DESCENDING`, and for each a
//!   ListJobExecutionsForJob per failed status with its `status` filter,
//!   `maxResults` and jobhost's `includeStatusDetails` (the reasons).

use super::super::dispatch::{self, encode, ApiFailure};
use super::super::html::{self, Section};
use super::super::session::Operator;
use super::pager::{PageQuery, Trail};
use axum::extract::Query;
use axum::http::Method;
use axum::response::Html;
use maud::{html, Markup};
use serde_json::{json, Value};

/// How many of the newest jobs the failures come from.
const RECENT_JOBS: u32 = 10;

/// Things per page, each with one GetThingConnectivityData.
const THINGS_PAGE: u32 = 50;

/// Jobs in progress listed (and counted) at most.
const RUNNING_SHOWN: u32 = 20;

/// Failed executions read per job and failed status.
const FAILURES_PER_STATUS: u32 = 5;

/// The failed statuses, each one filtered ListJobExecutionsForJob.
const FAILED: [&str; 3] = ["FAILED", "TIMED_OUT", "REJECTED"];

/// Things online and offline, fleet-wide.
#[derive(Debug, Default)]
struct Connectivity {
    online: u64,
    offline: u64,
}

/// `GET /console/?page=`: `page` is the trail of the things' pages.
pub(in super::super) async fn page(op: Operator, Query(q): Query<PageQuery>) -> Html<String> {
    let trail = q.trail();
    let counts = connectivity(&op).await;
    let things = things(&op, &trail).await;
    let running = dispatch::get(
        &op.api,
        &format!("/jobs?status=IN_PROGRESS&maxResults={RUNNING_SHOWN}"),
    )
    .await;
    let failures = failures(&op).await;
    let running_jobs: Vec<String> = running
        .as_ref()
        .ok()
        .map(|r| ids(r, "jobs", "jobId"))
        .unwrap_or_default();
    let more_running = running
        .as_ref()
        .ok()
        .is_some_and(|r| r.get("nextToken").is_some());
    let body = html! {
        @if let Err(e) = &counts { (html::failure(e)) }
        @if let Err(e) = &running { (html::failure(e)) }
        @let c = counts.as_ref().ok();
        dl.cards {
            div #online { dt { "Things online" } dd { (c.map_or(0, |c| c.online)) } }
            div #offline { dt { "Things offline" } dd { (c.map_or(0, |c| c.offline)) } }
            div #running { dt { "Jobs in progress" } dd {
                (running_jobs.len()) @if more_running { " or more" }
            } }
            div #failures { dt { "Recent failed executions" } dd { (failures.as_ref().map(Vec::len).unwrap_or(0)) } }
        }
        h2 { "Things" }
        (things_list(&trail, c, things))
        h2 { "Jobs in progress" }
        @if running_jobs.is_empty() { p { "None." } }
        ul { @for j in &running_jobs { li { a href={"/console/jobs/" (encode(j))} { (j) } } } }
        @if more_running {
            p { a href="/console/jobs?status=IN_PROGRESS" { "All jobs in progress" } }
        }
        h2 { "Recent failures" }
        @match &failures {
            Err(e) => (html::failure(e)),
            Ok(f) if f.is_empty() => p { "None among the " (RECENT_JOBS) " newest jobs." },
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

/// Fleet-wide online and offline counts: one GetBucketsAggregation.
async fn connectivity(op: &Operator) -> Result<Connectivity, ApiFailure> {
    let request = json!({
        "queryString": "thingName:*",
        "aggregationField": "connectivity.connected",
        "bucketsAggregationType": {"termsAggregation": {"maxBuckets": 2}},
    });
    let reply = dispatch::send(&op.api, Method::POST, "/indices/buckets", Some(&request)).await?;
    let mut counts = Connectivity::default();
    for bucket in reply
        .get("buckets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let n = bucket.get("count").and_then(Value::as_u64).unwrap_or(0);
        match bucket.get("keyValue").and_then(Value::as_str) {
            Some("true") => counts.online = n,
            Some("false") => counts.offline = n,
            _ => {}
        }
    }
    Ok(counts)
}

/// One page of things, each with whether it is connected, and the token
/// of the next page.
struct Things {
    names: Vec<(String, bool)>,
    next: Option<String>,
}

/// The page `trail` opens of ListThings, and a GetThingConnectivityData
/// per thing on it.
async fn things(op: &Operator, trail: &Trail) -> Result<Things, ApiFailure> {
    let mut path = format!("/things?maxResults={THINGS_PAGE}");
    if let Some(t) = trail.token() {
        path.push_str(&format!("&nextToken={}", encode(t)));
    }
    let listed = dispatch::get(&op.api, &path).await?;
    let mut names = Vec::new();
    for name in ids(&listed, "things", "thingName") {
        let path = format!("/things/{}/connectivity-data", encode(&name));
        let connected = dispatch::send(&op.api, Method::POST, &path, None)
            .await
            .ok()
            .and_then(|c| c.get("connected").and_then(Value::as_bool))
            .unwrap_or(false);
        names.push((name, connected));
    }
    let next = listed
        .get("nextToken")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Things { names, next })
}

/// The page of things with its range ("Things 51–100 of 300") and links.
fn things_list(
    trail: &Trail,
    counts: Option<&Connectivity>,
    things: Result<Things, ApiFailure>,
) -> Markup {
    let things = match things {
        Ok(t) => t,
        Err(e) => return html::failure(&e),
    };
    if things.names.is_empty() && trail.depth() == 0 {
        return html! { p { "No things registered." } };
    }
    let from = trail.depth() as u64 * u64::from(THINGS_PAGE);
    let last = from + things.names.len() as u64;
    let total = counts.map_or(last, |c| c.online + c.offline).max(last);
    html! {
        p #things-range { "Things " (from + 1) "–" (last) " of " (total) }
        ul #things {
            @for (name, connected) in &things.names {
                li {
                    a href={"/console/things/" (encode(name))} { (name) } " "
                    @if *connected { span.badge.ok { "ONLINE" } } @else { span.badge.muted { "OFFLINE" } }
                }
            }
        }
        (trail.links("/console/", things.next.as_deref(), "Pages of things"))
    }
}

/// The `field` of each entry of the list `key` of an API reply.
fn ids(reply: &Value, key: &str, field: &str) -> Vec<String> {
    reply
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|j| j.get(field).and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// (job, thing, status, reason) of the failed executions of the newest
/// jobs.
async fn failures(op: &Operator) -> Result<Vec<(String, String, String, String)>, ApiFailure> {
    let path = format!("/jobs?sortOrder=DESCENDING&maxResults={RECENT_JOBS}");
    let newest = ids(&dispatch::get(&op.api, &path).await?, "jobs", "jobId");
    let mut out = Vec::new();
    for id in newest {
        for wanted in FAILED {
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
