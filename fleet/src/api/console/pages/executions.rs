//! One page of a job's executions: a single ListJobExecutionsForJob
//! request (`maxResults` [`PAGE`], its `nextToken`, and jobhost's
//! `includeStatusDetails` so that each row shows the device's statusDetails
//! without a DescribeJobExecution per row). A job on 10,000 things costs
//! the same to show as one on 10: the page says "1–50 of N" (N from
//! DescribeJob's counts) and links to the first, previous and next pages
//! ([`super::pager`]).

use super::super::dispatch::{self, encode, ApiFailure};
use super::super::html;
use super::super::session::Operator;
use super::pager::Trail;
use super::plot::Execution;
use maud::{html, Markup};
use serde_json::Value;

/// Executions per page.
pub(in super::super) const PAGE: u64 = 50;

/// One row: the thing, its summary, its statusDetails map.
pub(in super::super) struct Row {
    pub thing: String,
    pub summary: Value,
    pub details: Option<Value>,
}

/// A page of rows and the token of the next.
pub(in super::super) struct Rows {
    pub rows: Vec<Row>,
    pub next: Option<String>,
}

/// Reads the page `at` of job `id`'s executions: one API request.
pub(in super::super) async fn read(
    op: &Operator,
    id: &str,
    at: &Trail,
) -> Result<Rows, ApiFailure> {
    let mut path = format!(
        "/jobs/{}/things?maxResults={PAGE}&includeStatusDetails=true",
        encode(id)
    );
    if let Some(t) = at.token() {
        path.push_str(&format!("&nextToken={}", encode(t)));
    }
    let listed = dispatch::get(&op.api, &path).await?;
    let rows = listed
        .get("executionSummaries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|row| Row {
            thing: html::arn_name(row.get("thingArn").and_then(Value::as_str).unwrap_or(""))
                .to_owned(),
            summary: row.get("jobExecutionSummary").cloned().unwrap_or_default(),
            details: row.pointer("/statusDetails/detailsMap").cloned(),
        })
        .collect();
    let next = listed
        .get("nextToken")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Rows { rows, next })
}

impl Rows {
    /// What the plot needs of the rows.
    pub(in super::super) fn points(&self) -> Vec<Execution> {
        self.rows
            .iter()
            .filter_map(|r| Execution::of(&r.summary))
            .collect()
    }

    /// The table, "first–last of total" and the page links.
    pub(in super::super) fn table(&self, id: &str, at: &Trail, total: u64) -> Markup {
        let from = at.depth() as u64 * PAGE;
        let last = from + self.rows.len() as u64;
        let base = format!("/console/jobs/{}", encode(id));
        html! {
            p #executions-range { (from + 1) "–" (last) " of " (total.max(last)) }
            div.scroll {
                // A new execution is listed last: on the last page, the
                // script re-reads the page for an execution it lacks.
                table #executions data-more=(self.next.is_some()) {
                    thead { tr {
                        th scope="col" { "Device" } th scope="col" { "Status" } th scope="col" { "Details" }
                        th scope="col" { "Queued" } th scope="col" { "Started" } th scope="col" { "Last update" } th scope="col" { "Execution" }
                    } }
                    tbody {
                        @for r in &self.rows {
                            @let status = r.summary.get("status").and_then(Value::as_str).unwrap_or("");
                            tr data-thing=(r.thing) data-status=(status) {
                                td { a href={"/console/things/" (encode(&r.thing))} { (r.thing) } }
                                td.status { (html::status(status)) }
                                td.details { (details_list(r.details.as_ref())) }
                                td { (html::time(r.summary.get("queuedAt").and_then(Value::as_i64))) }
                                td { (html::time(r.summary.get("startedAt").and_then(Value::as_i64))) }
                                td.updated { (html::time(r.summary.get("lastUpdatedAt").and_then(Value::as_i64))) }
                                td { (r.summary.get("executionNumber").and_then(Value::as_u64).unwrap_or(0)) }
                            }
                        }
                    }
                }
            }
            (at.links(&base, self.next.as_deref(), "Pages of executions"))
        }
    }
}

fn details_list(details: Option<&Value>) -> Markup {
    let Some(map) = details.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return html! { "—" };
    };
    html! {
        dl.facts {
            @for (k, v) in map {
                dt { (k) }
                dd { (v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())) }
            }
        }
    }
}
