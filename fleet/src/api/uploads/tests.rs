//! The upload routes through the real router (axum, tower-http), with a
//! temporary upload directory and a clock the tests move.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::super::{router, ApiState};
use crate::artifacts::Artifacts;
use crate::store::Store;
use crate::uploads::Uploads;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use futures_util::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

const BASE: &str = "http://fleet.test:8080";
const T0: i64 = 1_700_000_000;
const TTL: u64 = 600;

struct Fixture {
    app: Router,
    uploads: Arc<Uploads>,
    clock: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

fn fixture(token: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let uploads = Arc::new(
        Uploads::open(&dir.path().join("uploads"), BASE, Duration::from_secs(TTL)).unwrap(),
    );
    let artifacts = Arc::new(
        Artifacts::open(
            &dir.path().join("artifacts"),
            BASE,
            Duration::from_secs(TTL),
        )
        .unwrap(),
    );
    let store = Arc::new(Mutex::new(Store::open_in_memory().unwrap()));
    let (tx, _) = tokio::sync::mpsc::unbounded_channel();
    let clock = Arc::new(AtomicI64::new(T0));
    let c = Arc::clone(&clock);
    let mut state = ApiState::new(store, tx, artifacts)
        .with_uploads(Arc::clone(&uploads))
        .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    if let Some(t) = token {
        state = state.with_token(t);
    }
    Fixture {
        app: router(state),
        uploads,
        clock,
        _dir: dir,
    }
}

/// The path and query of a presigned URL.
fn local(url: &str) -> String {
    url.strip_prefix(BASE).unwrap().to_owned()
}

async fn send(app: &Router, method: Method, uri: &str, body: Body) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let mut bytes = Vec::new();
    let mut stream = response.into_body().into_data_stream();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    (status, bytes)
}

fn message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_signed_put_is_stored_listed_and_served() {
    let f = fixture(None);
    let url = f
        .uploads
        .presign("dev-1", "diag-7", "bundle.tar.gz", T0)
        .unwrap();
    assert!(url.starts_with(&format!(
        "{BASE}/uploads/dev-1/diag-7/bundle.tar.gz?expires="
    )));
    let (status, body) = send(&f.app, Method::PUT, &local(&url), Body::from("bundle")).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let info: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["size"], 6);
    assert_eq!(info["sha256"], hex::encode(Sha256::digest(b"bundle")));
    assert_eq!(info["thingName"], "dev-1");

    // A retried job uploads again, through a later delivery's URL: the new
    // body replaces the old.
    let later = f
        .uploads
        .presign("dev-1", "diag-7", "bundle.tar.gz", T0 + 1)
        .unwrap();
    let (status, _) = send(&f.app, Method::PUT, &local(&later), Body::from("bundle v2")).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = send(
        &f.app,
        Method::GET,
        "/uploads?thingName=dev-1",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_slice(&body).unwrap();
    let uploads = list["uploads"].as_array().unwrap();
    assert_eq!(uploads.len(), 1, "{list}");
    assert_eq!(
        (
            &uploads[0]["jobId"],
            &uploads[0]["name"],
            &uploads[0]["size"]
        ),
        (
            &Value::from("diag-7"),
            &Value::from("bundle.tar.gz"),
            &Value::from(9)
        )
    );
    let (_, body) = send(&f.app, Method::GET, "/uploads?jobId=other", Body::empty()).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["uploads"],
        Value::Array(vec![])
    );

    let (status, body) = send(
        &f.app,
        Method::GET,
        "/uploads/dev-1/diag-7/bundle.tar.gz",
        Body::empty(),
    )
    .await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, &b"bundle v2"[..])
    );
    let (status, _) = send(
        &f.app,
        Method::GET,
        "/uploads/dev-1/diag-7/nope",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn forged_expired_and_misdirected_urls_are_forbidden() {
    let f = fixture(None);
    let url = local(
        &f.uploads
            .presign("dev-1", "diag-7", "bundle.tar.gz", T0)
            .unwrap(),
    );
    let (path, query) = url.split_once('?').unwrap();
    let signature = query.split("signature=").nth(1).unwrap();
    let forged = format!(
        "{path}?{}",
        query.replace(signature, &"0".repeat(signature.len()))
    );
    let other_thing = url.replace("/dev-1/", "/dev-2/");
    let other_job = url.replace("/diag-7/", "/diag-8/");
    let other_name = url.replace("/bundle.tar.gz", "/other.tar.gz");
    let later = url.replace(
        &format!("expires={}", T0 + TTL as i64),
        &format!("expires={}", T0 + 99_999),
    );
    for (what, uri) in [
        ("forged signature", forged),
        ("another thing", other_thing),
        ("another job", other_job),
        ("another name", other_name),
        ("a longer expiry", later),
        ("no signature", path.to_owned()),
    ] {
        let (status, body) = send(&f.app, Method::PUT, &uri, Body::from("x")).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{what}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    f.clock.store(T0 + TTL as i64 + 1, Ordering::SeqCst);
    let (status, body) = send(&f.app, Method::PUT, &url, Body::from("x")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message(&body).contains("expired"), "{}", message(&body));

    let (_, body) = send(&f.app, Method::GET, "/uploads", Body::empty()).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["uploads"],
        Value::Array(vec![]),
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn a_presigned_url_is_not_a_download_credential() {
    let f = fixture(Some("s3cret"));
    let url = local(&f.uploads.presign("dev-1", "diag-7", "b", T0).unwrap());
    let (status, _) = send(&f.app, Method::PUT, &url, Body::from("x")).await;
    assert_eq!(status, StatusCode::CREATED, "PUT needs no token");
    let (status, body) = send(&f.app, Method::GET, &url, Body::empty()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message(&body).contains("PUT only"), "{}", message(&body));
    let (status, _) = send(
        &f.app,
        Method::GET,
        "/uploads/dev-1/diag-7/b",
        Body::empty(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "listing and fetching need the token"
    );
}

#[tokio::test]
async fn uploads_over_the_cap_are_refused_and_not_kept() {
    let f = fixture(None);
    f.uploads.set_max_bytes(10);
    let url = local(&f.uploads.presign("dev-1", "diag-7", "big", T0).unwrap());
    // Declared too large: refused before any byte is read.
    let (status, _) = send(&f.app, Method::PUT, &url, Body::from(vec![0u8; 11])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Streamed without a length: refused once it passes the cap.
    let chunks = futures_util::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"1234"))),
    );
    let (status, body) = send(&f.app, Method::PUT, &url, Body::from_stream(chunks)).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(f.uploads.list(None, None).unwrap().is_empty());
    let (status, _) = send(&f.app, Method::PUT, &url, Body::from(vec![0u8; 10])).await;
    assert_eq!(status, StatusCode::CREATED, "exactly the cap is fine");
}

#[tokio::test]
async fn bad_filters_are_invalid_requests() {
    let f = fixture(None);
    let (status, _) = send(
        &f.app,
        Method::GET,
        "/uploads?thingName=a%2Fb",
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(&f.app, Method::GET, "/uploads?jobId=..", Body::empty()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// "Accepts one PUT" (docs/fleet.md, "Uploads") is true: a URL that stored its
/// file refuses the next PUT, which changes nothing.
#[tokio::test]
async fn an_upload_url_stores_one_file() {
    let f = fixture(None);
    let url = local(&f.uploads.presign("dev-1", "diag-7", "b", T0).unwrap());
    let (status, _) = send(&f.app, Method::PUT, &url, Body::from("first")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(&f.app, Method::PUT, &url, Body::from("second")).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        message(&body).contains("already been used"),
        "{}",
        message(&body)
    );
    let stored = std::fs::read(f.uploads.path_of("dev-1", "diag-7", "b").unwrap()).unwrap();
    assert_eq!(stored, b"first");
}

/// A body that the test feeds chunk by chunk, and the sender that feeds
/// it. The channel holds one chunk, so a second `send` returns only once
/// the server has read the first: proof that the upload is under way.
fn fed_body() -> (tokio::sync::mpsc::Sender<axum::body::Bytes>, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    (tx, Body::from_stream(stream))
}

/// At most `max_concurrent` uploads stage at once; the next is
/// told to come back (503, Retry-After) and nothing of it is kept.
#[tokio::test]
async fn uploads_past_the_concurrency_limit_are_told_to_retry() {
    let f = fixture(None);
    f.uploads.set_max_concurrent(1);
    let first = local(&f.uploads.presign("dev-1", "diag-7", "a", T0).unwrap());
    let second = local(&f.uploads.presign("dev-2", "diag-7", "b", T0).unwrap());

    let (feed, body) = fed_body();
    let app = f.app.clone();
    let running = tokio::spawn(async move { send(&app, Method::PUT, &first, body).await });
    feed.send("part 1, ".into()).await.unwrap();
    feed.send("part 2".into()).await.unwrap();

    let request = axum::http::Request::builder()
        .method(Method::PUT)
        .uri(&second)
        .body(Body::from("x"))
        .unwrap();
    let response = f.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");

    drop(feed);
    let (status, _) = running.await.unwrap();
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = send(&f.app, Method::PUT, &second, Body::from("x")).await;
    assert_eq!(status, StatusCode::CREATED, "the slot is free again");
}
