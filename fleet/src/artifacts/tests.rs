//! Unit tests of the artifact store.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::staged::TEMP_PREFIX;
use jobhost_protocol::codesign::Codesign;
use serde_json::json;
use std::fs;

/// Our temporary files left in `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(TEMP_PREFIX))
        .collect()
}

fn open(dir: &Path) -> Artifacts {
    Artifacts::open(dir, "http://fleet.test:8080/", Duration::from_secs(600)).unwrap()
}

#[test]
fn names_are_restricted() {
    for good in ["a", "fw-1.2.3.bin", "A_b.c-d", &"x".repeat(128)] {
        assert!(check_name(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        ".hidden",
        "..",
        "a/b",
        "a b",
        "é",
        &"x".repeat(129),
        KEY_FILE,
    ] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn put_is_atomic_and_reports_size_and_digest() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let info = a.put("fw.bin", b"hello").unwrap();
    assert_eq!(info.size, 5);
    assert_eq!(
        info.sha256,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(info.url, "http://fleet.test:8080/artifacts/fw.bin");
    a.put("fw.bin", b"again").unwrap();
    assert_eq!(fs::read(a.path_of("fw.bin").unwrap()).unwrap(), b"again");
    let leftovers = temporaries(dir.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(a.put("../x", b"").is_err());
}

#[test]
fn signatures_expire_survive_restarts_and_resist_forgery() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let signed = a
        .presign("http://fleet.test:8080/artifacts/fw.bin", 1000)
        .unwrap();
    let (_, query) = signed.split_once('?').unwrap();
    let sig = query.split_once("&signature=").unwrap().1;
    assert!(query.starts_with("expires=1600&"));
    let legacy = crate::presign::legacy_signature(&dir.path().join(KEY_FILE), "fw.bin|1600");
    assert_eq!(sig, legacy, "the signed message is name|expires");
    assert!(a.verify("fw.bin", 1600, sig, 1600));
    assert!(!a.verify("fw.bin", 1600, sig, 1601), "expired");
    assert!(!a.verify("fw.bin", 1700, sig, 1000), "expiry changed");
    assert!(!a.verify("other.bin", 1600, sig, 1000), "name changed");
    assert!(!a.verify("fw.bin", 1600, "zz", 1000), "not hex");
    // Reopening reads the same key.
    assert!(open(dir.path()).verify("fw.bin", 1600, sig, 1000));
    // Foreign, malformed and query-carrying URLs are not signed.
    assert_eq!(a.presign("https://s3.amazonaws.com/b/k", 0), None);
    assert_eq!(
        a.presign("http://fleet.test:8080/artifacts/.url-signing-key", 0),
        None
    );
    assert_eq!(a.presign("http://fleet.test:8080/artifacts/a?x=1", 0), None);
}

#[cfg(unix)]
#[test]
fn a_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    open(dir.path());
    let key = dir.path().join(KEY_FILE);
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let err = Artifacts::open(dir.path(), "http://x", Duration::ZERO).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn placeholders_are_resolved_anywhere_in_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let a = std::sync::Arc::new(open(dir.path()));
    let delivery = crate::placeholders::Delivery {
        artifacts: Some(a.clone()),
        ..Default::default()
    };
    let ours = placeholder("http://fleet.test:8080/artifacts/fw.bin");
    let foreign = placeholder("https://s3.amazonaws.com/b/k");
    let doc = json!({
        "url": ours,
        "steps": [{"args": [format!("curl '{ours}' && curl '{ours}'"), 7]}],
        "other": foreign,
        "broken": "${aws:iot:s3-presigned-url:http://fleet.test:8080/artifacts/x",
    });
    let out = delivery.resolve(&doc, "t1", "job-1", 1, 100);
    let signed = a
        .presign("http://fleet.test:8080/artifacts/fw.bin", 100)
        .unwrap();
    assert_eq!(out["url"], signed.as_str());
    assert_eq!(
        out["steps"][0]["args"][0],
        format!("curl '{signed}' && curl '{signed}'").as_str()
    );
    assert_eq!(out["steps"][0]["args"][1], 7);
    assert_eq!(out["other"], doc["other"]);
    assert_eq!(out["broken"], doc["broken"]);
}

#[test]
fn base_urls_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["ftp://x", "http://", "127.0.0.1:8080", "http://x/?a"] {
        assert!(
            Artifacts::open(dir.path(), bad, Duration::ZERO).is_err(),
            "{bad}"
        );
    }
}

/// A codesign for `bytes`; the store checks only its size and sha256.
fn codesign(bytes: &[u8]) -> Codesign {
    use sha2::{Digest, Sha256};
    Codesign {
        key_id: [0x11; 12],
        file_name: "fw.bin".into(),
        raw_payload_size: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
        signature: [3; 64],
    }
}

#[test]
fn a_signature_is_stored_with_its_file_and_goes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let c = codesign(b"hello");
    let info = a.put_signed("fw.bin", b"hello", &c).unwrap();
    assert_eq!(info.codesign, Some(c.to_json()));
    assert_eq!(a.codesign_of("fw.bin").unwrap(), c);
    let described = a.describe("fw.bin").unwrap();
    assert_eq!(described, info);
    assert_eq!(
        a.list().unwrap(),
        [ArtifactSummary {
            name: "fw.bin".into(),
            size: 5,
            url: info.url.clone(),
            signed: true,
            key_id: Some("11".repeat(12)),
        }]
    );
    // Replaced without a signature: unsigned, not paired with the old one.
    a.put("fw.bin", b"hello").unwrap();
    assert!(matches!(
        a.codesign_of("fw.bin"),
        Err(ArtifactError::Unsigned(_))
    ));
    assert!(!a.list().unwrap()[0].signed);
    assert_eq!(a.describe("fw.bin").unwrap().codesign, None);
    assert!(matches!(
        a.codesign_of("nope.bin"),
        Err(ArtifactError::NotFound(_))
    ));
    // Only artifacts are listed: not the key, signatures or temporaries.
    a.put_signed("fw.bin", b"hello", &c).unwrap();
    a.put("b.bin", b"").unwrap();
    let names: Vec<_> = a.list().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["b.bin", "fw.bin"]);
}

#[test]
fn a_signature_for_other_bytes_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    let c = codesign(b"hello");
    a.put_signed("fw.bin", b"hello", &c).unwrap();
    let e = a
        .put_signed("fw.bin", b"hellp", &codesign(b"other bytes"))
        .unwrap_err();
    assert!(matches!(e, ArtifactError::SignatureMismatch { .. }), "{e}");
    assert!(
        e.to_string().starts_with("the signature is for 11 bytes"),
        "{e}"
    );
    assert!(
        e.to_string().contains("the uploaded fw.bin is 5 bytes"),
        "{e}"
    );
    assert_eq!(fs::read(a.path_of("fw.bin").unwrap()).unwrap(), b"hello");
    assert_eq!(a.codesign_of("fw.bin").unwrap(), c);
    let leftovers = temporaries(dir.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_stored_signature_edited_by_hand_is_reported_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path());
    a.put_signed("fw.bin", b"hello", &codesign(b"hello"))
        .unwrap();
    // The file replaced behind the store's back.
    fs::write(a.path_of("fw.bin").unwrap(), b"longer file").unwrap();
    let e = a.codesign_of("fw.bin").unwrap_err().to_string();
    assert!(e.contains("it is for 5 bytes, and the file has 11"), "{e}");
    fs::write(dir.path().join(".codesign-fw.bin.json"), "{").unwrap();
    let e = a.codesign_of("fw.bin").unwrap_err().to_string();
    assert!(
        e.contains("the stored signature of artifact fw.bin is unusable"),
        "{e}"
    );
}
