//! `jobhost:plugin/upload`: sending a file the plugin made (a diagnostics
//! bundle) by HTTP PUT, typically to a presigned URL.
//!
//! The same rules as downloads (`super::http`): the operator's host
//! allow-list, https unless allowed otherwise, no redirects, allowed names
//! never resolving to the device itself, and no URL query (where presigned
//! credentials live) in any log line or error. The file is opened through
//! `cap-std` inside a granted directory, so neither `..` nor a planted
//! symlink reaches anything else; it streams from disk with its length
//! declared up front (presigned PUTs, S3's included, want a
//! `Content-Length`), hashed on the way.

use super::http::{client, redact, without_url};
use super::{
    Admission, BadGrant, Cap, CapView, Capability, CapabilityHost, GrantEnv, JobView, Reach,
    Sandbox, StopSignal,
};
use crate::runtime::bindings::types::HostError;
use crate::runtime::bindings::upload::{self as wit, Host, Request, Response};
use crate::runtime::ExecutionLimits;
use cap_std::fs::{Dir, OpenOptionsExt};
use futures_util::Stream;
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Url;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use wasmtime::component::Linker;

/// How long the host waits on the server before checking cancellation and
/// the deadline again: the host call is where epoch interruption cannot
/// reach, so it polls. The run's own time limit bounds the whole upload.
const POLL: Duration = Duration::from_millis(100);

/// Bytes read from disk per body chunk.
const CHUNK: usize = 64 << 10;

/// Longest `content-type` accepted.
const MAX_CONTENT_TYPE: usize = 256;

/// Longest server message quoted in an error (from a JSON `message`).
const MAX_SERVER_MESSAGE: usize = 200;

/// Default `upload_max_mib`: the largest file one `upload.put` sends. A
/// diagnostics bundle is a few MiB; the cap keeps a runaway plugin from
/// using the device's uplink for hours.
pub const DEFAULT_UPLOAD_MAX_BYTES: u64 = 64 << 20;

/// The `upload` capability: which servers a plugin may PUT files to, and
/// how large a file it may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadGrant {
    /// Allowed `host` or `host:port` entries (a bare host allows the
    /// scheme's default port only: 443, or 80 for http).
    pub hosts: Vec<String>,
    /// Whether `http://` is allowed (otherwise https only).
    pub allow_http: bool,
    /// Largest file sent, in bytes.
    pub max_bytes: u64,
}

impl UploadGrant {
    /// A grant for `hosts`, https only, with the default size cap.
    pub fn new(hosts: Vec<String>) -> Self {
        Self {
            hosts,
            allow_http: false,
            max_bytes: DEFAULT_UPLOAD_MAX_BYTES,
        }
    }

    /// Whether `url`'s scheme and host are allowed; the error says which
    /// rule refused it.
    pub fn check(&self, url: &reqwest::Url) -> Result<(), String> {
        super::http::check_url(&self.hosts, self.allow_http, url, "upload")
    }
}

/// Most `upload_max_mib` (4 GiB): a device's uplink is the limit that
/// matters, and the run's time limit stops a slow upload anyway.
const MAX_UPLOAD_MIB: u64 = 4096;

/// A run's uploads: only the grant (`None`: no `upload` capability).
pub(crate) struct UploadCtx {
    pub grant: Option<UploadGrant>,
}

/// The `upload` capability.
pub struct Upload;

/// `[plugins.<name>]` keys of the `upload` capability.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Hosts (`name` or `name:port`) the plugin may upload files to by
    /// HTTP PUT. Empty: no `upload` capability.
    pub upload_hosts: Vec<String>,
    /// Allow `http://` uploads to those hosts (default: https only; a
    /// bundle may be sensitive, so this is separate from `allow_http`).
    pub upload_allow_http: bool,
    /// Largest file one upload sends, MiB (default 64).
    pub upload_max_mib: Option<u64>,
}

impl Capability for Upload {
    type Request = bool;
    type Config = UploadConfig;
    type Grant = Option<UploadGrant>;
    type Granted = Option<UploadGrant>;

    /// `None` when no host is listed (the caps alone grant nothing).
    fn grant_from_config(
        config: &UploadConfig,
        _: &GrantEnv<'_>,
    ) -> Result<Option<UploadGrant>, BadGrant> {
        let max_mib = config
            .upload_max_mib
            .unwrap_or(DEFAULT_UPLOAD_MAX_BYTES >> 20);
        if !(1..=MAX_UPLOAD_MIB).contains(&max_mib) {
            return Err(BadGrant {
                key: "upload_max_mib",
                why: format!(" = {max_mib}: must be 1-{MAX_UPLOAD_MIB}"),
            });
        }
        Ok((!config.upload_hosts.is_empty()).then(|| UploadGrant {
            hosts: config.upload_hosts.clone(),
            allow_http: config.upload_allow_http,
            max_bytes: max_mib << 20,
        }))
    }

    fn reaches(_: &Option<UploadGrant>) -> Vec<Reach<'_>> {
        Vec::new()
    }

    /// The grant when the signed manifest requests `upload` too.
    fn intersect(
        requested: &bool,
        granted: &Option<UploadGrant>,
        admission: &mut Admission<'_>,
    ) -> Option<UploadGrant> {
        admission.both(*requested, granted.as_ref(), |plugin| {
            format!("upload: no upload_hosts in [plugins.{plugin}]")
        })
    }
}

impl CapabilityHost for Upload {
    type Ctx = UploadCtx;

    fn ctx(sandbox: &Sandbox, _: &ExecutionLimits) -> UploadCtx {
        UploadCtx {
            grant: sandbox.upload.clone(),
        }
    }

    fn add_to_linker<T: JobView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, Cap<UploadCtx>>(linker, super::view!(upload))
    }
}

impl Host for CapView<'_, UploadCtx> {
    async fn put(&mut self, request: Request) -> Result<Response, HostError> {
        let Some(grant) = self.ctx.grant.clone() else {
            return Err(self.job.not_granted("upload"));
        };
        let url = Url::parse(&request.url)
            .map_err(|e| HostError::InvalidArgument(format!("invalid url: {e}")))?;
        if let Err(why) = grant.check(&url) {
            tracing::warn!(target: "plugin", plugin = %self.job.tag.plugin, job_id = %self.job.tag.job_id,
                "upload to {} refused: {why}", redact(&url));
            return Err(HostError::NotPermitted(why));
        }
        let content_type = content_type(request.content_type.as_deref())?;
        let (dir_grant, relative) = self
            .job
            .dirs
            .resolve_readable(&request.source)
            .map_err(HostError::InvalidArgument)?;
        let dir = Dir::open_ambient_dir(&dir_grant.host, cap_std::ambient_authority())
            .map_err(|e| HostError::Failed(format!("cannot open {}: {e}", dir_grant.guest)))?;
        let source = &request.source;
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
        // writer forever; the regular-file check below then refuses it.
        let mut options = cap_std::fs::OpenOptions::new();
        options
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        let file = dir
            .open_with(&relative, &options)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => {
                    HostError::InvalidArgument(format!("{source} does not exist"))
                }
                // cap-std refuses a symlink that leads out of the grant this way.
                io::ErrorKind::PermissionDenied => {
                    HostError::InvalidArgument(format!("cannot open {source}: {e}"))
                }
                _ => HostError::Failed(format!("cannot open {source}: {e}")),
            })?;
        let metadata = file
            .metadata()
            .map_err(|e| HostError::Failed(format!("cannot read {source}: {e}")))?;
        if !metadata.is_file() {
            return Err(HostError::InvalidArgument(format!(
                "{source} is not a regular file"
            )));
        }
        let size = metadata.len();
        if size > grant.max_bytes {
            return Err(HostError::LimitExceeded(format!(
                "{source} is {size} bytes, over the {}-byte upload limit",
                grant.max_bytes
            )));
        }
        let stop = self.job.stop_signal();
        let started = Instant::now();
        let result = send(&url, file.into_std(), size, content_type, &stop).await;
        let tag = &self.job.tag;
        match &result {
            Ok(r) => tracing::info!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
                "uploaded {source} ({} bytes) to {} (HTTP {}) in {:.1} s", r.bytes, redact(&url), r.status, started.elapsed().as_secs_f64()),
            Err(e) => tracing::warn!(target: "plugin", plugin = %tag.plugin, job_id = %tag.job_id,
                "upload of {source} to {} failed: {e:?}", redact(&url)),
        }
        result
    }
}

/// The `Content-Type` to send: the plugin's, when it is a valid header
/// value of reasonable length, else `application/octet-stream`.
fn content_type(requested: Option<&str>) -> Result<HeaderValue, HostError> {
    let Some(value) = requested else {
        return Ok(HeaderValue::from_static("application/octet-stream"));
    };
    let invalid = || {
        HostError::InvalidArgument(format!(
            "content-type {value:?} must be 1-{MAX_CONTENT_TYPE} printable ASCII characters"
        ))
    };
    if value.is_empty()
        || value.len() > MAX_CONTENT_TYPE
        || !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
    {
        return Err(invalid());
    }
    HeaderValue::from_str(value).map_err(|_| invalid())
}

/// One PUT of `file`'s first `size` bytes, polled so that a cancellation
/// or the deadline interrupts it.
async fn send(
    url: &Url,
    file: std::fs::File,
    size: u64,
    content_type: HeaderValue,
    stop: &StopSignal,
) -> Result<Response, HostError> {
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let body = reqwest::Body::wrap_stream(file_stream(
        tokio::fs::File::from_std(file),
        size,
        Arc::clone(&hasher),
    ));
    let send = client()
        .put(url.clone())
        .header(CONTENT_LENGTH, size)
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send();
    tokio::pin!(send);
    let response = loop {
        if stop.is_set() {
            return Err(HostError::Cancelled);
        }
        if let Ok(result) = tokio::time::timeout(POLL, &mut send).await {
            break result
                .map_err(|e| HostError::Failed(format!("upload failed: {}", without_url(&e))))?;
        }
    };
    let status = response.status();
    if !status.is_success() {
        let message = server_message(response).await;
        return Err(HostError::Failed(format!("HTTP {status}{message}")));
    }
    let sha256 = hex::encode(
        hasher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .finalize(),
    );
    Ok(Response {
        bytes: size,
        sha256,
        status: status.as_u16(),
    })
}

/// The file's first `size` bytes as body chunks, each hashed as it goes
/// out. A file that shrinks meanwhile ends the body early, which the
/// client refuses (the declared length is not met): nothing half-sent is
/// reported as sent.
fn file_stream(
    file: tokio::fs::File,
    size: u64,
    hasher: Arc<Mutex<Sha256>>,
) -> impl Stream<Item = io::Result<Vec<u8>>> + Send + 'static {
    futures_util::stream::try_unfold((file.take(size), hasher), |(mut file, hasher)| async move {
        let mut chunk = vec![0u8; CHUNK];
        let n = file.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        chunk.truncate(n);
        hasher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .update(&chunk);
        Ok(Some((chunk, (file, hasher))))
    })
}

/// `": <message>"` when the server answered with a JSON `message` (as
/// jobhost-fleet does: "this URL expired…"), else nothing. Other bodies
/// are not quoted: some servers echo the request's signature in them.
async fn server_message(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > 4096 {
            return String::new();
        }
    }
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned));
    match message {
        Some(m) if !m.contains("signature=") => {
            let m: String = m
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_SERVER_MESSAGE)
                .collect();
            format!(": {m}")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests;
