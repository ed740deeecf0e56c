//! A job's page: what DescribeJob says (status, targets, rollout, schedule,
//! retries and abort rules in words, whether an abort rule or an operator
//! canceled it, document), the live part (progress, how far the rollout
//! has gone, one page of the executions with each device's statusDetails
//! ([`super::executions`]), the plot), and the cancel form (CancelJob,
//! with `force` and a reason). When `GET /execution-changes?jobId=` pushes
//! an execution change, the page script applies it to that execution's row
//! (the event carries its status and statusDetails) and re-reads only the
//! counts (`/summary`, one DescribeJob); it re-reads the live part (two
//! requests) when the job ends, changes were missed, or the stream
//! (re)connects.

use super::super::csrf::{Change, Fields};
use super::super::dispatch::{self, encode, ApiFailure};
use super::super::html::{self, Section};
use super::super::session::Operator;
use super::executions;
use super::login::redirect;
use super::pager::{PageQuery, Trail};
use super::plot;
use super::progress::{bar, Counts};
use super::rollout;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{Method, Request};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

/// `?canceled=1` after a cancel; `?page=…` for a later page of
/// executions ([`super::pager`]).
#[derive(Debug, Default, Deserialize)]
pub(in super::super) struct Notice {
    #[serde(default)]
    canceled: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

/// `GET /console/jobs/{id}`.
pub(in super::super) async fn page(
    op: Operator,
    Path(id): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    let notice = n.canceled.is_some().then_some("Cancel requested.");
    let at = Trail::parse(n.page.as_deref());
    render(&op, &id, &at, &Fields::default(), None, notice).await
}

/// `GET /console/jobs/{id}/live?page=`: the live part alone, for the
/// script.
pub(in super::super) async fn live(
    op: Operator,
    Path(id): Path<String>,
    Query(at): Query<PageQuery>,
) -> Html<String> {
    Html(live_part(&op, &id, &at.trail()).await.into_string())
}

/// `GET /console/jobs/{id}/summary`: the job's status and counts alone
/// (one DescribeJob), which the script re-reads after applying an
/// execution change to its row.
pub(in super::super) async fn summary(op: Operator, Path(id): Path<String>) -> Html<String> {
    let markup = match dispatch::get(&op.api, &format!("/jobs/{}", encode(&id))).await {
        Ok(job) => summary_part(&job),
        Err(e) => html::failure(&e),
    };
    Html(markup.into_string())
}

/// `GET /console/jobs/{id}/changes`: the API's stream of this job's
/// execution changes (every one, IN_PROGRESS included, which the AWS events
/// of `GET /events` do not report).
pub(in super::super) async fn changes(op: Operator, Path(id): Path<String>) -> Response {
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("/execution-changes?jobId={}", encode(&id)))
        .body(Body::empty());
    match request {
        Ok(r) => dispatch::raw(&op.api, r).await,
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// `POST /console/jobs/{id}/cancel`: CancelJob with the form's reason.
pub(in super::super) async fn cancel(Path(id): Path<String>, change: Change) -> Response {
    let Change { operator, fields } = change;
    let mut body = json!({});
    for (field, key) in [("reason_code", "reasonCode"), ("comment", "comment")] {
        let value = fields.get(field);
        if !value.is_empty() {
            body[key] = json!(value);
        }
    }
    let force = fields.checked("force");
    let path = format!("/jobs/{}/cancel?force={force}", encode(&id));
    match dispatch::send(&operator.api, Method::PUT, &path, Some(&body)).await {
        Ok(_) => redirect(&format!("/console/jobs/{}?canceled=1", encode(&id))),
        Err(e) => render(&operator, &id, &Trail::default(), &fields, Some(e), None).await,
    }
}

async fn render(
    op: &Operator,
    id: &str,
    at: &Trail,
    form: &Fields,
    error: Option<ApiFailure>,
    notice: Option<&str>,
) -> Response {
    let job = match dispatch::get(&op.api, &format!("/jobs/{}", encode(id))).await {
        Ok(reply) => reply.get("job").cloned().unwrap_or_default(),
        Err(e) => {
            let code = e.status;
            let page = html::page("Job", Section::Jobs, &op.session, html::failure(&e));
            return (code, page).into_response();
        }
    };
    let s = |key: &str| {
        job.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let status = s("status");
    let cancellable = status == "IN_PROGRESS" || status == "SCHEDULED";
    let live = live_part(op, id, at).await;
    let body = html! {
        @if let Some(n) = notice { div.notice role="status" { (n) } }
        @if let Some(e) = &error { (html::failure(e)) }
        dl.facts {
            dt { "Job id" } dd { (id) }
            dt { "Status" } dd { (html::status(&status)) @if job.get("forceCanceled").and_then(Value::as_bool) == Some(true) { " (forced)" } }
            @if !s("description").is_empty() { dt { "Description" } dd { (s("description")) } }
            dt { "Targets" } dd { (targets(&job)) }
            @if !s("jobTemplateArn").is_empty() { dt { "Template" } dd { (s("jobTemplateArn")) } }
            dt { "Created" } dd { (html::time(job.get("createdAt").and_then(Value::as_i64))) }
            @if let Some(t) = job.get("completedAt").and_then(Value::as_i64) { dt { "Completed" } dd { (html::time(Some(t))) } }
            @if let Some(why) = rollout::cancellation(&job) { dt { "Canceled" } dd #cancellation { (why) } }
            dt { "Rollout" } dd { (rollout::rate(&job)) }
            @if let Some(when) = rollout::schedule(&job) { dt { "Schedule" } dd { (when) } }
            @if let Some(retries) = rollout::retries(&job) { dt { "Retries" } dd { (retries) } }
            dt { "Abort rules" } dd { (rollout::abort_rules(&job)) }
            dt { "Timeout" } dd {
                @match job.get("timeoutConfig").and_then(|t| t.get("inProgressTimeoutInMinutes")).and_then(Value::as_u64) {
                    Some(m) => { (m) " minutes in progress" },
                    None => "none",
                }
            }
        }
        h2 #executions-heading { "Executions" }
        p #live-state .live-state role="status" { "Live updates start when the page script runs." }
        section #live aria-labelledby="executions-heading"
            data-live-url={"/console/jobs/" (encode(id)) "/live" @if at.depth() > 0 { "?" (at.query()) }}
            data-summary-url={"/console/jobs/" (encode(id)) "/summary"}
            data-events-url={"/console/jobs/" (encode(id)) "/changes"} {
            (live)
        }
        @if cancellable {
            h2 { "Cancel this job" }
            form.stack method="post" action={"/console/jobs/" (encode(id)) "/cancel"} {
                (html::csrf_field(&op.session))
                div {
                    label for="reason_code" { "Reason code" span.hint { " — optional, A–Z, 0–9 and _ (e.g. BAD_FIRMWARE)" } }
                    input #reason_code type="text" name="reason_code" value=(form.get("reason_code"));
                }
                div {
                    label for="comment" { "Comment" span.hint { " — optional, kept with the job" } }
                    input #comment type="text" name="comment" value=(form.get("comment"));
                }
                div.checks {
                    label { input type="checkbox" name="force" value="true" checked[form.checked("force")]; "Force: also cancel executions already in progress" }
                }
                div { button.danger type="submit" { "Cancel job" } }
            }
        }
        h2 { "Document" }
        pre { (serde_json::to_string_pretty(job.get("document").unwrap_or(&Value::Null)).unwrap_or_default()) }
    };
    let code = error
        .as_ref()
        .map(|e| e.status)
        .unwrap_or(axum::http::StatusCode::OK);
    (
        code,
        html::page(&format!("Job {id}"), Section::Jobs, &op.session, body),
    )
        .into_response()
}

/// Progress, one page of the executions and the plot of that page: two
/// API requests, however many executions the job has.
async fn live_part(op: &Operator, id: &str, at: &Trail) -> Markup {
    let job = dispatch::get(&op.api, &format!("/jobs/{}", encode(id))).await;
    let rows = executions::read(op, id, at).await;
    let (job, rows) = match (job, rows) {
        (Ok(job), Ok(rows)) => (job, rows),
        (Err(e), _) | (_, Err(e)) => return html::failure(&e),
    };
    let total = Counts::of(
        job.pointer("/job/jobProcessDetails")
            .unwrap_or(&Value::Null),
    )
    .total();
    html! {
        div #summary { (summary_part(&job)) }
        @if rows.rows.is_empty() {
            p { "No executions yet." }
        } @else {
            (rows.table(id, at, total))
            h2 { "Executions over time" @if total > executions::PAGE { " (this page)" } }
            (plot::svg(&rows.points()))
        }
    }
}

/// The job's status, its counts as a bar, and how far its rollout has gone.
fn summary_part(job: &Value) -> Markup {
    let counts = Counts::of(
        job.pointer("/job/jobProcessDetails")
            .unwrap_or(&Value::Null),
    );
    let status = job
        .pointer("/job/status")
        .and_then(Value::as_str)
        .unwrap_or("");
    html! {
        p { "Job " (html::status(status)) " " (bar(&counts)) }
        @if let Some(released) = job.get("job").and_then(rollout::progress) { (released) }
    }
}

fn targets(job: &Value) -> Markup {
    let targets: Vec<&str> = job
        .get("targets")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    html! {
        @for (i, arn) in targets.iter().enumerate() {
            @if i > 0 { ", " }
            @if arn.contains(":thing/") {
                a href={"/console/things/" (encode(html::arn_name(arn)))} { (html::arn_name(arn)) }
            } @else if arn.contains(":thinggroup/") {
                a href={"/console/groups/" (encode(html::arn_name(arn)))} { "group " (html::arn_name(arn)) }
            } @else {
                (arn)
            }
        }
    }
}
