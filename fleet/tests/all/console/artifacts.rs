//! The artifacts page uploads a file with a progress bar through the
//! API's `PUT /artifacts/{name}`, and shows the stored artifact's sha256
//! and placeholder, and the list of stored artifacts gains it in place; an
//! upload without the session's CSRF token is refused.

use super::browser::Browser;
use super::fleet::Fleet;
use sha2::{Digest, Sha256};

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
    let info: serde_json::Value = fleet
        .api(
            reqwest::Method::GET,
            "/artifacts/fw-1.2.bin/info",
            serde_json::json!(null),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["size"], bytes.len());
    assert_eq!(info["sha256"].as_str(), Some(sha.as_str()));

    // The session's cookie, but no token: refused, nothing stored.
    let status = b
        .fetch_status("PUT", "/console/artifacts/sneaky.bin", false, "x")
        .await;
    assert_eq!(status, 403);
    let r = fleet
        .api(
            reqwest::Method::GET,
            "/artifacts/sneaky.bin/info",
            serde_json::json!(null),
        )
        .await;
    assert_eq!(r.status(), 404, "nothing stored");
}
