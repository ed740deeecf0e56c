//! One page of a job's executions: a single ListJobExecutionsForJob
//! request (`maxResults` [`PAGE`], its `nextToken`, and jobhost's
//! `includeStatusDetails` so that each row shows the device's statusDetails
//! without a DescribeJobExecution per row). A job on 10,000 things costs
//! the same to show as one on 10: the page says "1–50 of N" (N from
//! DescribeJob's counts) and links to the next page.

use super::super::dispatch::{self, encode, ApiFailure};
use super::super::html;
use super::super::session::Operator;
use super::plot::Execution;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

/// Executions per page.
pub(in super::super) const PAGE: u64 = 50;

/// Where a page of executions begins: the API's `nextToken` and, for the
/// "1–50 of N" text only, how many executions come before it.
#[derive(Debug, Default, Clone, Deserialize)]
pub(in super::super) struct At {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub from: Option<u64>,
}

impl At {
    /// The query string that opens this page again (`?next=…&from=…`), or
    /// "" for the first page.
    pub(in super::super) fn query(&self) -> String {
        match &self.next {
            Some(t) => format!("?next={}&from={}", encode(t), self.from.unwrap_or(0)),
            None => String::new(),
        }
    }
}

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
pub(in super::super) async fn read(op: &Operator, id: &str, at: &At) -> Result<Rows, ApiFailure> {
    let mut path = format!(
        "/jobs/{}/things?maxResults={PAGE}&includeStatusDetails=true",
        encode(id)
    );
    if let Some(t) = &at.next {
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
    pub(in super::super) fn table(&self, id: &str, at: &At, total: u64) -> Markup {
        let from = at.from.unwrap_or(0);
        let last = from + self.rows.len() as u64;
        let base = format!("/console/jobs/{}", encode(id));
        html! {
            p #executions-range { (from + 1) "–" (last) " of " (total.max(last)) }
            div.scroll {
                table #executions {
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
            @if at.next.is_some() || self.next.is_some() {
                nav.pager aria-label="Pages of executions" {
                    @if at.next.is_some() { a href=(base) { "First page" } }
                    @if let Some(next) = &self.next {
                        a href={(base) "?next=" (encode(next)) "&from=" (last)} { "Next page" }
                    }
                }
            }
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
