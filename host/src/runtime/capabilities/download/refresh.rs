//! A fresh URL for one that expired.
//!
//! The service replaces presigned placeholders at every delivery of a job
//! document, so the document fetched again holds fresh URLs. Which one
//! replaces the URL the plugin asked for? The one at the same place: the
//! plugin got the URL from its document, so it appears there verbatim, and
//! the JSON path where it appears is the same in both documents. A URL the
//! plugin made up itself appears nowhere and gets no refresh.

use serde_json::Value;

/// The string in `fresh` at the first place where `stale` holds `url`, when
/// it differs from `url`.
pub(super) fn fresh_url(stale: &str, fresh: &str, url: &str) -> Option<String> {
    let stale: Value = serde_json::from_str(stale).ok()?;
    let fresh: Value = serde_json::from_str(fresh).ok()?;
    let path = find(&stale, url)?;
    let replacement = fresh.pointer(&path)?.as_str()?;
    (replacement != url).then(|| replacement.to_owned())
}

/// The JSON pointer of the first string equal to `url`.
fn find(value: &Value, url: &str) -> Option<String> {
    match value {
        Value::String(s) if s == url => Some(String::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find(v, url).map(|rest| format!("/{i}{rest}"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            find(v, url).map(|rest| format!("/{}{rest}", k.replace('~', "~0").replace('/', "~1")))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_at_the_same_place_in_the_fresh_document() {
        let stale = r#"{"operation":"x","files":[{"url":"https://h/a?sig=1"},{"a/b":{"url":"https://h/b?sig=1"}}]}"#;
        let fresh = r#"{"operation":"x","files":[{"url":"https://h/a?sig=2"},{"a/b":{"url":"https://h/b?sig=2"}}]}"#;
        assert_eq!(
            fresh_url(stale, fresh, "https://h/b?sig=1").as_deref(),
            Some("https://h/b?sig=2")
        );
        assert_eq!(
            fresh_url(stale, fresh, "https://h/a?sig=1").as_deref(),
            Some("https://h/a?sig=2")
        );
    }

    #[test]
    fn nothing_for_a_url_not_in_the_document_or_unchanged() {
        let doc = r#"{"url":"https://h/a?sig=1"}"#;
        assert_eq!(fresh_url(doc, doc, "https://h/a?sig=1"), None);
        assert_eq!(
            fresh_url(doc, r#"{"url":"https://h/a?sig=2"}"#, "https://h/other"),
            None
        );
        assert_eq!(fresh_url(doc, r#"{"url":7}"#, "https://h/a?sig=1"), None);
        assert_eq!(fresh_url(doc, "not json", "https://h/a?sig=1"), None);
    }
}
