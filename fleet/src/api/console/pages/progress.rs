//! A job's progress from its execution counts (DescribeJob's
//! `jobProcessDetails`): a stacked bar drawn as SVG (no inline style, which
//! the Content-Security-Policy forbids) with the same numbers in text.

use maud::{html, Markup};
use serde_json::Value;

/// The counts a bar shows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(in super::super) struct Counts {
    pub succeeded: u64,
    pub failed: u64,
    pub in_progress: u64,
    pub queued: u64,
    /// Canceled and removed.
    pub other: u64,
}

impl Counts {
    /// From DescribeJob's `jobProcessDetails`.
    pub(in super::super) fn of(details: &Value) -> Self {
        let n = |key: &str| details.get(key).and_then(Value::as_u64).unwrap_or(0);
        Counts {
            succeeded: n("numberOfSucceededThings"),
            failed: n("numberOfFailedThings")
                + n("numberOfTimedOutThings")
                + n("numberOfRejectedThings"),
            in_progress: n("numberOfInProgressThings"),
            queued: n("numberOfQueuedThings"),
            other: n("numberOfCanceledThings") + n("numberOfRemovedThings"),
        }
    }

    pub(in super::super) fn total(&self) -> u64 {
        self.succeeded + self.failed + self.in_progress + self.queued + self.other
    }

    /// The counts in words, e.g. "1 of 2 done: 1 succeeded, 0 failed".
    pub(in super::super) fn text(&self) -> String {
        let done = self.succeeded + self.failed + self.other;
        let mut text = format!(
            "{done} of {} done: {} succeeded, {} failed",
            self.total(),
            self.succeeded,
            self.failed
        );
        if self.other > 0 {
            text.push_str(&format!(", {} canceled", self.other));
        }
        if self.in_progress > 0 {
            text.push_str(&format!(", {} in progress", self.in_progress));
        }
        if self.queued > 0 {
            text.push_str(&format!(", {} queued", self.queued));
        }
        text
    }
}

/// The bar and its text.
pub(in super::super) fn bar(counts: &Counts) -> Markup {
    let total = counts.total().max(1) as f64;
    let parts = [
        (counts.succeeded, "#116329"),
        (counts.failed, "#a40e26"),
        (counts.other, "#6639ba"),
        (counts.in_progress, "#9a6700"),
    ];
    let mut x = 0.0;
    let mut rects = Vec::new();
    for (n, colour) in parts {
        let w = 100.0 * n as f64 / total;
        if n > 0 {
            rects.push((x, w, colour));
        }
        x += w;
    }
    html! {
        span.progress {
            svg.bar viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" focusable="false" {
                rect x="0" y="0" width="100" height="10" fill="#eaeef2" {}
                @for (x, w, colour) in &rects {
                    rect x=(format!("{x:.2}")) y="0" width=(format!("{w:.2}")) height="10" fill=(colour) {}
                }
            }
            span { (counts.text()) }
        }
    }
}
