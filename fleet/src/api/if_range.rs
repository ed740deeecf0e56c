//! `If-Range` (RFC 9110 §13.1.5), which tower-http's `ServeFile` does not
//! evaluate: it honours `Range` unconditionally. Artifacts can be replaced
//! under the same name, so a device resuming a download of the old file
//! must get the whole new file (200), never a splice of the two (206).

use axum::http::header::{IF_RANGE, RANGE};
use axum::http::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Rewrites `headers` so that `ServeFile` answers as If-Range requires:
/// when the condition fails, `Range` is dropped and the full file is sent.
///
/// We send `Last-Modified` and no `ETag`, so only a date can match. As the
/// RFC requires of a strong date validator, it counts only if the file was
/// modified at least one second before `now`: two uploads within one
/// second would share a date.
pub(super) fn apply(headers: &mut HeaderMap, modified: Option<SystemTime>, now: SystemTime) {
    let Some(condition) = headers.remove(IF_RANGE) else {
        return;
    };
    let given = condition
        .to_str()
        .ok()
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok());
    let holds = match (given, modified.map(whole_seconds)) {
        (Some(given), Some(actual)) => {
            given == actual && actual + Duration::from_secs(1) <= whole_seconds(now)
        }
        _ => false,
    };
    if !holds {
        headers.remove(RANGE);
    }
}

/// HTTP dates have whole seconds.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn headers(if_range: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RANGE, HeaderValue::from_static("bytes=0-9"));
        h.insert(IF_RANGE, HeaderValue::from_str(if_range).unwrap());
        h
    }

    #[test]
    fn range_survives_only_a_matching_older_date() {
        let modified = UNIX_EPOCH + Duration::from_millis(1_445_412_480_500);
        let date = httpdate::fmt_http_date(modified);
        let later = modified + Duration::from_secs(5);

        let mut h = headers(&date);
        apply(&mut h, Some(modified), later);
        assert!(h.contains_key(RANGE) && !h.contains_key(IF_RANGE));

        for stale in [
            "Wed, 21 Oct 2015 07:27:00 GMT",
            "\"etag\"",
            "W/\"x\"",
            "garbage",
        ] {
            let mut h = headers(stale);
            apply(&mut h, Some(modified), later);
            assert!(!h.contains_key(RANGE), "{stale}");
        }

        // Modified within the current second: the date is too weak.
        let mut h = headers(&date);
        apply(&mut h, Some(modified), modified);
        assert!(!h.contains_key(RANGE));

        // Without If-Range, Range is left alone.
        let mut h = headers(&date);
        h.remove(IF_RANGE);
        apply(&mut h, None, later);
        assert!(h.contains_key(RANGE));
    }
}
