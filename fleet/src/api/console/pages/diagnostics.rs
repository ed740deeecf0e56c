//! A device's last diagnostics, on its page: the newest upload of a job
//! whose document's `operation` is `diagnostics` (the agent's plugin),
//! read through the API (`GET /uploads/…`) and parsed by [`bundle`]: the
//! agent's version and uptime, and its installed plugins with versions and
//! signer key ids as the agent reported them, with a link to the bundle.

use super::super::bundle::{self, MAX_PREFIX_BYTES};
use super::super::dispatch::{self, encode};
use super::super::html;
use super::super::session::Operator;
use axum::body::Body;
use axum::http::{Method, Request};
use futures_util::StreamExt;
use jobhost_protocol::diagnostics::Snapshot;
use maud::{html, Markup};
use serde_json::Value;

/// The operation of the agent's diagnostics plugin.
const OPERATION: &str = "diagnostics";

/// Jobs (newest first) with uploads whose documents are looked at to find a
/// diagnostics one: a device's page makes a bounded number of calls,
/// however many files it uploaded.
const JOBS_LOOKED_AT: usize = 10;

/// The section, from the thing's `uploads` (as `GET /uploads` lists them)
/// and the jobs of its execution history, newest first.
pub(super) async fn section(op: &Operator, uploads: &[Value], jobs: &[&str]) -> Markup {
    let Some(upload) = newest(op, uploads, jobs).await else {
        return html! { p { "No diagnostics bundle uploaded (a job with " code { "\"operation\": \"diagnostics\"" } " and an " code { "uploadUrl" } " makes one)." } };
    };
    let s = |k: &str| {
        upload
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (thing, job, name) = (s("thingName"), s("jobId"), s("name"));
    let href = format!(
        "/console/uploads/{}/{}/{}",
        encode(&thing),
        encode(&job),
        encode(&name)
    );
    let snapshot = read(op, &thing, &job, &name).await;
    html! {
        p {
            "From job " a href={"/console/jobs/" (encode(&job))} { (job) } ", uploaded "
            (html::time(upload.get("uploadedAt").and_then(Value::as_i64))) ": "
            a href=(href) download { "download " (name) }
            " (" (upload.get("size").and_then(Value::as_u64).unwrap_or(0)) " bytes)."
        }
        @match &snapshot {
            Err(why) => div.error role="alert" { "This bundle's snapshot cannot be shown: " (why) },
            Ok(snap) => (render(snap)),
        }
    }
}

/// The newest upload of the newest diagnostics job (by the order of the
/// thing's executions: upload times have a granularity of seconds), if any.
async fn newest<'a>(op: &Operator, uploads: &'a [Value], jobs: &[&str]) -> Option<&'a Value> {
    let of_job = |job: &str| {
        uploads
            .iter()
            .filter(|u| u.get("jobId").and_then(Value::as_str) == Some(job))
            .max_by_key(|u| u.get("uploadedAt").and_then(Value::as_i64))
    };
    let with_uploads = jobs.iter().filter_map(|j| Some((*j, of_job(j)?)));
    for (job, upload) in with_uploads.take(JOBS_LOOKED_AT) {
        let described = dispatch::get(&op.api, &format!("/jobs/{}", encode(job))).await;
        let operation = described
            .ok()
            .and_then(|d| d.pointer("/job/document/operation").cloned());
        if operation.as_ref().and_then(Value::as_str) == Some(OPERATION) {
            return Some(upload);
        }
    }
    None
}

/// The bundle's snapshot, reading at most [`MAX_PREFIX_BYTES`] of it.
async fn read(op: &Operator, thing: &str, job: &str, name: &str) -> Result<Snapshot, String> {
    let uri = format!(
        "/uploads/{}/{}/{}",
        encode(thing),
        encode(job),
        encode(name)
    );
    let request = Request::builder()
        .method(Method::GET)
        .uri(uri)
        .body(Body::empty())
        .map_err(|e| e.to_string())?;
    let response = dispatch::raw(&op.api, request).await;
    if !response.status().is_success() {
        return Err(format!("the API answered {}", response.status()));
    }
    let mut body = response.into_body().into_data_stream();
    let mut prefix = Vec::new();
    while prefix.len() < MAX_PREFIX_BYTES {
        match body.next().await {
            Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(format!("reading the bundle: {e}")),
            None => break,
        }
    }
    prefix.truncate(MAX_PREFIX_BYTES);
    // Unpacking is CPU work: off the async workers.
    tokio::task::spawn_blocking(move || bundle::snapshot(&prefix).map_err(|e| e.to_string()))
        .await
        .map_err(|e| format!("the reading task failed: {e}"))?
}

fn render(snap: &Snapshot) -> Markup {
    let or_unsigned = |s: &str| {
        if s.is_empty() {
            "unsigned".to_owned()
        } else {
            s.to_owned()
        }
    };
    html! {
        dl.facts {
            dt { "Agent version" } dd { (snap.agent_version) }
            dt { "Agent uptime" } dd { (snap.agent_uptime_secs) " s" }
            dt { "Broker" } dd {
                @if snap.broker_connected { "connected" } @else { "not connected" }
                @if !snap.broker_endpoint.is_empty() { " to " (snap.broker_endpoint) }
                ", " (snap.broker_reconnects) " reconnections"
            }
        }
        h3 { "Installed plugins" }
        @if snap.plugins.is_empty() {
            p { "None reported." }
        } @else {
            div.scroll { table #plugins {
                caption { "As the agent reported them in its last diagnostics bundle" }
                thead { tr {
                    th scope="col" { "Plugin" } th scope="col" { "Version" } th scope="col" { "Signer key id" }
                    th scope="col" { "Operations" } th scope="col" { "sha256" }
                } }
                tbody {
                    @for p in &snap.plugins {
                        tr data-plugin=(p.name) {
                            td { (p.name) }
                            td { (or_unsigned(&p.version)) }
                            td { (or_unsigned(&p.key_id)) }
                            td { (p.operations.join(", ")) }
                            td { code { (p.digest) } }
                        }
                    }
                }
            } }
        }
    }
}
