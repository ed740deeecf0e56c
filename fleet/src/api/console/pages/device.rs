//! A device's page: DescribeThing (attributes, as the agent or operator
//! set them), whether the broker sees it connected
//! (GetThingConnectivityData), its groups, its execution history
//! (ListJobExecutionsForThing), its last diagnostics (the snapshot in its
//! newest diagnostics bundle: installed plugins, versions, signer key ids;
//! [`super::diagnostics`]) and the files it uploaded, each downloadable
//! through the console.

use super::super::dispatch::{self, encode};
use super::super::html::{self, Section};
use super::super::session::Operator;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::Value;

/// `GET /console/things/{name}`.
pub(in super::super) async fn page(op: Operator, Path(name): Path<String>) -> Response {
    let thing = match dispatch::get(&op.api, &format!("/things/{}", encode(&name))).await {
        Ok(t) => t,
        Err(e) => {
            let code = e.status;
            return (
                code,
                html::page("Device", Section::None, &op.session, html::failure(&e)),
            )
                .into_response();
        }
    };
    let connectivity = dispatch::send(
        &op.api,
        Method::POST,
        &format!("/things/{}/connectivity-data", encode(&name)),
        None,
    )
    .await;
    let history = dispatch::get(&op.api, &format!("/things/{}/jobs", encode(&name))).await;
    let groups = dispatch::get(&op.api, &format!("/things/{}/thing-groups", encode(&name))).await;
    let uploads = dispatch::get(&op.api, &format!("/uploads?thingName={}", encode(&name))).await;
    let diagnostics = match &uploads {
        Ok(u) => {
            let rows = u.get("uploads").and_then(Value::as_array);
            let jobs: Vec<&str> = history
                .as_ref()
                .ok()
                .and_then(|h| h.get("executionSummaries").and_then(Value::as_array))
                .map(|a| {
                    a.iter()
                        .rev()
                        .filter_map(|r| r.get("jobId").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            let rows = rows.map_or(&[][..], Vec::as_slice);
            Some(super::diagnostics::section(&op, rows, &jobs).await)
        }
        Err(_) => None,
    };
    let attributes = thing
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let body = html! {
        dl.facts {
            dt { "Connection" }
            dd {
                @match &connectivity {
                    Ok(c) if c.get("connected").and_then(Value::as_bool) == Some(true) => span.badge.ok { "ONLINE" },
                    Ok(_) => span.badge.muted { "OFFLINE" },
                    Err(e) => (html::failure(e)),
                }
            }
            dt { "Groups" }
            dd {
                @match &groups {
                    Ok(g) => {
                        @let names: Vec<&str> = g.get("thingGroups").and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.get("groupName").and_then(Value::as_str)).collect()).unwrap_or_default();
                        @if names.is_empty() { "none" }
                        @for (i, n) in names.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href={"/console/groups/" (encode(n))} { (n) }
                        }
                    },
                    Err(e) => (html::failure(e)),
                }
            }
        }
        h2 { "Attributes" }
        @if attributes.is_empty() {
            p { "None reported." }
        } @else {
            dl.facts {
                @for (k, v) in &attributes {
                    dt { (k) } dd { (v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())) }
                }
            }
        }
        h2 { "Execution history" }
        @match &history {
            Err(e) => (html::failure(e)),
            Ok(h) => {
                @let rows = h.get("executionSummaries").and_then(Value::as_array).cloned().unwrap_or_default();
                @if rows.is_empty() { p { "No executions." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Job" } th scope="col" { "Status" } th scope="col" { "Queued" } th scope="col" { "Last update" } } }
                        tbody {
                            @for r in rows.iter().rev() {
                                @let job = r.get("jobId").and_then(Value::as_str).unwrap_or("");
                                @let s = r.get("jobExecutionSummary").cloned().unwrap_or_default();
                                tr {
                                    td { a href={"/console/jobs/" (encode(job))} { (job) } }
                                    td { (html::status(s.get("status").and_then(Value::as_str).unwrap_or(""))) }
                                    td { (html::time(s.get("queuedAt").and_then(Value::as_i64))) }
                                    td { (html::time(s.get("lastUpdatedAt").and_then(Value::as_i64))) }
                                }
                            }
                        }
                    } }
                }
            }
        }
        @if let Some(d) = diagnostics {
            h2 { "Last diagnostics" }
            (d)
        }
        h2 { "Uploads" }
        @match &uploads {
            Err(e) if e.status == StatusCode::NOT_FOUND => p { "This service has no upload area." },
            Err(e) => (html::failure(e)),
            Ok(u) => {
                @let rows = u.get("uploads").and_then(Value::as_array).cloned().unwrap_or_default();
                @if rows.is_empty() { p { "No uploads." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "File" } th scope="col" { "Job" } th scope="col" { "Size (bytes)" } th scope="col" { "Uploaded" } } }
                        tbody {
                            @for r in &rows {
                                @let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                                tr {
                                    td { a href={"/console/uploads/" (encode(&s("thingName"))) "/" (encode(&s("jobId"))) "/" (encode(&s("name")))} download { (s("name")) } }
                                    td { a href={"/console/jobs/" (encode(&s("jobId")))} { (s("jobId")) } }
                                    td { (r.get("size").and_then(Value::as_u64).unwrap_or(0)) }
                                    td { (html::time(r.get("uploadedAt").and_then(Value::as_i64))) }
                                }
                            }
                        }
                    } }
                }
            }
        }
    };
    html::page(&format!("Device {name}"), Section::None, &op.session, body).into_response()
}

/// `GET /console/uploads/{thing}/{job}/{name}`: the API's download of a
/// device's upload, streamed through.
pub(in super::super) async fn upload(
    op: Operator,
    Path((thing, job, name)): Path<(String, String, String)>,
) -> Response {
    let uri = format!(
        "/uploads/{}/{}/{}",
        encode(&thing),
        encode(&job),
        encode(&name)
    );
    match Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Body::empty())
    {
        Ok(r) => dispatch::raw(&op.api, r).await,
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}
