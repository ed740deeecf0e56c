//! `jobhost:plugin/download`: streaming HTTP(S) downloads into a granted,
//! writable directory.
//!
//! The body streams to a temporary file next to the destination while its
//! sha256 and size are checked; only a complete, matching file is renamed
//! into place, so a plugin never sees half a firmware image under the final
//! name. Paths go through `cap-std`, so a symlink planted inside the granted
//! directory cannot redirect the write outside it.
//!
//! Field networks drop: an interrupted download resumes where it stopped
//! (`Range` / `If-Range`), transient failures are retried with backoff, and
//! an expired presigned URL is replaced by a fresh one from the job document
//! fetched again (`transfer`, `refresh`). While the body streams, the
//! execution's statusDetails carry the progress ([`PROGRESS_KEY`]).
//!
//! A file the job document code-signs (a `codesign` beside its `url`) is
//! moved into place only when the signature verifies with a key of
//! `[trust]` and the body is the file it is for (`codesign`); the key is
//! reported as [`CODESIGN_KEY`].

//!
//! # Layout
//!
//! - `mod.rs`: the grant, the per-job context, the `Host` impl and the
//!   host's own downloads ([`fetch_for_host`]).
//! - `transfer`: one resumable transfer, with retries and part files.
//! - `refresh`: which URL of a fresh job document replaces an expired one.
//! - `codesign`: the artifact signatures a download is held to.

mod codesign;
mod refresh;
mod transfer;

use super::http::{block_on, redact};
use super::{
    Admission, BadGrant, Cap, CapView, Capability, CapabilityHost, GrantEnv, JobCtx, JobView,
    Reach, Sandbox,
};
use crate::runtime::bindings::download::{self as wit, Host, Request, Response};
use crate::runtime::bindings::types::HostError;
use crate::runtime::ExecutionLimits;
use crate::trust::artifact::ArtifactTrust;
use crate::trust::KeyId;
use cap_std::fs::Dir;
use jobhost_protocol::StatusDetails;
use reqwest::Url;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use transfer::{Hooks, Target};
use wasmtime::component::Linker;

/// The statusDetails key with the download's progress, e.g. `"42%"`.
pub const PROGRESS_KEY: &str = "downloadProgress";

/// The statusDetails key with the bytes on disk so far.
pub const BYTES_KEY: &str = "downloadedBytes";

/// The statusDetails key of a run's report naming the key(s) whose
/// artifact signature verified the files it downloaded.
pub const CODESIGN_KEY: &str = "codesignKeyId";

/// Progress is reported at most this often (the agent rate-limits what it
/// publishes as well; this keeps the plugin's thread from flooding it).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// The `download` capability: which servers a plugin may fetch from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadGrant {
    /// Allowed `host` or `host:port` entries (a bare host allows the
    /// scheme's default port only: 443, or 80 for http).
    pub hosts: Vec<String>,
    /// Whether `http://` is allowed (otherwise https only).
    pub allow_http: bool,
}

impl DownloadGrant {
    /// Whether `url`'s scheme and host are allowed; the error says which
    /// rule refused it.
    pub fn check(&self, url: &reqwest::Url) -> Result<(), String> {
        super::http::check_url(&self.hosts, self.allow_http, url, "download")
    }
}

/// A run's downloads: the grant, the job document where an expired URL's
/// fresh replacement and a file's codesign are looked up, and the keys that
/// verified what was downloaded.
pub(crate) struct DownloadCtx {
    /// `None`: no `download` capability.
    pub grant: Option<DownloadGrant>,
    /// The job document as the plugin got it (or as fetched again for a
    /// fresh presigned URL).
    pub document: String,
    /// The job document as the plugin got it, whose URLs the plugin asks
    /// for even after a refresh replaced `document`.
    original: String,
    /// What artifact signatures are checked with.
    artifacts: Arc<ArtifactTrust>,
    /// The keys whose artifact signatures verified a download of this run.
    verified_by: BTreeSet<KeyId>,
}

impl DownloadCtx {
    pub fn new(grant: Option<DownloadGrant>, artifacts: Arc<ArtifactTrust>) -> Self {
        Self {
            grant,
            document: String::new(),
            original: String::new(),
            artifacts,
            verified_by: BTreeSet::new(),
        }
    }

    /// Sets the job document the plugin gets.
    pub fn set_document(&mut self, document: &str) {
        self.document = document.to_owned();
        self.original = document.to_owned();
    }

    /// Adds [`CODESIGN_KEY`] to a report of this run, if a code-signed file
    /// was downloaded.
    pub fn report(&self, details: &mut StatusDetails) {
        if !self.verified_by.is_empty() {
            let ids: Vec<String> = self.verified_by.iter().map(ToString::to_string).collect();
            details.insert(CODESIGN_KEY, &ids.join(","));
        }
    }
}

/// The `download` capability.
pub struct Download;

/// `[plugins.<name>]` keys of the `download` capability.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DownloadConfig {
    /// Hosts (`name` or `name:port`) the plugin may download from; a bare
    /// name allows the scheme's default port only. Empty: no `download`
    /// capability.
    pub download_hosts: Vec<String>,
    /// Allow `http://` downloads from those hosts (default: https only).
    pub allow_http: bool,
}

impl Capability for Download {
    type Request = bool;
    type Config = DownloadConfig;
    type Grant = Option<DownloadGrant>;
    type Granted = Option<DownloadGrant>;

    /// No hosts, no capability.
    fn grant_from_config(
        config: &DownloadConfig,
        _: &GrantEnv<'_>,
    ) -> Result<Option<DownloadGrant>, BadGrant> {
        Ok((!config.download_hosts.is_empty()).then(|| DownloadGrant {
            hosts: config.download_hosts.clone(),
            allow_http: config.allow_http,
        }))
    }

    fn reaches(_: &Option<DownloadGrant>) -> Vec<Reach<'_>> {
        Vec::new()
    }

    /// The grant when the signed manifest requests `download` too.
    fn intersect(
        requested: &bool,
        granted: &Option<DownloadGrant>,
        admission: &mut Admission<'_>,
    ) -> Option<DownloadGrant> {
        admission.both(*requested, granted.as_ref(), |plugin| {
            format!("download: no download_hosts in [plugins.{plugin}]")
        })
    }
}

impl CapabilityHost for Download {
    type Ctx = DownloadCtx;

    fn ctx(sandbox: &Sandbox, _: &ExecutionLimits) -> DownloadCtx {
        DownloadCtx::new(sandbox.download.clone(), Arc::clone(&sandbox.artifacts))
    }

    fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, Cap<DownloadCtx>>(linker, super::view!(download))
    }
}

impl Host for CapView<'_, DownloadCtx> {
    async fn fetch(&mut self, request: Request) -> Result<Response, HostError> {
        let Some(grant) = self.ctx.grant.clone() else {
            return Err(self.job.not_granted("download"));
        };
        let url = Url::parse(&request.url)
            .map_err(|e| HostError::InvalidArgument(format!("invalid url: {e}")))?;
        if let Err(why) = grant.check(&url) {
            tracing::warn!(target: "plugin", plugin = %self.job.tag.plugin, "download refused: {why}");
            return Err(HostError::NotPermitted(why));
        }
        let expected = match &request.sha256 {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(h.to_ascii_lowercase())
            }
            Some(h) => {
                return Err(HostError::InvalidArgument(format!(
                    "sha256 {h:?} is not 64 hex characters"
                )))
            }
            None => None,
        };
        let (dir_grant, relative) = self
            .job
            .dirs
            .resolve_writable(&request.destination)
            .map_err(HostError::InvalidArgument)?;
        let dir = Dir::open_ambient_dir(&dir_grant.host, cap_std::ambient_authority())
            .map_err(|e| HostError::Failed(format!("cannot open {}: {e}", dir_grant.guest)))?;
        let started = Instant::now();
        let shown = redact(&url);
        // Before a byte is fetched: the codesigns the document binds to
        // this URL, by a trusted key.
        let documents = [self.ctx.document.as_str(), self.ctx.original.as_str()];
        let signed = match codesign::bind(&self.ctx.artifacts, &documents, &request.url) {
            Ok(signed) => signed,
            Err(e) => {
                transfer::discard_partial(&dir, &relative);
                tracing::warn!(target: "plugin", plugin = %self.job.tag.plugin, job_id = %self.job.tag.job_id,
                    "download from {shown} refused: {}", transfer::message(&e));
                return Err(e);
            }
        };
        let check = |size: u64, sha256: &[u8; 32]| signed.check(size, sha256);
        let target = Target {
            dir: &dir,
            relative: &relative,
            max_bytes: request.max_bytes,
            expected: expected.as_deref(),
            check: (!signed.is_empty()).then_some(&check as _),
        };
        let mut hooks = PluginHooks {
            job: &mut *self.job,
            document: &mut self.ctx.document,
            grant: &grant,
            last_progress: None,
        };
        let result = transfer::download(url, &target, &mut hooks).await;
        let job = &*self.job;
        match &result {
            Ok(r) => {
                tracing::info!(target: "plugin", plugin = %job.tag.plugin, job_id = %job.tag.job_id,
                "downloaded {} bytes from {shown} to {} in {:.1} s", r.bytes, request.destination, started.elapsed().as_secs_f64());
                for key_id in signed.key_ids() {
                    tracing::info!(target: "plugin", plugin = %job.tag.plugin, job_id = %job.tag.job_id,
                        "{}: artifact signature by key {key_id} verified", request.destination);
                    self.ctx.verified_by.insert(key_id);
                }
            }
            Err(e) => {
                tracing::warn!(target: "plugin", plugin = %job.tag.plugin, job_id = %job.tag.job_id,
                "download from {shown} failed: {}", transfer::message(e))
            }
        }
        result
    }
}

/// What a plugin's download reports to and asks of its execution.
struct PluginHooks<'a> {
    job: &'a mut JobCtx,
    document: &'a mut String,
    grant: &'a DownloadGrant,
    /// When progress was last reported, and the bytes on disk then.
    last_progress: Option<(Instant, u64)>,
}

impl Hooks for PluginHooks<'_> {
    fn stopped(&self) -> bool {
        self.job.should_stop()
    }

    fn progress(&mut self, done: u64, total: Option<u64>) {
        if !progress_due(self.last_progress, done, total) {
            return;
        }
        let percent = total.map(|t| done.saturating_mul(100).checked_div(t).unwrap_or(100));
        self.last_progress = Some((Instant::now(), done));
        // On top of what the plugin itself last reported ("step": …).
        let mut details = self.job.last_progress.clone();
        if let Some(percent) = percent {
            details.insert(PROGRESS_KEY, &format!("{percent}%"));
        }
        details.insert(BYTES_KEY, &done.to_string());
        details.fit(self.job.max_details_bytes, &[PROGRESS_KEY, BYTES_KEY]);
        self.job.observer.progress(&details);
    }

    fn refresh(&mut self, url: &Url) -> Option<Url> {
        let (cancel, deadline) = (self.job.cancel.clone(), self.job.deadline);
        let stop = move || cancel.is_cancelled() || Instant::now() >= deadline;
        let fresh_document = match self.job.observer.refresh_document(&stop) {
            Ok(document) => document,
            Err(why) => {
                self.note(&format!("cannot fetch the job document again: {why}"));
                return None;
            }
        };
        let fresh = refresh::fresh_url(self.document, &fresh_document, url.as_str())
            .and_then(|fresh| Url::parse(&fresh).ok())?;
        if let Err(why) = self.grant.check(&fresh) {
            self.note(&format!("the fresh URL is refused: {why}"));
            return None;
        }
        *self.document = fresh_document;
        Some(fresh)
    }

    fn note(&self, message: &str) {
        let tag = &self.job.tag;
        tracing::warn!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id, "{message}");
    }
}

/// Whether `done` bytes of `total` (unknown without `Content-Length`) are
/// worth a progress report, given the last one (when, and the bytes then):
/// the first always; then, if more bytes arrived, the end at once and
/// anything else once [`PROGRESS_INTERVAL`] has passed. Compared in bytes,
/// not percent: a body of unknown size has no percent, and only its byte
/// count tells the operator it is moving.
fn progress_due(last: Option<(Instant, u64)>, done: u64, total: Option<u64>) -> bool {
    match last {
        None => true,
        Some((at, last_done)) => {
            done != last_done && (Some(done) == total || at.elapsed() >= PROGRESS_INTERVAL)
        }
    }
}

/// Downloads `url` into `dir/name` for the host itself (the built-in
/// `install-plugin`): the same streaming, size cap, resume, retries and
/// rename-into-place as the plugin import; the caller compares the returned
/// sha256 (a mismatch is the job's fault, not the network's). Blocks the
/// calling thread (a blocking-pool thread in the agent). Errors never
/// contain the URL's query, where presigned credentials live.
pub(crate) fn fetch_for_host(
    url: &Url,
    dir: &Path,
    name: &str,
    max_bytes: u64,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<Response, HostError> {
    let dir = Dir::open_ambient_dir(dir, cap_std::ambient_authority())
        .map_err(|e| HostError::Failed(format!("cannot open {}: {e}", dir.display())))?;
    let started = Instant::now();
    let target = Target {
        dir: &dir,
        relative: Path::new(name),
        max_bytes: Some(max_bytes),
        expected: None,
        // A plugin file is verified by its own signature once downloaded.
        check: None,
    };
    let mut hooks = HostHooks { stop };
    let result =
        block_on(transfer::download(url.clone(), &target, &mut hooks)).unwrap_or_else(|| {
            Err(HostError::Failed(
                "cannot start an async runtime for the download".into(),
            ))
        })?;
    tracing::info!(target: "agent", "downloaded {} bytes from {} in {:.1} s", result.bytes, redact(url), started.elapsed().as_secs_f64());
    Ok(result)
}

/// The host's own downloads: no progress to report, no document to refresh.
struct HostHooks<'a> {
    stop: &'a (dyn Fn() -> bool + Sync),
}

impl Hooks for HostHooks<'_> {
    fn stopped(&self) -> bool {
        (self.stop)()
    }

    fn progress(&mut self, _done: u64, _total: Option<u64>) {}

    fn refresh(&mut self, _url: &Url) -> Option<Url> {
        None
    }

    fn note(&self, message: &str) {
        tracing::warn!(target: "agent", "{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_of_a_body_of_unknown_size_is_reported_by_bytes() {
        let long_ago = Instant::now() - PROGRESS_INTERVAL;
        assert!(progress_due(None, 0, None), "the first report");
        assert!(progress_due(Some((long_ago, 10)), 20, None));
        assert!(!progress_due(Some((long_ago, 20)), 20, None), "nothing new");
        assert!(
            !progress_due(Some((Instant::now(), 10)), 20, None),
            "too soon"
        );
        assert!(
            progress_due(Some((Instant::now(), 10)), 30, Some(30)),
            "the end"
        );
    }

    #[test]
    fn the_download_keys_are_reserved_for_the_agent() {
        use jobhost_protocol::status_details::AGENT_KEYS;
        assert!(AGENT_KEYS.contains(&PROGRESS_KEY) && AGENT_KEYS.contains(&BYTES_KEY));
        assert!(AGENT_KEYS.contains(&CODESIGN_KEY));
    }

    #[test]
    fn download_grant_checks_scheme_and_host() {
        let grant = DownloadGrant {
            hosts: vec!["updates.example.com".into(), "127.0.0.1:8080".into()],
            allow_http: false,
        };
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(grant
            .check(&url("https://updates.example.com/fw.bin"))
            .is_ok());
        assert!(grant.check(&url("https://127.0.0.1:8080/a")).is_ok());
        assert!(grant
            .check(&url("https://127.0.0.1:9090/a"))
            .unwrap_err()
            .contains("allow-list"));
        assert!(grant
            .check(&url("http://updates.example.com/fw.bin"))
            .unwrap_err()
            .contains("https only"));
        assert!(grant.check(&url("file:///etc/passwd")).is_err());
        // A bare host is its scheme's default port, nothing else.
        assert!(grant
            .check(&url("https://updates.example.com:443/fw.bin"))
            .is_ok());
        assert!(grant
            .check(&url("https://updates.example.com:8443/admin"))
            .unwrap_err()
            .contains("updates.example.com:8443"));
        let http = DownloadGrant {
            allow_http: true,
            ..grant
        };
        assert!(http.check(&url("http://127.0.0.1:8080/a")).is_ok());
        assert!(http.check(&url("http://updates.example.com/a")).is_ok());
        assert!(http
            .check(&url("http://updates.example.com:443/a"))
            .is_err());
    }
}
