//! Executions by status over time, for a job: a rollout's curve. Drawn on
//! the server as SVG (no charting library, no script): one step line per
//! status group, from the executions' queuedAt, startedAt and (for a
//! terminal one) lastUpdatedAt. The same numbers are in the table above it
//! and in the plot's text description, for readers who cannot see it.

use maud::{html, Markup};
use serde_json::Value;

/// What the plot needs of one execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in super::super) struct Execution {
    pub queued_at: i64,
    pub started_at: Option<i64>,
    /// When it reached its terminal status, and which group that is.
    pub ended: Option<(i64, Group)>,
}

/// The plotted status groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in super::super) enum Group {
    Queued,
    InProgress,
    Succeeded,
    Failed,
    Other,
}

const GROUPS: [(Group, &str, &str, &str); 5] = [
    (Group::Queued, "queued", "#57606a", "sw-queued"),
    (
        Group::InProgress,
        "in progress",
        "#9a6700",
        "sw-in_progress",
    ),
    (Group::Succeeded, "succeeded", "#116329", "sw-succeeded"),
    (
        Group::Failed,
        "failed, rejected or timed out",
        "#a40e26",
        "sw-failed",
    ),
    (Group::Other, "canceled or removed", "#6639ba", "sw-other"),
];

impl Execution {
    /// From a ListJobExecutionsForJob `jobExecutionSummary`.
    pub(in super::super) fn of(summary: &Value) -> Option<Self> {
        let status = summary.get("status")?.as_str()?;
        let last = summary.get("lastUpdatedAt")?.as_i64()?;
        let group = match status {
            "SUCCEEDED" => Some(Group::Succeeded),
            "FAILED" | "REJECTED" | "TIMED_OUT" => Some(Group::Failed),
            "CANCELED" | "REMOVED" => Some(Group::Other),
            _ => None,
        };
        Some(Execution {
            queued_at: summary.get("queuedAt")?.as_i64()?,
            started_at: summary.get("startedAt").and_then(Value::as_i64),
            ended: group.map(|g| (last, g)),
        })
    }

    fn group_at(&self, t: i64) -> Option<Group> {
        if t < self.queued_at {
            return None;
        }
        if let Some((end, group)) = self.ended {
            if t >= end {
                return Some(group);
            }
        }
        match self.started_at {
            Some(s) if t >= s => Some(Group::InProgress),
            _ => Some(Group::Queued),
        }
    }
}

/// The counts of each group at each moment something changed.
pub(in super::super) fn series(executions: &[Execution]) -> Vec<(i64, [u64; 5])> {
    let mut times: Vec<i64> = executions
        .iter()
        .flat_map(|e| [Some(e.queued_at), e.started_at, e.ended.map(|(t, _)| t)])
        .flatten()
        .collect();
    times.sort_unstable();
    times.dedup();
    times
        .into_iter()
        .map(|t| {
            let mut counts = [0u64; 5];
            for e in executions {
                if let Some(g) = e.group_at(t) {
                    counts[GROUPS.iter().position(|(x, ..)| *x == g).unwrap_or(0)] += 1;
                }
            }
            (t, counts)
        })
        .collect()
}

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 30.0;
const TOP: f64 = 10.0;
const RIGHT: f64 = 10.0;

/// The plot, with a legend and a text summary.
pub(in super::super) fn svg(executions: &[Execution]) -> Markup {
    let points = series(executions);
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return html! {};
    };
    let (t0, t1) = (first.0, last.0.max(first.0 + 1));
    let max = points
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let x = |t: i64| LEFT + (W - LEFT - RIGHT) * (t - t0) as f64 / (t1 - t0) as f64;
    let y = |n: u64| TOP + (H - TOP - BOTTOM) * (1.0 - n as f64 / max as f64);
    let line = |g: usize| {
        let mut d = String::new();
        for (i, (t, counts)) in points.iter().enumerate() {
            let n = counts[g];
            if i == 0 {
                d.push_str(&format!("M{:.1},{:.1}", x(*t), y(n)));
            } else {
                d.push_str(&format!(" H{:.1} V{:.1}", x(*t), y(n)));
            }
        }
        d.push_str(&format!(" H{:.1}", W - RIGHT));
        d
    };
    let summary = GROUPS
        .iter()
        .zip(last.1.iter())
        .map(|((_, name, ..), n)| format!("{n} {name}"))
        .collect::<Vec<_>>()
        .join(", ");
    let span = t1 - t0;
    html! {
        figure {
            svg.plot #plot viewBox=(format!("0 0 {W} {H}")) role="img" aria-labelledby="plot-title plot-desc" {
                title #plot-title { "Executions by status over time" }
                desc #plot-desc { "Over " (span) " seconds; now " (summary) "." }
                line x1=(LEFT) y1=(H - BOTTOM) x2=(W - RIGHT) y2=(H - BOTTOM) stroke="#57606a" {}
                line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(H - BOTTOM) stroke="#57606a" {}
                text x=(LEFT - 6.0) y=(TOP + 10.0) text-anchor="end" font-size="12" fill="#1b1f24" { (max) }
                text x=(LEFT - 6.0) y=(H - BOTTOM) text-anchor="end" font-size="12" fill="#1b1f24" { "0" }
                text x=(LEFT) y=(H - 8.0) font-size="12" fill="#1b1f24" { "0 s" }
                text x=(W - RIGHT) y=(H - 8.0) text-anchor="end" font-size="12" fill="#1b1f24" { (span) " s" }
                @for (i, (_, _, colour, _)) in GROUPS.iter().enumerate() {
                    @if points.iter().any(|(_, c)| c[i] > 0) {
                        path d=(line(i)) fill="none" stroke=(colour) stroke-width="2.5" {}
                    }
                }
            }
            figcaption {
                ul.legend {
                    @for (i, (_, name, _, class)) in GROUPS.iter().enumerate() {
                        li { span class={"swatch " (class)} {} (name) ": " (last.1[i]) }
                    }
                }
            }
        }
    }
}
