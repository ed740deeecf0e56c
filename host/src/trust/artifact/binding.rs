//! Which codesign signs which file of a job document.
//!
//! The rule: **a `codesign` object signs the `url` string beside it, in
//! the same JSON object**, at any depth of the document the plugin gets:
//!
//! ```json
//! {"operation": "download-file", "url": "https://…/fw.bin?…", "codesign": {…}, …}
//! {"operation": "…", "files": [{"fileName": "a.bin", "url": "https://…", "codesign": {…}}, …]}
//! ```
//!
//! A download is bound by the place its URL has in the document, found
//! where the document holds that URL under a `url` key. The host's
//! `download` capability looks the URL up before the transfer starts and
//! keeps what it found for the whole transfer, so a fresh presigned URL
//! fetched after a 401/403 (another string, at the same place) is held to
//! the same codesign.

use super::{ArtifactError, Codesign};
use serde_json::{Map, Value};

/// The operations whose documents name the file they install in `url`
/// (at the top, or in objects of their own inside `files`-like members):
/// with `[trust] require_artifact_signatures`, such a job is REJECTED
/// before it runs when a `url` has no codesign beside it ([`refusal`]).
/// Any other plugin's downloads are still held to the rule when they
/// happen.
pub const SIGNED_OPERATIONS: &[&str] = &["download-file", "install-application", "install-package"];

/// The `codesign` values `document` binds to `url`: for each object, at any
/// depth, whose `url` member is the string `url`, its `codesign` member if
/// it has one; in document order.
pub fn codesigns_for<'a>(document: &'a Value, url: &str) -> Vec<&'a Value> {
    let mut found = Vec::new();
    walk(document, &mut String::new(), &mut |object, _| {
        if object.get("url").and_then(Value::as_str) == Some(url) {
            if let Some(codesign) = object.get("codesign") {
                found.push(codesign);
            }
        }
    });
    found
}

/// Why a job of `operation` with `document` (as routed to its plugin) is
/// refused before it runs, if it is: for the [`SIGNED_OPERATIONS`], a
/// codesign beside a `url` that is malformed, or, when `require` is on
/// (`[trust] require_artifact_signatures`), a `url` with no codesign beside
/// it. Both are problems of the document that running it again would not
/// fix (REJECTED); a signature that fails to verify is found when the file
/// is downloaded, and that job ends FAILED.
pub fn refusal(require: bool, operation: &str, document: &Value) -> Option<String> {
    if !SIGNED_OPERATIONS.contains(&operation) {
        return None;
    }
    let mut first = None;
    walk(document, &mut String::new(), &mut |object, path| {
        if first.is_some() || !object.get("url").is_some_and(Value::is_string) {
            return;
        }
        // The pointer of the `url` member, which names the file.
        let at = format!("{path}/url");
        first = match object.get("codesign") {
            Some(codesign) => Codesign::from_json(codesign)
                .err()
                .map(|e| format!("the codesign beside {at} is malformed: {e}")),
            None if require => Some(format!(
                "{} (no `codesign` beside {at})",
                ArtifactError::Unsigned
            )),
            None => None,
        };
    });
    first
}

/// Calls `f` on every object of `value` with its JSON pointer, depth first
/// in document order.
fn walk<'a>(value: &'a Value, path: &mut String, f: &mut dyn FnMut(&'a Map<String, Value>, &str)) {
    match value {
        Value::Object(map) => {
            f(map, path);
            for (key, v) in map {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                walk(v, path, f);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                walk(v, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}
