//! A job's rollout, schedule, retries and abort rules as sentences, from
//! DescribeJob's AWS fields (`jobExecutionsRolloutConfig`,
//! `schedulingConfig`, `jobExecutionsRetryConfig`, `abortConfig`,
//! `scheduledJobRollouts`, `reasonCode`/`comment`) and this service's own
//! `jobhost.rollout` (how many targets were released): what an operator
//! reads, not the JSON.

use maud::{html, Markup};
use serde_json::Value;

/// The prefix of the `comment` the store writes when an abort rule
/// cancels a job (`store::rollout`): how a page tells an abort from an
/// operator's cancel.
const ABORT_COMMENT: &str = "aborted by abortConfig";

fn num(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Which executions a `failureType` counts, in words.
fn failures(kind: &str) -> &str {
    match kind {
        "ALL" => "FAILED, REJECTED or TIMED_OUT",
        other => other,
    }
}

/// The rollout's rate, in words.
pub(super) fn rate(job: &Value) -> Markup {
    let Some(r) = job
        .get("jobExecutionsRolloutConfig")
        .filter(|r| !r.is_null())
    else {
        return html! { "all targets at once" };
    };
    let max = num(r, "/maximumPerMinute");
    html! {
        @if let Some(base) = num(r, "/exponentialRate/baseRatePerMinute") {
            "starts at " (base) " per minute, multiplied by "
            (num(r, "/exponentialRate/incrementFactor").unwrap_or(1.0))
            @if let Some(n) = num(r, "/exponentialRate/rateIncreaseCriteria/numberOfNotifiedThings") {
                " each time " (n) " more targets were notified"
            }
            @if let Some(n) = num(r, "/exponentialRate/rateIncreaseCriteria/numberOfSucceededThings") {
                " each time " (n) " more succeeded"
            }
            ", up to " (max.unwrap_or(1000.0)) " per minute"
        } @else if let Some(max) = max {
            "at most " (max) " targets per minute"
        }
    }
}

/// How far the rollout has gone (`jobhost.rollout`), with a progress bar;
/// None for a job without a staged rollout.
pub(super) fn progress(job: &Value) -> Option<Markup> {
    let r = job.pointer("/jobhost/rollout")?;
    let released = num(r, "/releasedThings").unwrap_or(0.0);
    let unreleased = num(r, "/unreleasedThings").unwrap_or(0.0);
    let total = released + unreleased;
    Some(html! {
        p #rollout-progress .progress {
            progress value=(released) max=(total.max(1.0)) aria-label="Targets released" {}
            span {
                (released) " of " (total) " targets released"
                @if unreleased > 0.0 { ", " (unreleased) " still to release" }
                @if let Some(rate) = num(r, "/ratePerMinute") { ", now at " (rate) " per minute" }
                @if let Some(at) = r.get("lastReleasedAt").and_then(Value::as_i64) {
                    "; last release " (super::super::html::time(Some(at)))
                }
                "."
            }
        }
    })
}

/// The schedule (start, end, maintenance windows, the next windows); None
/// without one.
pub(super) fn schedule(job: &Value) -> Option<Markup> {
    let s = job.get("schedulingConfig").filter(|s| !s.is_null())?;
    let next: Vec<&str> = job
        .get("scheduledJobRollouts")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|w| text(w, "/startTime")).collect())
        .unwrap_or_default();
    Some(html! {
        @if let Some(start) = text(s, "/startTime") { "starts " (start) " UTC" }
        @if let Some(end) = text(s, "/endTime") {
            "; ends " (end) " UTC"
            @if let Some(b) = text(s, "/endBehavior") { " (then " (b.to_lowercase().replace('_', " ")) ")" }
        }
        @if let Some(windows) = s.get("maintenanceWindows").and_then(Value::as_array) {
            @for w in windows {
                "; releases only in windows opening at " code { (text(w, "/startTime").unwrap_or("")) }
                " for " (num(w, "/durationInMinutes").unwrap_or(0.0)) " minutes"
            }
        }
        @if !next.is_empty() { "; next windows: " (next.join(", ")) }
    })
}

/// The retry rules; None without any.
pub(super) fn retries(job: &Value) -> Option<Markup> {
    let list = job
        .pointer("/jobExecutionsRetryConfig/criteriaList")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())?;
    Some(html! {
        @for (i, c) in list.iter().enumerate() {
            @if i > 0 { "; " }
            "an execution that ends " (failures(text(c, "/failureType").unwrap_or("")))
            " runs again, up to " (num(c, "/numberOfRetries").unwrap_or(0.0)) " times"
        }
    })
}

/// The abort rules, one sentence each.
pub(super) fn abort_rules(job: &Value) -> Markup {
    let list: Vec<&Value> = job
        .pointer("/abortConfig/criteriaList")
        .and_then(Value::as_array)
        .map(|l| l.iter().collect())
        .unwrap_or_default();
    if list.is_empty() {
        return html! { "none" };
    }
    html! {
        ol #abort-rules .rules {
            @for c in list {
                li {
                    "Cancel the job once at least " (num(c, "/minNumberOfExecutedThings").unwrap_or(0.0))
                    " things have completed and " (num(c, "/thresholdPercentage").unwrap_or(0.0))
                    " % or more of them ended " (failures(text(c, "/failureType").unwrap_or("")))
                }
            }
        }
    }
}

/// Why a canceled job was canceled: an abort rule or an operator; None
/// for a job that was not.
pub(super) fn cancellation(job: &Value) -> Option<Markup> {
    let canceled = text(job, "/status") == Some("CANCELED")
        || text(job, "/status") == Some("DELETION_IN_PROGRESS");
    let code = text(job, "/reasonCode").unwrap_or("");
    let comment = text(job, "/comment").unwrap_or("");
    if !canceled && code.is_empty() && comment.is_empty() {
        return None;
    }
    Some(if comment.starts_with(ABORT_COMMENT) {
        html! {
            strong { "Aborted by an abort rule" } " (" (code) "): "
            (comment.trim_start_matches("aborted by "))
        }
    } else {
        html! {
            "Canceled by an operator"
            @if !code.is_empty() { ": " (code) }
            @if !comment.is_empty() { " — " (comment) }
        }
    })
}
