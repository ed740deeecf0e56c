//! `jobhost:plugin/download`: streaming HTTP(S) downloads into a granted,
//! writable directory.
//!
//! The body streams to a temporary file next to the destination while its
//! sha256 and size are checked; only a complete, matching file is renamed
//! into place, so a plugin never sees half a firmware image under the final
//! name. Paths go through `cap-std`, so a symlink planted inside the granted
//! directory cannot redirect the write outside it.

use crate::runtime::bindings::download::{Host, Request, Response};
use crate::runtime::bindings::types::HostError;
use crate::runtime::store::HostState;
use cap_std::fs::Dir;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a download may wait for the next chunk before checking
/// cancellation and the deadline again.
const POLL: Duration = Duration::from_millis(100);

/// A body that stalls this long fails the download (`failed`, retryable).
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Host for HostState {
    fn fetch(&mut self, request: Request) -> Result<Response, HostError> {
        let Some(grant) = self.job.sandbox.download.clone() else {
            return Err(super::not_granted(self, "download"));
        };
        let url = reqwest::Url::parse(&request.url)
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
            .sandbox
            .resolve_writable(&request.destination)
            .map_err(HostError::InvalidArgument)?;
        let dir = Dir::open_ambient_dir(&dir_grant.host, cap_std::ambient_authority())
            .map_err(|e| HostError::Failed(format!("cannot open {}: {e}", dir_grant.guest)))?;
        let job = &self.job;
        let stop = || job.should_stop();
        let started = Instant::now();
        let result = block_on(stream_to_file(
            &url,
            &dir,
            &relative,
            request.max_bytes,
            expected.as_deref(),
            &stop,
        ))
        .unwrap_or_else(|| {
            Err(HostError::Failed(
                "cannot start an async runtime for the download".into(),
            ))
        });
        match &result {
            Ok(r) => {
                tracing::info!(target: "plugin", plugin = %job.tag.plugin, job_id = %job.tag.job_id,
                "downloaded {} bytes from {} to {} in {:.1} s", r.bytes, redact(&url), request.destination, started.elapsed().as_secs_f64())
            }
            Err(e) => {
                tracing::warn!(target: "plugin", plugin = %job.tag.plugin, job_id = %job.tag.job_id,
                "download from {} failed: {e:?}", redact(&url))
            }
        }
        result
    }
}

/// Downloads `url` into `dir/name` for the host itself (the built-in
/// `install-plugin`): the same streaming, size cap and rename-into-place
/// as the plugin import; the caller compares the returned sha256 (a
/// mismatch is the job's fault, not the network's). Blocks the calling thread (a
/// blocking-pool thread in the agent). Errors never contain the URL's query,
/// where presigned credentials live.
pub(crate) fn fetch_for_host(
    url: &reqwest::Url,
    dir: &Path,
    name: &str,
    max_bytes: u64,
    stop: &dyn Fn() -> bool,
) -> Result<Response, HostError> {
    let dir = Dir::open_ambient_dir(dir, cap_std::ambient_authority())
        .map_err(|e| HostError::Failed(format!("cannot open {}: {e}", dir.display())))?;
    let started = Instant::now();
    let result = block_on(stream_to_file(
        url,
        &dir,
        Path::new(name),
        Some(max_bytes),
        None,
        stop,
    ))
    .unwrap_or_else(|| {
        Err(HostError::Failed(
            "cannot start an async runtime for the download".into(),
        ))
    })?;
    tracing::info!(target: "agent", "downloaded {} bytes from {} in {:.1} s", result.bytes, redact(url), started.elapsed().as_secs_f64());
    Ok(result)
}

async fn stream_to_file(
    url: &reqwest::Url,
    dir: &Dir,
    relative: &Path,
    max_bytes: Option<u64>,
    expected: Option<&str>,
    stop: &dyn Fn() -> bool,
) -> Result<Response, HostError> {
    // A server that accepts and then never answers must not hold the
    // plugin past its deadline or a cancellation: the host call is where
    // epoch interruption cannot reach, so poll like the body loop does.
    let started = Instant::now();
    let send = client().get(url.clone()).send();
    tokio::pin!(send);
    let response = loop {
        if stop() {
            return Err(HostError::Cancelled);
        }
        match tokio::time::timeout(POLL, &mut send).await {
            Ok(result) => {
                break result.map_err(|e| {
                    HostError::Failed(format!("request failed: {}", without_url(&e)))
                })?
            }
            Err(_) if started.elapsed() >= STALL_TIMEOUT => {
                return Err(HostError::Failed(format!(
                    "no response for {} s",
                    STALL_TIMEOUT.as_secs()
                )))
            }
            Err(_) => continue,
        }
    };
    let status = response.status();
    if !status.is_success() {
        return Err(HostError::Failed(format!("HTTP {status}")));
    }
    if let (Some(len), Some(max)) = (response.content_length(), max_bytes) {
        if len > max {
            return Err(HostError::LimitExceeded(format!(
                "the body is {len} bytes, over the {max}-byte limit"
            )));
        }
    }
    let file_name = relative
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = relative.with_file_name(format!(".{file_name}.part"));
    if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
        dir.create_dir_all(parent)
            .map_err(|e| HostError::Failed(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut file = dir
        .create(&tmp)
        .map_err(|e| HostError::Failed(format!("cannot create {}: {e}", tmp.display())))?
        .into_std();
    let cleanup = |e: HostError| {
        let _ = dir.remove_file(&tmp);
        e
    };
    let mut body = response.bytes_stream();
    let mut hasher = Sha256::new();
    let mut written: u64 = 0;
    let mut last_data = Instant::now();
    loop {
        if stop() {
            return Err(cleanup(HostError::Cancelled));
        }
        let chunk = match tokio::time::timeout(POLL, body.next()).await {
            Err(_) if last_data.elapsed() >= STALL_TIMEOUT => {
                return Err(cleanup(HostError::Failed(format!(
                    "no data for {} s",
                    STALL_TIMEOUT.as_secs()
                ))))
            }
            Err(_) => continue,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(cleanup(HostError::Failed(format!(
                    "body interrupted: {}",
                    without_url(&e)
                ))))
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        last_data = Instant::now();
        written += chunk.len() as u64;
        if max_bytes.is_some_and(|max| written > max) {
            return Err(cleanup(HostError::LimitExceeded(format!(
                "the body exceeds the {}-byte limit",
                max_bytes.unwrap_or_default()
            ))));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(|e| cleanup(HostError::Failed(format!("write failed: {e}"))))?;
    }
    let actual = hex::encode(hasher.finalize());
    if let Some(expected) = expected {
        if expected != actual {
            return Err(cleanup(HostError::Failed(format!(
                "sha256 mismatch: expected {expected}, got {actual}"
            ))));
        }
    }
    file.sync_all()
        .map_err(|e| cleanup(HostError::Failed(format!("sync failed: {e}"))))?;
    dir.rename(&tmp, dir, relative)
        .map_err(|e| cleanup(HostError::Failed(format!("cannot move into place: {e}"))))?;
    Ok(Response {
        bytes: written,
        sha256: actual,
    })
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            // Redirects could leave the allow-list; refuse them.
            .redirect(reqwest::redirect::Policy::none())
            // An allowed NAME must not lead to the device itself or to a
            // link-local metadata service (DNS rebinding); an operator who
            // means loopback lists the address itself, which bypasses DNS.
            .dns_resolver(std::sync::Arc::new(NoLocalResolver))
            .build()
            .unwrap_or_default()
    })
}

/// Resolves names like the system does, then drops loopback, unspecified
/// and link-local addresses; a name left with none is an error.
struct NoLocalResolver;

impl reqwest::dns::Resolve for NoLocalResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> =
                all.iter().copied().filter(|a| !is_local(a.ip())).collect();
            if public.is_empty() && !all.is_empty() {
                return Err(format!(
                    "{host} resolves only to loopback or link-local addresses; \
                     list the address itself in the allow-list to allow it"
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// The device itself, "any", or link-local (where cloud metadata lives).
pub(crate) fn is_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified() || v4.is_link_local())
        }
    }
}

/// Host calls run on a blocking thread: inside the agent that thread
/// belongs to its tokio runtime; under `jobhost run` there is none, so a
/// small one is made once.
fn block_on<F: std::future::Future>(future: F) -> Option<F::Output> {
    static FALLBACK: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Some(handle.block_on(future)),
        Err(_) => FALLBACK
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()
            })
            .as_ref()
            .map(|rt| rt.block_on(future)),
    }
}

/// Presigned URLs carry credentials in the query: never log them.
fn redact(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

fn without_url(e: &reqwest::Error) -> String {
    e.without_url_ref().to_string()
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    /// The error and its causes ("connection refused", a DNS refusal…):
    /// reqwest's own message alone says only "error sending request".
    fn without_url_ref(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), &redact(url));
        }
        text
    }
}
