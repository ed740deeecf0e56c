//! The page layout and the pieces pages share. Everything is built with
//! maud's `html!`, which escapes every interpolated value: a thing name or
//! a statusDetails value with `<script>` in it is shown as text. Nothing
//! here uses `PreEscaped` on data.

use super::csrf::FIELD;
use super::dispatch::ApiFailure;
use super::session::Session;
use axum::response::Html;
use maud::{html, Markup, DOCTYPE};
use time::format_description::well_known::Rfc3339;

/// The sections of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Overview,
    Jobs,
    NewJob,
    Groups,
    Artifacts,
    None,
}

const NAV: [(Section, &str, &str); 5] = [
    (Section::Overview, "/console/", "Overview"),
    (Section::Jobs, "/console/jobs", "Jobs"),
    (Section::NewJob, "/console/jobs/new", "New job"),
    (Section::Groups, "/console/groups", "Groups"),
    (Section::Artifacts, "/console/artifacts", "Artifacts"),
];

/// A whole console page: skip link, header with navigation and logout,
/// `main` landmark holding `body`.
pub(super) fn page(title: &str, section: Section, session: &Session, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        a.brand href="/console/" { "jobhost-fleet" }
                        nav aria-label="Console" {
                            ul {
                                @for (s, href, label) in NAV {
                                    li {
                                        @if s == section {
                                            a href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        form.logout method="post" action="/console/logout" {
                            (csrf_field(session))
                            button type="submit" { "Log out" }
                        }
                    }
                    main #main tabindex="-1" {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

/// A page without navigation (login, refusals).
pub(super) fn bare_page(title: &str, message: &str) -> Html<String> {
    bare(title, html! { p { (message) } })
}

/// A page without navigation, around `body`.
pub(super) fn bare(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body.bare {
                    main #main {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · jobhost-fleet" }
            link rel="stylesheet" href=(super::assets::CSS_PATH);
            script src=(super::assets::JS_PATH) defer {}
        }
    }
}

/// The hidden field with the session's CSRF token, for every form that
/// changes something.
pub(super) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(session.csrf); }
}

/// An API refusal, announced to screen readers (`role=alert`).
pub(super) fn failure(e: &ApiFailure) -> Markup {
    html! {
        div.error role="alert" {
            strong { (e.kind) } ": " (e.message)
        }
    }
}

/// A status as text in a coloured badge: the colour helps, the word says.
pub(super) fn status(status: &str) -> Markup {
    let class = match status {
        "SUCCEEDED" | "COMPLETED" => "ok",
        "FAILED" | "TIMED_OUT" | "REJECTED" => "bad",
        "CANCELED" | "REMOVED" | "DELETION_IN_PROGRESS" => "muted",
        "IN_PROGRESS" => "busy",
        _ => "wait",
    };
    html! { span class={"badge " (class)} { (status) } }
}

/// A timestamp (seconds since the epoch) as RFC 3339 UTC, "—" for none.
pub(super) fn time(ts: Option<i64>) -> Markup {
    let text = ts
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok());
    match text {
        Some(t) => html! { time datetime=(t) { (t.replace('T', " ").trim_end_matches('Z')) } },
        None => html! { "—" },
    }
}

/// The last segment of an ARN (`…:thing/dev1` → `dev1`).
pub(super) fn arn_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}
