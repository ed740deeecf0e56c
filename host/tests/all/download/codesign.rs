//! Code-signed downloads (`codesign` beside a file's `url`): the host's
//! `download` capability verifies the signature with the sandbox's trusted
//! keys before fetching, and the body against it before the rename, for
//! download-file and for a plugin that would rather not check anything
//! (the probe, which passes the sha256 of whatever is served).

use super::*;
use jobhost::trust::artifact::{sign_artifact, ArtifactTrust, Codesign};
use jobhost::trust::{KeyId, SecretKey, TrustStore};

const SIGNED: &[u8] = b"the application bundle the operator signed, version 7";

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn codesign(key: &SecretKey, bytes: &[u8]) -> Codesign {
    sign_artifact(key, "app-7.tar.gz", bytes.len() as u64, digest(bytes)).unwrap()
}

/// A server with `served` at /fw.bin, and a sandbox that may download from
/// it into a fresh /downloads, trusting `trusted` minus `revoked`.
fn fixture(
    served: &[u8],
    trusted: &[&SecretKey],
    revoked: &[KeyId],
    require: bool,
) -> (Scripted, tempfile::TempDir, Sandbox) {
    let server = Scripted::start(
        File {
            body: served.to_vec(),
            etag: "\"v7\"".into(),
        },
        Vec::new(),
    );
    let downloads = tempfile::tempdir().unwrap();
    let sandbox = Sandbox {
        artifacts: Arc::new(ArtifactTrust {
            store: TrustStore::new(
                trusted.iter().map(|k| k.public_key()),
                revoked.iter().copied(),
            ),
            require,
        }),
        ..downloads_sandbox(server.addr.to_string(), downloads.path())
    };
    (server, downloads, sandbox)
}

/// Runs plugin `name` on `doc` in `sandbox`.
fn run_document(
    name: &str,
    doc: &serde_json::Value,
    sandbox: &Sandbox,
) -> jobhost::executor::Report {
    run_with(
        &load(name),
        &execution(&doc.to_string()),
        sandbox,
        &ExecutionLimits::default(),
        Box::new(NullObserver::default()),
    )
}

fn url(server: &Scripted) -> String {
    format!("http://{}/fw.bin?X-Signature=secret", server.addr)
}

/// download-file with `codesign` (when given) beside its `url`, and the
/// sha256 the signature is for, as an operator would write both.
fn download_file(
    server: &Scripted,
    sandbox: &Sandbox,
    codesign: Option<serde_json::Value>,
) -> jobhost::executor::Report {
    let mut doc = serde_json::json!({
        "operation": "download-file",
        "url": url(server),
        "destination": "/downloads/app.tar.gz",
        "sha256": sha(SIGNED),
    });
    if let Some(c) = codesign {
        doc["codesign"] = c;
    }
    run_document("download-file", &doc, sandbox)
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn assert_failed(report: &jobhost::executor::Report, status: TerminalStatus, why: &str) {
    assert_eq!(report.status, status, "{report:?}");
    let reason = report.reason().unwrap_or_default();
    assert!(
        reason.contains(why),
        "reason {reason:?} does not say {why:?}"
    );
    assert_eq!(report.status_details.get("codesignKeyId"), None);
}

#[test]
fn a_signed_file_goes_into_place_and_its_key_is_reported() {
    let k = SecretKey::generate().unwrap();
    let (server, downloads, sandbox) = fixture(SIGNED, &[&k], &[], false);
    let report = download_file(&server, &sandbox, Some(codesign(&k, SIGNED).to_json()));
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    assert_eq!(
        report.status_details.get("codesignKeyId"),
        Some(k.public_key().id().to_string().as_str())
    );
    assert_eq!(
        std::fs::read(downloads.path().join("app.tar.gz")).unwrap(),
        SIGNED
    );
}

#[test]
fn a_file_other_than_the_signed_one_is_removed_with_the_reason() {
    let k = SecretKey::generate().unwrap();
    let mut served = SIGNED.to_vec();
    served[5] ^= 1;
    let (server, downloads, sandbox) = fixture(&served, &[&k], &[], false);
    let report = download_file(&server, &sandbox, Some(codesign(&k, SIGNED).to_json()));
    assert_failed(
        &report,
        TerminalStatus::Failed,
        &format!(
            "the file is {n} bytes with sha256 {}, but the signature by key {} is for {n} bytes \
             with sha256 {}",
            sha(&served),
            k.public_key().id(),
            sha(SIGNED),
            n = SIGNED.len()
        ),
    );
    assert!(
        files_in(downloads.path()).is_empty(),
        "{:?}",
        files_in(downloads.path())
    );
}

#[test]
fn unknown_and_revoked_keys_are_refused_before_anything_is_fetched() {
    let (k, trusted) = (
        SecretKey::generate().unwrap(),
        SecretKey::generate().unwrap(),
    );
    let signed = Some(codesign(&k, SIGNED).to_json());
    let id = k.public_key().id();
    let (server, downloads, sandbox) = fixture(SIGNED, &[&trusted], &[], false);
    let report = download_file(&server, &sandbox, signed.clone());
    assert_failed(
        &report,
        TerminalStatus::Failed,
        &format!("signed by unknown key id {id}"),
    );
    let (revoked_server, _revoked_downloads, revoked) = fixture(SIGNED, &[&k], &[id], false);
    let report = download_file(&revoked_server, &revoked, signed);
    assert_failed(
        &report,
        TerminalStatus::Failed,
        &format!("signed by key {id}, which is revoked"),
    );
    assert!(server.requests().is_empty() && revoked_server.requests().is_empty());
    assert!(files_in(downloads.path()).is_empty());
}

#[test]
fn a_resumed_download_is_checked_as_a_whole() {
    let k = SecretKey::generate().unwrap();
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let server = Scripted::start(
        File {
            body: body.clone(),
            etag: "\"v1\"".into(),
        },
        vec![Answer::CutAfter(40_000)],
    );
    let (_, downloads, mut sandbox) = fixture(b"", &[&k], &[], true);
    sandbox.download = Some(DownloadGrant {
        hosts: vec![server.addr.to_string()],
        allow_http: true,
    });
    let c = sign_artifact(&k, "fw.bin", body.len() as u64, digest(&body)).unwrap();
    let doc = serde_json::json!({
        "operation": "download-file", "url": url(&server), "destination": "/downloads/fw.bin",
        "sha256": sha(&body), "codesign": c.to_json(),
    });
    let report = run_document("download-file", &doc, &sandbox);
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    assert_eq!(server.requests().len(), 2, "cut, then resumed");
    assert_eq!(
        std::fs::read(downloads.path().join("fw.bin")).unwrap(),
        body
    );
}

/// The probe downloads with the sha256 of what the server sends, and does
/// not look at `codesign` at all: the host holds it to the signature.
#[test]
fn a_plugin_cannot_skip_the_check() {
    let k = SecretKey::generate().unwrap();
    let served = b"not what the operator signed".to_vec();
    let (server, downloads, sandbox) = fixture(&served, &[&k], &[], false);
    let doc = serde_json::json!({"download": {
        "url": url(&server),
        "destination": "/downloads/app.tar.gz",
        "sha256": sha(&served),
        "codesign": codesign(&k, SIGNED).to_json(),
    }});
    let report = run_document("test-probe", &doc, &sandbox);
    let shown = report.status_details.get("download").unwrap_or_default();
    assert!(
        shown.starts_with("err:failed: the file is") && shown.contains("but the signature by key"),
        "{report:?}"
    );
    assert!(files_in(downloads.path()).is_empty());
}

#[test]
fn without_a_codesign_a_device_that_requires_one_refuses_the_download() {
    let (server, downloads, sandbox) = fixture(SIGNED, &[], &[], true);
    let report = download_file(&server, &sandbox, None);
    assert_failed(
        &report,
        TerminalStatus::Failed,
        "this device requires signed artifacts ([trust] require_artifact_signatures) and the job \
         document has no codesign for this file",
    );
    assert!(server.requests().is_empty());
    assert!(files_in(downloads.path()).is_empty());
}

#[test]
fn a_malformed_codesign_is_the_documents_fault() {
    let k = SecretKey::generate().unwrap();
    let mut c = codesign(&k, SIGNED).to_json();
    c.as_object_mut().unwrap().remove("signature");
    let (server, _downloads, sandbox) = fixture(SIGNED, &[&k], &[], false);
    let report = download_file(&server, &sandbox, Some(c));
    assert_failed(
        &report,
        TerminalStatus::Rejected,
        "codesign.signature is missing",
    );
}
