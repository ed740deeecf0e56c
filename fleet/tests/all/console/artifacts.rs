//! The artifacts page uploads a file with a progress bar through the
//! API's `PUT /artifacts/{name}`, and shows the stored artifact's sha256
//! and placeholder, and the list of stored artifacts gains it in place; an
//! upload without the session's CSRF token is refused. With the `.sig`
//! file `jobhost artifact sign` writes, the artifact is stored signed; a
//! signature of other bytes is refused with the API's reason.

use super::browser::Browser;
use super::fleet::Fleet;
use crate::support::artifact_sig::sign;
use jobhost::trust::SecretKey;
use sha2::{Digest, Sha256};
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_uploads_an_artifact_and_sees_its_sha256_and_placeholder() {
    let fleet = Fleet::start().await;
    let b = Browser::start(1280, 900).await;
    fleet.login(&b).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fw-1.2.bin");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();

    b.goto(&format!("{}/console/artifacts", fleet.base)).await;
    b.wait_for("#artifact-upload:not([hidden])").await;
    assert!(
        b.text("#artifact-list").await.contains("No artifacts yet."),
        "the list starts empty"
    );
    // The list must change in place, not by a reload.
    b.mark_page().await;
    b.wait_for("#artifact-file")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .expect("choose the file");
    b.click("#artifact-upload button[type=submit]").await;
    let sha = b.text("#upload-result dd.sha256").await;
    assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
    let placeholder = b.text("#upload-result dd.placeholder code").await;
    assert!(
        placeholder.starts_with("${aws:iot:s3-presigned-url:http")
            && placeholder.ends_with("/artifacts/fw-1.2.bin}"),
        "{placeholder}"
    );
    let state = b.text("#upload-state").await;
    assert_eq!(state, "Uploaded fw-1.2.bin.");
    let progress = b
        .client
        .execute(
            "const p = document.getElementById('upload-progress'); return [p.value, p.max];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(progress, serde_json::json!([bytes.len(), bytes.len()]));
    // The stored list shows it, with its size, without a reload.
    let listed = b
        .wait_for("#artifact-list tr[data-artifact='fw-1.2.bin']")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains(&format!("{} unsigned", bytes.len())),
        "{listed}"
    );
    b.wait_for("#artifact-list button[data-copy]:not([hidden])")
        .await;
    b.assert_not_reloaded("the list was updated").await;
    b.assert_accessible("artifacts after an upload").await;
    b.screenshot("artifacts-upload").await;

    // Stored through the API: the same bytes.
    let described = info(&fleet, "fw-1.2.bin").await.1;
    assert_eq!(described["size"], bytes.len());
    assert_eq!(described["sha256"].as_str(), Some(sha.as_str()));

    // The session's cookie, but no token: refused, nothing stored.
    let status = b
        .fetch_status("PUT", "/console/artifacts/sneaky.bin", false, "x")
        .await;
    assert_eq!(status, 403);
    assert_eq!(info(&fleet, "sneaky.bin").await.0, 404, "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_uploads_a_signed_artifact_and_a_wrong_signature_is_refused() {
    let fleet = Fleet::start().await;
    let b = Browser::start(1280, 900).await;
    fleet.login(&b).await;
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate().unwrap();
    let key_id = key.public_key().id().to_string();
    let (file, sig) = sign(dir.path(), &key, "fw-2.bin", b"firmware two");

    b.goto(&format!("{}/console/artifacts", fleet.base)).await;
    b.wait_for("#artifact-upload:not([hidden])").await;
    choose(&b, "#artifact-file", &file).await;
    choose(&b, "#artifact-signature", &sig).await;
    b.click("#artifact-upload button[type=submit]").await;
    assert_eq!(b.text("#upload-result dd.signer code").await, key_id);
    let listed = b
        .wait_for("#artifact-list tr[data-artifact='fw-2.bin']")
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.contains(&format!("signed {key_id}")), "{listed}");
    let described = info(&fleet, "fw-2.bin").await.1;
    assert_eq!(
        described["codesign"]["keyId"].as_str(),
        Some(key_id.as_str())
    );

    // The signature of other bytes: the API refuses, the page says why,
    // nothing is stored.
    let other = dir.path().join("fw-3.bin");
    std::fs::write(&other, b"not what was signed").unwrap();
    let (_, wrong) = sign(
        &dir.path().join("wrong"),
        &key,
        "fw-3.bin",
        b"firmware three",
    );
    choose(&b, "#artifact-file", &other).await;
    choose(&b, "#artifact-signature", &wrong).await;
    b.fill("#artifact-name", "fw-3.bin").await;
    b.click("#artifact-upload button[type=submit]").await;
    b.wait_for_xpath("//span[@id='upload-state'][starts-with(., 'Upload failed (400)')]")
        .await;
    assert_eq!(info(&fleet, "fw-3.bin").await.0, 404, "nothing stored");
}

/// Chooses `path` in the file input `css`.
async fn choose(b: &Browser, css: &str, path: &Path) {
    b.wait_for(css)
        .await
        .send_keys(path.to_str().expect("a UTF-8 path"))
        .await
        .expect("choose the file");
}

/// DescribeArtifact (`GET /artifacts/{name}/info`) through the API: the
/// status and the JSON reply (Null when there is none).
async fn info(fleet: &Fleet, name: &str) -> (u16, serde_json::Value) {
    let r = fleet
        .api(
            reqwest::Method::GET,
            &format!("/artifacts/{name}/info"),
            serde_json::json!(null),
        )
        .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}
