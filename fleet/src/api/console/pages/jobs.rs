//! The jobs list: ListJobs with its `status` filter and its pages, a search
//! on the job id, and a progress bar per job from DescribeJob's counts.

use super::super::dispatch::{self, encode, ApiFailure};
use super::super::html::{self, Section};
use super::super::session::Operator;
use super::pager::Trail;
use super::progress::{bar, Counts};
use axum::extract::Query;
use axum::response::Html;
use maud::html;
use serde::Deserialize;
use serde_json::Value;

/// Jobs per page.
pub(in super::super) const PAGE: usize = 20;

/// ListJobs' statuses, for the filter.
const STATUSES: [&str; 5] = [
    "IN_PROGRESS",
    "SCHEDULED",
    "COMPLETED",
    "CANCELED",
    "DELETION_IN_PROGRESS",
];

/// The list's query.
#[derive(Debug, Default, Deserialize)]
pub(in super::super) struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    /// The pages' trail ([`super::pager`]).
    #[serde(default)]
    page: Option<String>,
}

/// One page of matching jobs, and where the next begins.
struct Found {
    jobs: Vec<Value>,
    next: Option<String>,
}

/// `GET /console/jobs?status=&q=&page=`.
pub(in super::super) async fn list(op: Operator, Query(q): Query<ListQuery>) -> Html<String> {
    let trail = Trail::parse(q.page.as_deref());
    let found = find(&op, &q, &trail).await;
    let mut rows = Vec::new();
    if let Ok(found) = &found {
        for job in &found.jobs {
            let id = job.get("jobId").and_then(Value::as_str).unwrap_or("");
            let described = dispatch::get(&op.api, &format!("/jobs/{}", encode(id))).await;
            let counts = described
                .ok()
                .and_then(|d| d.pointer("/job/jobProcessDetails").cloned())
                .map(|d| Counts::of(&d))
                .unwrap_or_default();
            rows.push((job.clone(), counts));
        }
    }
    let body = html! {
        form.inline method="get" action="/console/jobs" role="search" {
            div {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" selected[q.status.is_empty()] { "any" }
                    @for s in STATUSES {
                        option value=(s) selected[q.status == s] { (s) }
                    }
                }
            }
            div {
                label for="q" { "Job id contains" }
                input #q type="search" name="q" value=(q.q);
            }
            div { button type="submit" { "Filter" } }
        }
        @match &found {
            Err(e) => (html::failure(e)),
            Ok(found) => {
                @if rows.is_empty() {
                    p { "No jobs match." }
                } @else {
                    div.scroll {
                        table {
                            caption.hint { "Jobs, oldest first" }
                            thead { tr { th scope="col" { "Job" } th scope="col" { "Status" } th scope="col" { "Progress" } th scope="col" { "Created" } th scope="col" { "Description" } } }
                            tbody {
                                @for (job, counts) in &rows {
                                    @let id = job.get("jobId").and_then(Value::as_str).unwrap_or("");
                                    tr {
                                        td { a href={"/console/jobs/" (encode(id))} { (id) } }
                                        td { (html::status(job.get("status").and_then(Value::as_str).unwrap_or(""))) }
                                        td { (bar(counts)) }
                                        td { (html::time(job.get("createdAt").and_then(Value::as_i64))) }
                                        td { (job.get("description").and_then(Value::as_str).unwrap_or("")) }
                                    }
                                }
                            }
                        }
                    }
                }
                (trail.links(&format!("/console/jobs?status={}&q={}", encode(&q.status), encode(&q.q)), found.next.as_deref(), "Pages of jobs"))
            }
        }
    };
    html::page("Jobs", Section::Jobs, &op.session, body)
}

/// The jobs of this page: one ListJobs page, or with a search, ListJobs
/// pages read until a page's worth match (the next link goes on from the
/// last page read).
async fn find(op: &Operator, q: &ListQuery, trail: &Trail) -> Result<Found, ApiFailure> {
    let search = q.q.to_lowercase();
    let mut token = trail.token().map(str::to_owned);
    let mut jobs = Vec::new();
    let size = if search.is_empty() { PAGE } else { 250 };
    loop {
        let mut path = format!("/jobs?maxResults={size}");
        if !q.status.is_empty() {
            path.push_str(&format!("&status={}", encode(&q.status)));
        }
        if let Some(t) = &token {
            path.push_str(&format!("&nextToken={}", encode(t)));
        }
        let reply = dispatch::get(&op.api, &path).await?;
        let page = reply
            .get("jobs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        jobs.extend(page.into_iter().filter(|j| {
            search.is_empty()
                || j.get("jobId")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.to_lowercase().contains(&search))
        }));
        token = reply
            .get("nextToken")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if search.is_empty() || jobs.len() >= PAGE || token.is_none() {
            return Ok(Found { jobs, next: token });
        }
    }
}
