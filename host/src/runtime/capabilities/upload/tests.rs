//! The `upload` import against a real HTTP server on loopback.

use super::*;
use crate::runtime::test_support::{block_on, http_server, store, view};
use crate::runtime::{DirGrant, ExecutionLimits, Sandbox};
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
        .with_state(Arc::clone(&received));
    (http_server(app), received)
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
    let (_runtime, mut store) = store(sandbox, &ExecutionLimits::default());
    let mut view = view(store.data_mut(), |c| &mut c.upload);
    block_on(view.put(Request {
        url: url.into(),
        source: source.into(),
        content_type: ct.map(str::to_owned),
    }))
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

#[test]
fn upload_grant_checks_scheme_and_host() {
    let grant = UploadGrant::new(vec!["fleet.example.com".into()]);
    let url = |s: &str| reqwest::Url::parse(s).unwrap();
    assert!(grant
        .check(&url("https://fleet.example.com/uploads/t/j/b?signature=x"))
        .is_ok());
    assert!(grant
        .check(&url("https://evil.example.com/x"))
        .unwrap_err()
        .contains("upload allow-list"));
    assert!(grant
        .check(&url("http://fleet.example.com/x"))
        .unwrap_err()
        .contains("https only"));
    assert_eq!(grant.max_bytes, DEFAULT_UPLOAD_MAX_BYTES);
}
