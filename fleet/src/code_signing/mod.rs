//! `${aws:iot:code-sign-signature:<artifact url>}`: the placeholder AWS IoT
//! uses for a code-signed job, which becomes the artifact's `codesign`
//! object (the operator's signature stored with the artifact,
//! `jobhost artifact sign`, `crate::artifacts`).
//!
//! It is replaced when the job is created (CreateJob), as AWS does it (its
//! console writes the signature into a new document then), not at every
//! delivery like the presigned-URL placeholder:
//!
//! - a job that names an artifact that does not exist, or is not signed, is
//!   refused there and then (400 naming it), not found out device by
//!   device as a FAILED execution;
//! - every device of the job verifies the same signature, and so installs
//!   the same bytes: an artifact replaced in the middle of a rollout is
//!   refused by the devices still to come (the signature pinned at
//!   creation is for the old file), rather than half the fleet getting one
//!   file and half the other;
//! - GetJobDocument and DescribeJob show what devices get.
//!
//! The reference is the artifact URL, as in the presigned-URL placeholder
//! (`<base>/artifacts/<name>`); the placeholder must be a whole JSON string
//! value, since an object replaces it. The rest of the document's text is
//! kept as the operator wrote it: only the placeholder strings are replaced.

use crate::artifacts::{ArtifactError, Artifacts};
use serde_json::Value;
use std::collections::BTreeMap;

/// What AWS writes around a reference to have its signature inserted.
pub const PLACEHOLDER_PREFIX: &str = "${aws:iot:code-sign-signature:";

/// The placeholder for the artifact at `url`.
pub fn placeholder(url: &str) -> String {
    format!("{PLACEHOLDER_PREFIX}{url}}}")
}

/// Why a document's code-sign placeholders cannot be replaced.
#[derive(Debug, thiserror::Error)]
pub enum CodeSignError {
    /// The placeholder is inside a longer string, or a key.
    #[error(
        "the code-sign placeholder in {text:?} must be a whole JSON string value: it is replaced \
         by the artifact's codesign object"
    )]
    NotAValue {
        /// The string (or key) it is in.
        text: String,
    },
    /// The reference is not one of this server's artifact URLs.
    #[error(
        "{reference:?} in a code-sign placeholder is not an artifact of this server: write \
         ${{aws:iot:code-sign-signature:{base}/artifacts/<name>}}"
    )]
    NotOurs {
        /// The reference as written.
        reference: String,
        /// This server's base URL.
        base: String,
    },
    /// The artifact is missing, unsigned, or its signature unreadable.
    #[error("code-sign placeholder for {url}: {source}")]
    Artifact {
        /// The artifact URL.
        url: String,
        /// Why.
        #[source]
        source: ArtifactError,
    },
}

/// `text` (a JSON document) with every code-sign placeholder replaced by
/// its artifact's codesign object; `None` when it has none (the document
/// stays byte for byte as it is).
pub fn substitute(text: &str, artifacts: &Artifacts) -> Result<Option<String>, CodeSignError> {
    let Ok(document) = serde_json::from_str::<Value>(text) else {
        // Not JSON: the store refuses it, saying why.
        return Ok(None);
    };
    let mut references = Vec::new();
    collect(&document, &mut references)?;
    if references.is_empty() {
        return Ok(None);
    }
    let mut codesigns = BTreeMap::new();
    for reference in references {
        let name = artifacts
            .name_of(&reference)
            .ok_or_else(|| CodeSignError::NotOurs {
                reference: reference.clone(),
                base: artifacts.base().to_owned(),
            })?;
        let codesign = artifacts
            .codesign_of(name)
            .map_err(|source| CodeSignError::Artifact {
                url: reference.clone(),
                source,
            })?;
        codesigns.insert(placeholder(&reference), codesign.to_json());
    }
    let spliced = splice(text, &codesigns);
    // The splice keeps the operator's text; it must mean exactly what
    // replacing the values does.
    let expected = replace_values(&document, &codesigns);
    match serde_json::from_str::<Value>(&spliced) {
        Ok(parsed) if parsed == expected => Ok(Some(spliced)),
        _ => {
            tracing::warn!("code-sign placeholders replaced in a re-serialised document");
            Ok(Some(expected.to_string()))
        }
    }
}

/// The references of every code-sign placeholder in `value`, refusing one
/// that is not a whole string value.
fn collect(value: &Value, out: &mut Vec<String>) -> Result<(), CodeSignError> {
    match value {
        Value::String(s) if s.contains(PLACEHOLDER_PREFIX) => {
            let reference = s
                .strip_prefix(PLACEHOLDER_PREFIX)
                .and_then(|rest| rest.strip_suffix('}'))
                .filter(|r| !r.is_empty() && !r.contains('}') && !r.contains(PLACEHOLDER_PREFIX))
                .ok_or_else(|| CodeSignError::NotAValue { text: s.clone() })?;
            out.push(reference.to_owned());
        }
        Value::Array(items) => {
            for item in items {
                collect(item, out)?;
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if key.contains(PLACEHOLDER_PREFIX) {
                    return Err(CodeSignError::NotAValue { text: key.clone() });
                }
                collect(item, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `value` with each string value that is a key of `by` replaced by its
/// value there.
fn replace_values(value: &Value, by: &BTreeMap<String, Value>) -> Value {
    match value {
        Value::String(s) => by.get(s).cloned().unwrap_or_else(|| value.clone()),
        Value::Array(items) => Value::Array(items.iter().map(|v| replace_values(v, by)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), replace_values(v, by)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `text` with every JSON string token that is a value (not a key) and
/// whose content is a key of `by` replaced by that value's compact JSON.
/// `text` is valid JSON, so its string tokens are found by their quotes
/// and escapes alone.
fn splice(text: &str, by: &BTreeMap<String, Value>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 512 * by.len());
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        i += 1;
        let token = &text[start..i.min(text.len())];
        let is_key = text[i.min(text.len())..].trim_start().starts_with(':');
        let replacement = serde_json::from_str::<String>(token)
            .ok()
            .filter(|_| !is_key)
            .and_then(|content| by.get(&content));
        if let Some(value) = replacement {
            out.push_str(&text[copied..start]);
            out.push_str(&value.to_string());
            copied = i;
        }
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests;
