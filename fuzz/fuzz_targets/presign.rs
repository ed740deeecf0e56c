//! Presigned URLs, checked where the service checks them: requests sent
//! through the jobs service's real HTTP router (`jobhost_fleet::api::
//! router`: path extraction, `api/presigned.rs`, `Artifacts::verify`,
//! `Uploads::verify`, `crate::presign::Signer`), with a fixed clock and
//! fixed URL-signing keys.
//!
//! Input: the method on the first line, the path and query on the second,
//! then header lines; after an empty line, the body. Seeds are real URLs
//! the stores presigned: a download of artifact `a` (valid), of `c`
//! (expired), and an upload PUT for (dev-1, job-1, report.txt).
//!
//! The server holds artifacts `a`, `b` (never signed) and `c`; management
//! routes need a bearer token.
//!
//! Asserts: no panic, no 5xx; the only successful answers are artifact
//! `a`'s bytes (or a range of them, or a 304), the upload of exactly
//! (dev-1, job-1, report.txt), `/healthz`, and management routes with the
//! right token. So no mutation of a URL reaches `b`, reaches `c` after its
//! expiry, or uploads under another thing, job or name.
#![no_main]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use jobhost_fleet::api::{router, ApiState};
use jobhost_fleet::artifacts::{Artifacts, KEY_FILE};
use jobhost_fleet::store::Store;
use jobhost_fleet::uploads::Uploads;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tower::ServiceExt;

const NOW: i64 = 1_700_000_000;
const BASE: &str = "http://fleet.test";
const TOKEN: &str = "fuzz-token";
const TTL: Duration = Duration::from_secs(600);
const A: &[u8] = b"artifact a: the only one with a valid URL";

struct Server {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    artifacts: Arc<Artifacts>,
    uploads: Arc<Uploads>,
}

fn write_key(dir: &Path, byte: u8) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("create a store directory");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let key = dir.join(KEY_FILE);
    std::fs::write(&key, [byte; 32]).expect("write a key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory").keep();
        write_key(&dir.join("artifacts"), 1);
        write_key(&dir.join("uploads"), 2);
        let uploads =
            Arc::new(Uploads::open(&dir.join("uploads"), BASE, TTL).expect("open uploads"));
        let artifacts = Artifacts::open(&dir.join("artifacts"), BASE, TTL).expect("open artifacts");
        artifacts.put("a", A).expect("store a");
        artifacts
            .put("b", b"artifact b: never signed")
            .expect("store b");
        artifacts
            .put("c", b"artifact c: signed, expired")
            .expect("store c");
        let artifacts = Arc::new(artifacts);
        let store = Arc::new(Mutex::new(Store::open_in_memory().expect("a store")));
        let (changes, receiver) = tokio::sync::mpsc::unbounded_channel();
        std::mem::forget(receiver);
        let state = ApiState::new(store, changes, Arc::clone(&artifacts))
            .with_uploads(Arc::clone(&uploads))
            .with_token(TOKEN)
            .with_clock(Arc::new(|| NOW));
        Server {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
            router: router(state),
            artifacts,
            uploads,
        }
    })
}

struct Parsed<'a> {
    method: &'a str,
    uri: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

fn parse(data: &[u8]) -> Option<Parsed<'_>> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let method = lines.next()?;
    let uri = lines.next()?;
    let headers = lines.filter_map(|l| l.split_once(": ")).collect();
    Some(Parsed {
        method,
        uri,
        headers,
        body,
    })
}

fuzz_target!(
    init: {
        jobhost_fuzz::seeds(make_seeds);
        server();
    },
    |data: &[u8]| {
        let Some(p) = parse(data) else { return };
        let Ok(method) = Method::from_bytes(p.method.as_bytes()) else { return };
        let mut builder = Request::builder().method(method.clone()).uri(p.uri);
        for (name, value) in &p.headers {
            builder = builder.header(*name, *value);
        }
        let Ok(request) = builder.body(Body::from(p.body.to_vec())) else { return };
        let path = request.uri().path().to_owned();
        let authorised = request
            .headers()
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes());
        if authorised && !(method == Method::GET || method == Method::HEAD) {
            // A management write (it could replace artifact a): not what
            // this target is about.
            return;
        }
        let s = server();
        let (status, body) = s.runtime.block_on(async {
            let response = s.router.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let body = response.into_body().collect().await.map(|b| b.to_bytes());
            (status, body)
        });
        assert!(!status.is_server_error(), "{status} for {} {}", p.method, p.uri);
        if !(status.is_success() || status == StatusCode::NOT_MODIFIED) {
            return;
        }
        let body = body.expect("a successful body reads");
        if path.starts_with("/artifacts/") && (method == Method::GET || method == Method::HEAD) {
            assert!(
                body.is_empty() || A.windows(body.len()).any(|w| w == body.as_ref()),
                "a download served other bytes than artifact a: {:?}",
                String::from_utf8_lossy(&body)
            );
        } else if method == Method::PUT && path.starts_with("/uploads/") && !authorised {
            let info: serde_json::Value =
                serde_json::from_slice(&body).expect("an upload answers JSON");
            assert_eq!(info["thingName"], "dev-1", "{info}");
            assert_eq!(info["jobId"], "job-1", "{info}");
            assert_eq!(info["name"], "report.txt", "{info}");
        } else if path != "/healthz" {
            assert!(authorised, "{status} without the token for {} {}", p.method, p.uri);
        }
    }
);

fn make_seeds() -> Vec<(String, Vec<u8>)> {
    let s = server();
    let path = |url: String| url.strip_prefix(BASE).expect("our base").to_owned();
    let a = path(
        s.artifacts
            .presign(&s.artifacts.url_of("a"), NOW - 60)
            .expect("presign a"),
    );
    let c = path(
        s.artifacts
            .presign(&s.artifacts.url_of("c"), NOW - 2000)
            .expect("presign c"),
    );
    let upload = path(
        s.uploads
            .presign("dev-1", "job-1", "report.txt", NOW - 60)
            .expect("presign an upload"),
    );
    let seeds = [
        ("get-a", format!("GET\n{a}\n")),
        ("head-a-range", format!("HEAD\n{a}\nrange: bytes=0-3\n")),
        ("get-c-expired", format!("GET\n{c}\n")),
        (
            "put-upload",
            format!("PUT\n{upload}\ncontent-type: text/plain\n\nreport"),
        ),
        ("get-upload-presigned", format!("GET\n{upload}\n")),
        ("management-no-token", "GET\n/jobs\n".to_owned()),
        ("healthz", "GET\n/healthz\n".to_owned()),
    ];
    // The seeds reach the accepting branches (and the expired one does not).
    let status = |request: &str| {
        let p = parse(request.as_bytes()).expect("a seed parses");
        let request = Request::builder()
            .method(p.method)
            .uri(p.uri)
            .body(Body::from(p.body.to_vec()))
            .expect("a seed is a request");
        s.runtime
            .block_on(s.router.clone().oneshot(request))
            .expect("infallible")
            .status()
    };
    assert_eq!(status(&seeds[0].1), StatusCode::OK);
    assert_eq!(status(&seeds[2].1), StatusCode::FORBIDDEN);
    assert_eq!(status(&seeds[3].1), StatusCode::CREATED);
    seeds
        .into_iter()
        .map(|(n, s)| (n.to_owned(), s.into_bytes()))
        .collect()
}
