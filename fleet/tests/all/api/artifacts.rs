//! Artifact upload and presigned download: Range, If-Range, expiry,
//! forgery and the upload size cap.

use super::*;
use jobhost_fleet::placeholders::Delivery;

/// `(expires, signature)` of a presigned URL.
fn signed_parts(url: &str) -> (String, String) {
    let query = url.split_once('?').unwrap().1;
    let (e, sig) = query.split_once("&signature=").unwrap();
    (
        e.strip_prefix("expires=").unwrap().to_owned(),
        sig.to_owned(),
    )
}

#[tokio::test]
async fn artifacts_upload_and_download_through_presigned_urls() {
    let s = Server::start(Some(TOKEN)).await;
    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let (status, _, info) = s
        .call(
            s.req(Method::PUT, "/artifacts/fw-1.bin")
                .body(bytes.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let url = format!("{}/artifacts/fw-1.bin", s.base);
    assert_eq!(info["name"], "fw-1.bin");
    assert_eq!(info["size"], 100_000);
    assert_eq!(info["url"], url.as_str());
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);

    // Devices get the URL through a resolved document: no token needed.
    let doc = json!({"files": [{"url": placeholder(&url)}]});
    let delivery = Delivery {
        artifacts: Some(Arc::clone(&s.artifacts)),
        ..Default::default()
    };
    let signed = delivery.resolve(&doc, "t1", "job-1", 1, T0)["files"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = s.http.get(&signed).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let resp = s.http.head(&signed).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], "100000");

    let resp = s
        .http
        .get(&signed)
        .header("Range", "bytes=1000-1009")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.headers()["content-range"], "bytes 1000-1009/100000");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &bytes[1000..1010]);

    // If-Range: the Last-Modified the client saw keeps the range; any other
    // validator (the file was replaced since) gets the whole file.
    let path = s.artifacts.path_of("fw-1.bin").unwrap();
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    let head = s.http.head(&signed).send().await.unwrap();
    let last_modified = head.headers()["last-modified"].to_str().unwrap().to_owned();
    let ranged = |if_range: String| {
        s.http
            .get(&signed)
            .header("Range", "bytes=0-9")
            .header("If-Range", if_range)
            .send()
    };
    let resp = ranged(last_modified).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &bytes[..10]);
    for stale in ["Wed, 21 Oct 2015 07:28:00 GMT", "\"some-etag\""] {
        let resp = ranged(stale.to_owned()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{stale}");
        assert_eq!(resp.bytes().await.unwrap().len(), bytes.len());
    }

    // Forged, tampered, missing and expired signatures.
    let (expires, sig) = signed_parts(&signed);
    let srv = &s;
    let forbidden = |u: String| async move {
        let got = srv.call(srv.http.get(u)).await;
        assert_error(got, StatusCode::FORBIDDEN, "AccessDeniedException");
    };
    let mut flipped = sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    forbidden(format!("{url}?expires={expires}&signature={flipped}")).await;
    forbidden(format!("{url}?expires={}&signature={sig}", T0 + 99_999)).await;
    forbidden(format!(
        "{}/artifacts/other.bin?expires={expires}&signature={sig}",
        s.base
    ))
    .await;
    forbidden(format!("{url}?expires=soon&signature={sig}")).await;
    forbidden(url.clone()).await;
    forbidden(format!(
        "{}/artifacts/.url-signing-key?expires={expires}&signature={sig}",
        s.base
    ))
    .await;
    s.clock.store(T0 + TTL as i64 + 1, Ordering::SeqCst);
    forbidden(signed.clone()).await;

    // A valid signature for a name never uploaded is a 404.
    let now = s.clock.load(Ordering::SeqCst);
    let missing = s
        .artifacts
        .presign(&format!("{}/artifacts/none.bin", s.base), now)
        .unwrap();
    assert_error(
        s.call(s.http.get(missing)).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
    );

    // Upload errors.
    assert_error(
        s.call(s.req(Method::PUT, "/artifacts/.hidden").body("x"))
            .await,
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
    );
    assert_error(
        s.call(s.http.put(format!("{}/artifacts/x.bin", s.base)).body("x"))
            .await,
        StatusCode::UNAUTHORIZED,
        "UnauthorizedException",
    );
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused_and_leave_nothing() {
    let s = Server::start_with(None, 1024).await;
    let (status, _, _) = s
        .call(
            s.req(Method::PUT, "/artifacts/ok.bin")
                .body(vec![1u8; 1024]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Declared too large: refused before reading.
    assert_error(
        s.call(
            s.req(Method::PUT, "/artifacts/big.bin")
                .body(vec![1u8; 1025]),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "LimitExceededException",
    );
    // Streamed without a length: refused once the limit is crossed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![2u8; 1000]), Ok(vec![2u8; 1000])];
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let got = s
        .call(s.req(Method::PUT, "/artifacts/big.bin").body(body))
        .await;
    assert_error(got, StatusCode::PAYLOAD_TOO_LARGE, "LimitExceededException");
    let now = s.clock.load(Ordering::SeqCst);
    let signed = s
        .artifacts
        .presign(&format!("{}/artifacts/big.bin", s.base), now)
        .unwrap();
    assert_eq!(
        s.http.get(signed).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

/// The artifact's signature in `x-jobhost-codesign` (the `.sig` file in
/// base64): stored when it is for the uploaded bytes, 400 and nothing
/// replaced otherwise; listed and described with its key; the code-sign
/// placeholder of CreateJob answers 400 for an artifact without one.
#[tokio::test]
async fn an_artifact_is_stored_with_its_signature_or_refused() {
    use base64::Engine as _;
    use jobhost::trust::artifact::sign_artifact;
    use jobhost::trust::SecretKey;
    use sha2::{Digest, Sha256};
    let s = Server::start(Some(TOKEN)).await;
    let key = SecretKey::generate().unwrap();
    let id = key.public_key().id().to_string();
    let header = |bytes: &[u8]| {
        let sha: [u8; 32] = Sha256::digest(bytes).into();
        let c = sign_artifact(&key, "fw.bin", bytes.len() as u64, sha).unwrap();
        base64::engine::general_purpose::STANDARD.encode(c.to_file_text())
    };
    let put = |bytes: &'static [u8], sig: String| {
        s.req(Method::PUT, "/artifacts/fw.bin")
            .header("x-jobhost-codesign", sig)
            .body(bytes)
    };
    let (status, _, info) = s.call(put(b"firmware", header(b"firmware"))).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["codesign"]["keyId"], id.as_str());
    assert_eq!(info["codesign"]["rawPayloadSize"], 8);

    let got = s.call(put(b"firmwarX", header(b"firmware"))).await;
    let message = got.2["message"].as_str().unwrap().to_owned();
    assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
    assert!(
        message.contains("the signature is for 8 bytes"),
        "{message}"
    );
    let stored = std::fs::read(s.artifacts.path_of("fw.bin").unwrap()).unwrap();
    assert_eq!(stored, b"firmware", "nothing was replaced");

    for (sig, why) in [
        ("***".to_owned(), "x-jobhost-codesign: not base64"),
        (
            base64::engine::general_purpose::STANDARD.encode("{}"),
            "x-jobhost-codesign: codesign.format is missing",
        ),
    ] {
        let got = s.call(put(b"firmware", sig)).await;
        let message = got.2["message"].as_str().unwrap().to_owned();
        assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
        assert!(message.starts_with(why), "{message}");
    }

    let (status, _, _) = s
        .call(s.req(Method::PUT, "/artifacts/plain.bin").body("plain"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, list) = s.call(s.req(Method::GET, "/artifacts")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!({"artifacts": [
            {"name": "fw.bin", "size": 8, "url": format!("{}/artifacts/fw.bin", s.base),
             "signed": true, "keyId": id},
            {"name": "plain.bin", "size": 5, "url": format!("{}/artifacts/plain.bin", s.base),
             "signed": false},
        ]})
    );
    let (status, _, info) = s.call(s.req(Method::GET, "/artifacts/fw.bin/info")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        info["sha256"],
        hex::encode(Sha256::digest(b"firmware")).as_str()
    );
    assert_eq!(info["codesign"]["keyId"], id.as_str());
    assert_error(
        s.call(s.req(Method::GET, "/artifacts/none.bin/info")).await,
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
    );
    // Listing and describing are management routes.
    let resp = s
        .http
        .get(format!("{}/artifacts", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let document = json!({"codesign": format!(
        "${{aws:iot:code-sign-signature:{}/artifacts/plain.bin}}", s.base
    )});
    let body = json!({"targets": ["t1"], "document": document.to_string()});
    let got = s
        .call(s.req(Method::PUT, "/jobs/unsigned").json(&body))
        .await;
    let message = got.2["message"].as_str().unwrap().to_owned();
    assert_error(got, StatusCode::BAD_REQUEST, "InvalidRequestException");
    assert!(
        message.contains("artifact plain.bin is not signed"),
        "{message}"
    );
}
