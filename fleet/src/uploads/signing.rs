//! Presigned upload URLs: what they look like, how they are signed and
//! checked, and the document placeholder that asks for one.

use super::{check_name, check_target, Uploads};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What an operator writes into a job document to have an upload URL made
/// for each delivery: `${jobhost:upload-url:<name>}`.
pub const PLACEHOLDER_PREFIX: &str = "${jobhost:upload-url:";

impl Uploads {
    /// The unsigned URL of upload (thing, job, name).
    pub fn url_of(&self, thing: &str, job_id: &str, name: &str) -> String {
        format!("{}/uploads/{thing}/{job_id}/{name}", self.base)
    }

    /// A URL that lets `thing` PUT `name` for `job_id` until `now` + the
    /// TTL; None when any part is invalid.
    pub fn presign(&self, thing: &str, job_id: &str, name: &str, now: i64) -> Option<String> {
        check_target(thing, job_id, name).ok()?;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let expires = now.saturating_add(ttl);
        let signature = hex::encode(
            self.mac(thing, job_id, name, expires)
                .finalize()
                .into_bytes(),
        );
        Some(format!(
            "{}?expires={expires}&signature={signature}",
            self.url_of(thing, job_id, name)
        ))
    }

    /// Whether `signature` is ours for a PUT of (thing, job, name) until
    /// `expires`, and `now` is not past `expires`. Constant-time, so a
    /// forger learns nothing from how long a refusal takes.
    pub fn verify(
        &self,
        thing: &str,
        job_id: &str,
        name: &str,
        expires: i64,
        signature: &str,
        now: i64,
    ) -> bool {
        if check_target(thing, job_id, name).is_err() || now > expires {
            return false;
        }
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        self.mac(thing, job_id, name, expires)
            .verify_slice(&signature)
            .is_ok()
    }

    /// `document` with every `${jobhost:upload-url:<name>}`, in any string
    /// value at any depth, replaced by a fresh URL for `thing` and
    /// `job_id`. A placeholder with an invalid name is left as it is (and
    /// logged): the device fails to upload to it and says so.
    pub fn resolve_placeholders(
        &self,
        document: &serde_json::Value,
        thing: &str,
        job_id: &str,
        now: i64,
    ) -> serde_json::Value {
        use serde_json::Value;
        match document {
            Value::String(s) => Value::String(self.resolve_in_str(s, thing, job_id, now)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.resolve_placeholders(v, thing, job_id, now))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve_placeholders(v, thing, job_id, now)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn resolve_in_str(&self, s: &str, thing: &str, job_id: &str, now: i64) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find(PLACEHOLDER_PREFIX) {
            out.push_str(&rest[..start]);
            let after = &rest[start + PLACEHOLDER_PREFIX.len()..];
            let Some(end) = after.find('}') else {
                // Unterminated: not a placeholder, keep the text.
                out.push_str(&rest[start..]);
                return out;
            };
            let name = &after[..end];
            match self.presign(thing, job_id, name, now) {
                Some(url) => out.push_str(&url),
                None => {
                    let why = check_name(name)
                        .err()
                        .map_or_else(|| "invalid thing or job".to_owned(), |e| e.to_string());
                    tracing::warn!(
                        thing,
                        job_id,
                        "leaving an upload-URL placeholder unresolved: {why}"
                    );
                    out.push_str(&rest[start..start + PLACEHOLDER_PREFIX.len() + end + 1]);
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// The MAC over `PUT|thing|job|name|expires`. None of the parts can
    /// hold a `|`, so no two inputs collide, and the method in front keeps
    /// an upload signature from ever being valid for anything else.
    fn mac(&self, thing: &str, job_id: &str, name: &str, expires: i64) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"));
        mac.update(format!("PUT|{thing}|{job_id}|{name}|{expires}").as_bytes());
        mac
    }
}
