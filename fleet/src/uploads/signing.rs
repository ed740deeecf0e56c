//! Presigned upload URLs: what they look like, how they are signed and
//! checked, and the document placeholder that asks for one.

use super::{check_target, Uploads};

/// What a signature allows: a `PUT`, so that an upload URL can never pass
/// for another kind of presigned URL. The signed message is
/// `PUT|thing|job|name|expires` (`crate::presign`): URLs already handed
/// out depend on it.
fn parts<'a>(thing: &'a str, job_id: &'a str, name: &'a str) -> [&'a str; 4] {
    ["PUT", thing, job_id, name]
}

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
        let url = self.url_of(thing, job_id, name);
        self.signer.sign_url(&url, &parts(thing, job_id, name), now)
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
        check_target(thing, job_id, name).is_ok()
            && self
                .signer
                .verify(&parts(thing, job_id, name), expires, signature, now)
    }
}
