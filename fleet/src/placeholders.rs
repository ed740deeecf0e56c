//! Placeholders in job documents (`${aws:iot:s3-presigned-url:…}`,
//! `${jobhost:upload-url:…}`, `${jobhost:csr-url}`), which the service
//! replaces with fresh presigned URLs at every delivery. The stores decide
//! what a placeholder becomes; this module is the one walk over the
//! document and the one scan of a string, so that every kind is found in
//! the same places (any string value, at any depth) and an unterminated
//! one is left alone the same way.

use serde_json::Value;

/// `document` with every string value, at any depth, replaced by `f` of
/// it; keys, numbers and the shape are kept.
pub(crate) fn map_strings(document: &Value, f: &dyn Fn(&str) -> String) -> Value {
    match document {
        Value::String(s) => Value::String(f(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| map_strings(v, f)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), map_strings(v, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `s` with every `<prefix><inner>}` replaced by `f(inner)`. Where `f`
/// gives None the placeholder is kept as written (the caller says why in
/// the log); an unterminated placeholder is not one, and kept too.
pub(crate) fn replace(s: &str, prefix: &str, f: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find(prefix) {
        out.push_str(&rest[..start]);
        let after = &rest[start + prefix.len()..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        match f(&after[..end]) {
            Some(replacement) => out.push_str(&replacement),
            None => out.push_str(&rest[start..start + prefix.len() + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
