//! Page links for the console's paged tables (the jobs, a job's
//! executions, the overview's things): **First**, **Previous** and
//! **Next**.
//!
//! The API pages forward only: a reply's `nextToken` opens the page after
//! it, and there is no token for the page before. So a page's URL carries
//! its trail: the `nextToken`s that opened each page from the second to
//! this one, as the API issued them (opaque: the console never looks
//! inside a token). Next appends the reply's token, Previous drops the
//! last, First drops them all. A trail also says how many pages come
//! before this one, for "51–100 of N" in a table of fixed-size pages.

use super::super::dispatch::{decode, encode};
use maud::{html, Markup};
use serde::Deserialize;

/// The query parameter that holds a page's trail.
pub(in super::super) const PARAM: &str = "page";

/// `?page=…`, for a route whose only query is the trail.
#[derive(Debug, Default, Deserialize)]
pub(in super::super) struct PageQuery {
    #[serde(default)]
    page: Option<String>,
}

impl PageQuery {
    /// The trail it holds.
    pub(in super::super) fn trail(&self) -> Trail {
        Trail::parse(self.page.as_deref())
    }
}

/// The API tokens that opened the pages up to this one, first page
/// excluded: empty on the first page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(in super::super) struct Trail {
    tokens: Vec<String>,
}

impl Trail {
    /// The trail in a `page` parameter's value (as the query decoded it):
    /// each token percent-encoded, joined by commas (which encoding
    /// never leaves in a token). A malformed value is the first page.
    pub(in super::super) fn parse(value: Option<&str>) -> Trail {
        let tokens: Option<Vec<String>> = value
            .filter(|v| !v.is_empty())
            .map(|v| v.split(',').map(decode).collect())
            .unwrap_or(Some(Vec::new()));
        Trail {
            tokens: tokens.unwrap_or_default(),
        }
    }

    /// The `nextToken` to ask the API for this page with; None on the
    /// first page.
    pub(in super::super) fn token(&self) -> Option<&str> {
        self.tokens.last().map(String::as_str)
    }

    /// How many pages come before this one.
    pub(in super::super) fn depth(&self) -> usize {
        self.tokens.len()
    }

    /// The `page=…` query parameter that opens this page again ("" on the
    /// first page), for links that must stay on it.
    pub(in super::super) fn query(&self) -> String {
        Self::param(&self.tokens)
    }

    fn param(tokens: &[String]) -> String {
        if tokens.is_empty() {
            return String::new();
        }
        let joined: Vec<String> = tokens.iter().map(|t| encode(t)).collect();
        format!("{PARAM}={}", encode(&joined.join(",")))
    }

    /// First, Previous and Next links to `base` (a path that may have a
    /// query already) around this page, given the reply's `next` token;
    /// nothing when the whole list fits on one page. `what` names the
    /// pages for screen readers ("Pages of executions").
    pub(in super::super) fn links(&self, base: &str, next: Option<&str>, what: &str) -> Markup {
        if self.tokens.is_empty() && next.is_none() {
            return html! {};
        }
        let href = |tokens: &[String]| {
            let param = Self::param(tokens);
            match (param.is_empty(), base.contains('?')) {
                (true, _) => base.to_owned(),
                (false, true) => format!("{base}&{param}"),
                (false, false) => format!("{base}?{param}"),
            }
        };
        let before = self.tokens.len().saturating_sub(1);
        let next = next.map(|token| {
            let mut after = self.tokens.clone();
            after.push(token.to_owned());
            href(&after)
        });
        html! {
            nav.pager aria-label=(what) {
                @if !self.tokens.is_empty() {
                    a href=(href(&[])) rel="first" { "First page" }
                    a href=(href(&self.tokens[..before])) rel="prev" { "Previous page" }
                }
                @if let Some(next) = next {
                    a href=(next) rel="next" { "Next page" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value a browser's query decoding hands back for `param`.
    fn round_trip(param: &str) -> Trail {
        let value = param
            .strip_prefix("page=")
            .map(|v| decode(v).unwrap_or_default());
        Trail::parse(value.as_deref())
    }

    #[test]
    fn a_trail_survives_its_link_and_tokens_stay_as_issued() {
        let tokens = ["4c69", "dev:1,x", "a%b c"];
        let mut trail = Trail::default();
        for t in tokens {
            trail.tokens.push(t.to_owned());
            assert_eq!(round_trip(&trail.query()), trail);
        }
        assert_eq!(trail.token(), Some("a%b c"));
        assert_eq!(trail.depth(), 3);
        assert_eq!(Trail::parse(None), Trail::default());
        assert_eq!(
            Trail::parse(Some("%zz")),
            Trail::default(),
            "malformed: first page"
        );
    }

    #[test]
    fn links_go_back_one_page_and_forward_by_the_replys_token() {
        let first = Trail::default();
        assert!(first.links("/x", None, "Pages").into_string().is_empty());
        let links = first.links("/x?s=1", Some("T1"), "Pages").into_string();
        assert!(!links.contains("Previous"), "{links}");
        assert!(links.contains(r#"href="/x?s=1&amp;page=T1""#), "{links}");
        let third = Trail {
            tokens: vec!["T1".into(), "T2".into()],
        };
        let links = third.links("/x", Some("T3"), "Pages").into_string();
        assert!(links.contains(r#"rel="first">"#), "{links}");
        assert!(links.contains(r#"href="/x?page=T1" rel="prev""#), "{links}");
        assert!(
            links.contains(r#"href="/x?page=T1%2CT2%2CT3" rel="next""#),
            "{links}"
        );
    }
}
