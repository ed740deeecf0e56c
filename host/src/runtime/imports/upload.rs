//! `jobhost:plugin/upload`: sending a file the plugin made (a diagnostics
//! bundle) by HTTP PUT, typically to a presigned URL.
//!
//! The same rules as downloads (`download::http`): the operator's host
//! allow-list, https unless allowed otherwise, no redirects, allowed names
//! never resolving to the device itself, and no URL query (where presigned
//! credentials live) in any log line or error. The file is opened through
//! `cap-std` inside a granted directory, so neither `..` nor a planted
//! symlink reaches anything else; it streams from disk with its length
//! declared up front (presigned PUTs, S3's included, want a
//! `Content-Length`), hashed on the way.

use super::download::http::{client, redact, without_url};
use crate::runtime::bindings::types::HostError;
use crate::runtime::bindings::upload::{Host, Request, Response};
use crate::runtime::store::{HostState, StopSignal};
use cap_std::fs::{Dir, OpenOptionsExt};
use futures_util::Stream;
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Url;
use sha2::{Digest, Sha256};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

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

impl Host for HostState {
    async fn put(&mut self, request: Request) -> Result<Response, HostError> {
        let Some(grant) = self.job.sandbox.upload.clone() else {
            return Err(super::not_granted(self, "upload"));
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
            .sandbox
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
mod tests {
    use super::*;
    use crate::runtime::store::test_store;
    use crate::runtime::{DirGrant, ExecutionLimits, Sandbox, UploadGrant};
    use axum::body::Bytes;
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{HeaderMap, StatusCode};
    use std::net::SocketAddr;

    type Received = Arc<Mutex<Vec<(String, Option<String>, Vec<u8>)>>>;

    /// A real HTTP server on loopback: `PUT /up/{name}` stores the body
    /// (411 without a Content-Length, as S3 answers); `PUT /expired/{name}`
    /// answers 403 with a JSON message, as jobhost-fleet does.
    fn server() -> (SocketAddr, Received) {
        let received = Received::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::clone(&received);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route(
                        "/up/{name}",
                        axum::routing::put(
                            |State(r): State<Received>,
                             UrlPath(name): UrlPath<String>,
                             headers: HeaderMap,
                             body: Bytes| async move {
                                if headers.get("content-length").is_none() {
                                    return StatusCode::LENGTH_REQUIRED;
                                }
                                let ct = headers
                                    .get("content-type")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned);
                                r.lock().unwrap().push((name, ct, body.to_vec()));
                                StatusCode::CREATED
                            },
                        ),
                    )
                    .route(
                        "/expired/{name}",
                        axum::routing::put(|| async {
                            (
                                StatusCode::FORBIDDEN,
                                r#"{"message":"this URL expired at 1 (now 2)"}"#,
                            )
                        }),
                    )
                    .with_state(state);
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        (addr, received)
    }

    struct Setup {
        dir: tempfile::TempDir,
        sandbox: Sandbox,
    }

    /// A granted read-only directory `/bundles` holding `bundle.tar.gz`,
    /// and the upload grant for `hosts` over http.
    fn setup(hosts: &[String], max_bytes: u64) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("granted")).unwrap();
        std::fs::write(dir.path().join("granted/bundle.tar.gz"), b"bundle bytes").unwrap();
        std::fs::write(dir.path().join("secret"), b"not yours").unwrap();
        let grant: DirGrant = format!("{}:/bundles:ro", dir.path().join("granted").display())
            .parse()
            .unwrap();
        let sandbox = Sandbox {
            dirs: vec![grant],
            upload: Some(UploadGrant {
                allow_http: true,
                max_bytes,
                ..UploadGrant::new(hosts.to_vec())
            }),
            ..Sandbox::empty()
        };
        Setup { dir, sandbox }
    }

    fn put(
        sandbox: &Sandbox,
        url: &str,
        source: &str,
        ct: Option<&str>,
    ) -> Result<Response, HostError> {
        let (_runtime, mut store) = test_store(sandbox, &ExecutionLimits::default());
        let put = Host::put(
            store.data_mut(),
            Request {
                url: url.into(),
                source: source.into(),
                content_type: ct.map(str::to_owned),
            },
        );
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(put)
    }

    #[test]
    fn a_granted_file_is_put_with_its_length_and_hash() {
        let (addr, received) = server();
        let s = setup(&[addr.to_string()], 1024);
        let url = format!("http://{addr}/up/b.tgz?expires=1&signature=abc");
        let r = put(
            &s.sandbox,
            &url,
            "/bundles/bundle.tar.gz",
            Some("application/gzip"),
        )
        .unwrap();
        assert_eq!((r.bytes, r.status), (12, 201));
        assert_eq!(r.sha256, hex::encode(Sha256::digest(b"bundle bytes")));
        let got = received.lock().unwrap().clone();
        assert_eq!(
            got,
            [(
                "b.tgz".to_owned(),
                Some("application/gzip".to_owned()),
                b"bundle bytes".to_vec()
            )]
        );
    }

    #[test]
    fn an_error_status_fails_with_the_servers_message() {
        let (addr, _) = server();
        let s = setup(&[addr.to_string()], 1024);
        let url = format!("http://{addr}/expired/b?signature=abc");
        match put(&s.sandbox, &url, "/bundles/bundle.tar.gz", None) {
            Err(HostError::Failed(m)) => {
                assert!(m.starts_with("HTTP 403"), "{m}");
                assert!(m.contains("this URL expired"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hosts_off_the_allow_list_are_refused() {
        let s = setup(&["fleet.example.com".into()], 1024);
        match put(
            &s.sandbox,
            "http://127.0.0.1:9/x",
            "/bundles/bundle.tar.gz",
            None,
        ) {
            Err(HostError::NotPermitted(m)) => assert!(m.contains("upload allow-list"), "{m}"),
            other => panic!("{other:?}"),
        }
        let https_only = Sandbox {
            upload: Some(UploadGrant::new(vec!["fleet.example.com".into()])),
            ..s.sandbox.clone()
        };
        match put(
            &https_only,
            "http://fleet.example.com/x",
            "/bundles/bundle.tar.gz",
            None,
        ) {
            Err(HostError::NotPermitted(m)) => assert!(m.contains("https only"), "{m}"),
            other => panic!("{other:?}"),
        }
        let none = Sandbox {
            upload: None,
            ..s.sandbox.clone()
        };
        match put(
            &none,
            "https://fleet.example.com/x",
            "/bundles/bundle.tar.gz",
            None,
        ) {
            Err(HostError::NotPermitted(m)) => assert!(m.contains("`upload` capability"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sources_outside_the_granted_directories_are_refused() {
        let (addr, received) = server();
        let s = setup(&[addr.to_string()], 1024);
        let url = format!("http://{addr}/up/x");
        // A symlink planted inside the grant, pointing outside it.
        std::os::unix::fs::symlink(
            s.dir.path().join("secret"),
            s.dir.path().join("granted/link"),
        )
        .unwrap();
        for source in [
            "/bundles/../secret",
            "/etc/passwd",
            "/bundles",
            "/bundles/link",
        ] {
            match put(&s.sandbox, &url, source, None) {
                Err(HostError::InvalidArgument(_)) => {}
                other => panic!("{source}: {other:?}"),
            }
        }
        assert!(received.lock().unwrap().is_empty(), "nothing was sent");
    }

    /// A FIFO would block the open until a writer comes, holding the run
    /// (and, before runs were futures, the agent) forever.
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let (addr, received) = server();
        let s = setup(&[addr.to_string()], 1024);
        let fifo = s.dir.path().join("granted/fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        match put(
            &s.sandbox,
            &format!("http://{addr}/up/x"),
            "/bundles/fifo",
            None,
        ) {
            Err(HostError::InvalidArgument(m)) => assert!(m.contains("not a regular file"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(received.lock().unwrap().is_empty(), "nothing was sent");
    }

    #[test]
    fn files_over_the_cap_and_bad_content_types_are_refused() {
        let s = setup(&["127.0.0.1:9".into()], 5);
        match put(
            &s.sandbox,
            "http://127.0.0.1:9/x",
            "/bundles/bundle.tar.gz",
            None,
        ) {
            Err(HostError::LimitExceeded(m)) => assert!(m.contains("5-byte upload limit"), "{m}"),
            other => panic!("{other:?}"),
        }
        for bad in ["", "text/plain\r\nX-Evil: 1", &"a".repeat(300)] {
            assert!(content_type(Some(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(content_type(None).unwrap(), "application/octet-stream");
    }
}
