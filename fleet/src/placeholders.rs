//! Placeholders in job documents (`${aws:iot:s3-presigned-url:…}`,
//! `${jobhost:upload-url:…}`, `${jobhost:csr-url}`), which the device API
//! replaces with fresh presigned URLs at every delivery ([`Delivery`]).
//! The stores decide what a placeholder becomes (their `presign`); this
//! module is the one walk over the document and the one scan of a string,
//! so that every kind is found in the same places (any string value, at
//! any depth) and an unterminated one is left alone the same way.

use crate::artifacts::{self, Artifacts};
use crate::certificates::{self, CertificateAuthority};
use crate::uploads::{self, Uploads};
use serde_json::Value;
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

/// What resolves the placeholders of a document on its way to a device:
/// each kind of placeholder is resolved when its store is here, and left
/// as written otherwise.
#[derive(Debug, Default, Clone)]
pub struct Delivery {
    /// Presigns `${aws:iot:s3-presigned-url:<artifact URL>}` (downloads).
    pub artifacts: Option<Arc<Artifacts>>,
    /// Turns `${jobhost:upload-url:<name>}` into a PUT URL for the
    /// delivering thing and job.
    pub uploads: Option<Arc<Uploads>>,
    /// Turns `${jobhost:csr-url}` into a CSR URL for the delivered
    /// execution, in rotation documents only.
    pub ca: Option<Arc<CertificateAuthority>>,
}

impl Delivery {
    /// `document` as the device `thing` gets it for execution `execution`
    /// of job `job_id` at `now`, in one walk over its strings:
    ///
    /// - artifact placeholders presigned ([`Artifacts::presign`]);
    /// - in a rotation document, the CSR placeholder turned into a URL for
    ///   that execution ([`CertificateAuthority::presign`]);
    /// - upload placeholders turned into PUT URLs for that thing and job
    ///   ([`Uploads::presign`]).
    ///
    /// URLs are fresh at every delivery. A placeholder that cannot be
    /// resolved is left as written (and logged): the device fails on it and
    /// says so, which is clearer than a silently rewritten document.
    pub fn resolve(
        &self,
        document: &Value,
        thing: &str,
        job_id: &str,
        execution: u64,
        now: i64,
    ) -> Value {
        self.resolve_with_ttl(document, thing, job_id, execution, None, now)
    }

    /// [`Delivery::resolve`], with the artifact URLs valid for `url_ttl`
    /// when given: the job's `presignedUrlConfig.expiresInSec`, which in
    /// AWS governs exactly these (S3) URLs. Upload and CSR URLs keep their
    /// stores' TTL.
    pub fn resolve_with_ttl(
        &self,
        document: &Value,
        thing: &str,
        job_id: &str,
        execution: u64,
        url_ttl: Option<Duration>,
        now: i64,
    ) -> Value {
        let operation = document.get("operation").and_then(|o| o.as_str());
        let rotation = operation == Some(certificates::ROTATION_OPERATION);
        let refused = Cell::new(false);
        let resolved = map_strings(document, &|s| {
            let mut s = s.to_owned();
            if let Some(artifacts) = &self.artifacts {
                s = presign_artifacts(artifacts, &s, url_ttl, now);
            }
            if let Some(ca) = &self.ca {
                if s.contains(certificates::PLACEHOLDER) {
                    if rotation {
                        s = csr_url(ca, &s, thing, job_id, execution, now);
                    } else {
                        refused.set(true);
                    }
                }
            }
            if let Some(uploads) = &self.uploads {
                s = upload_urls(uploads, &s, thing, job_id, now);
            }
            s
        });
        if refused.get() {
            tracing::warn!(
                thing,
                job_id,
                operation,
                "leaving a CSR-URL placeholder unresolved: only {} documents get one",
                certificates::ROTATION_OPERATION
            );
        }
        resolved
    }
}

/// `s` with every `${aws:iot:s3-presigned-url:<url>}` replaced by a
/// presigned URL (valid for `ttl`, or the store's TTL); placeholders
/// naming URLs that are not our artifacts are kept.
fn presign_artifacts(artifacts: &Artifacts, s: &str, ttl: Option<Duration>, now: i64) -> String {
    replace(s, artifacts::PLACEHOLDER_PREFIX, |url| {
        let signed = artifacts.presign_for(url, now, ttl);
        if signed.is_none() {
            tracing::warn!(
                url,
                base = artifacts.base(),
                "leaving a presigned-URL placeholder unresolved: the URL is not an artifact of this server"
            );
        }
        signed
    })
}

/// `s` with [`certificates::PLACEHOLDER`] replaced by a CSR URL for
/// execution `execution` of (thing, job); kept for an invalid thing or job.
/// Only called for rotation documents (`crate::certificates` says why).
fn csr_url(
    ca: &CertificateAuthority,
    s: &str,
    thing: &str,
    job_id: &str,
    execution: u64,
    now: i64,
) -> String {
    match ca.presign(thing, job_id, execution, now) {
        Some(url) => s.replace(certificates::PLACEHOLDER, &url),
        None => {
            tracing::warn!(
                thing,
                job_id,
                "leaving a CSR-URL placeholder unresolved: invalid thing or job"
            );
            s.to_owned()
        }
    }
}

/// `s` with every `${jobhost:upload-url:<name>}` replaced by a PUT URL for
/// `thing` and `job_id`; a placeholder with an invalid name is kept.
fn upload_urls(uploads: &Uploads, s: &str, thing: &str, job_id: &str, now: i64) -> String {
    replace(s, uploads::PLACEHOLDER_PREFIX, |name| {
        let url = uploads.presign(thing, job_id, name, now);
        if url.is_none() {
            let why = uploads::check_name(name)
                .err()
                .map_or_else(|| "invalid thing or job".to_owned(), |e| e.to_string());
            tracing::warn!(
                thing,
                job_id,
                "leaving an upload-URL placeholder unresolved: {why}"
            );
        }
        url
    })
}

/// `document` with every string value, at any depth, replaced by `f` of
/// it; keys, numbers and the shape are kept.
fn map_strings(document: &Value, f: &dyn Fn(&str) -> String) -> Value {
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
fn replace(s: &str, prefix: &str, f: impl Fn(&str) -> Option<String>) -> String {
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
