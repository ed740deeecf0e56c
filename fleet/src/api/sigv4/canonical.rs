//! The canonical request and string to sign, built as botocore's
//! `SigV4Auth` builds them for a rest-json service (`botocore/auth.py`),
//! so that a request an AWS SDK signed canonicalises here to the same
//! bytes; and the `X-Amz-Date` format.

use super::{SignatureError, ALGORITHM};
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// What of a request the signature covers besides its body, as received.
pub(super) struct RequestParts<'a> {
    /// `GET`, `PUT`, ...
    pub method: &'a str,
    /// The path as received, still percent-encoded.
    pub path: &'a str,
    /// The query as received, without `?`.
    pub query: Option<&'a str>,
    /// Every header.
    pub headers: &'a HeaderMap,
    /// The request target's authority, standing in for `host` when there is
    /// no such header (HTTP/2 carries it as `:authority`).
    pub authority: Option<&'a str>,
}

/// The canonical request: method, URI, query, the signed headers with their
/// values, their names, and the payload hash, one per line.
pub(super) fn canonical_request(
    request: &RequestParts<'_>,
    signed_headers: &[String],
    signed_headers_line: &str,
    payload_hash: &str,
) -> Result<Vec<u8>, SignatureError> {
    let mut out = Vec::new();
    out.extend_from_slice(request.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(request.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(request.query).as_bytes());
    out.push(b'\n');
    for name in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        canonical_header_value(request, name, &mut out)?;
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers_line.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    Ok(out)
}

/// `AWS4-HMAC-SHA256`, the date, the scope and the canonical request's hash.
pub(super) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request));
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hash}")
}

/// RFC 3986's unreserved characters, which SigV4 never percent-encodes.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn percent_encode(bytes: &[u8], keep_slash: bool, out: &mut String) {
    for &b in bytes {
        if unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// The canonical URI: the path as received (still percent-encoded) with
/// `.`, `..` and empty segments removed, percent-encoded once more except
/// `/`. This is botocore's `quote(normalize_url_path(path), safe='/~')`:
/// every AWS service but S3 signs the path encoded twice, so a thing named
/// `a:b`, sent as `/things/a%3Ab`, is signed as `/things/a%253Ab`.
pub(super) fn canonical_uri(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    let mut normalized = String::from("/");
    normalized.push_str(&kept.join("/"));
    if path.ends_with('/') && !kept.is_empty() {
        normalized.push('/');
    }
    let mut out = String::with_capacity(normalized.len());
    percent_encode(normalized.as_bytes(), true, &mut out);
    out
}

/// The canonical query: each name and value percent-decoded and encoded
/// again (unreserved characters only, upper-case hex), sorted by name, then
/// value. botocore sends its query already encoded that way, so for its
/// requests this is only the sort.
pub(super) fn canonical_query(query: Option<&str>) -> String {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(name), reencode(value))
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

fn reencode(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    percent_encode(&percent_decode(component.as_bytes()), false, &mut out);
    out
}

/// `%XX` to its byte; anything else, a stray `%` included, as it is. A
/// `+` stays a `+` (SigV4 clients encode a space as `%20`).
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let escaped = (input[i] == b'%')
            .then(|| input.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(input[i]);
                i += 1;
            }
        }
    }
    out
}

/// A signed header's values, each with its runs of white space made one
/// space and trimmed, joined by commas; `host` from the authority when the
/// request has no such header.
fn canonical_header_value(
    request: &RequestParts<'_>,
    name: &str,
    out: &mut Vec<u8>,
) -> Result<(), SignatureError> {
    let mut values = request.headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        return match (name, request.authority) {
            ("host", Some(authority)) => {
                trim_all(authority.as_bytes(), out);
                Ok(())
            }
            _ => Err(SignatureError::AbsentHeader(name.to_owned())),
        };
    }
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        trim_all(value.as_bytes(), out);
    }
    Ok(())
}

fn trim_all(value: &[u8], out: &mut Vec<u8>) {
    let words = value
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty());
    for (i, word) in words.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(word);
    }
}

/// Seconds since the epoch of an `X-Amz-Date` (`20150830T123600Z`, UTC).
pub(super) fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let day = u8::try_from(digits(6..8)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let hms = |r| digits(r).and_then(|n| u8::try_from(n).ok());
    let clock = time::Time::from_hms(hms(9..11)?, hms(11..13)?, hms(13..15)?).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// `secs` since the epoch in the `X-Amz-Date` format, for messages.
pub(super) fn format_amz_date(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => secs.to_string(),
    }
}
