//! The code-sign placeholder at CreateJob: replaced by the stored
//! signature in the operator's own text, refused early with the reason.

#![allow(clippy::unwrap_used)]

use super::*;
use jobhost_protocol::codesign::Codesign;
use sha2::{Digest, Sha256};
use std::time::Duration;

const BASE: &str = "http://fleet.test:8080";

fn store(dir: &std::path::Path) -> Artifacts {
    Artifacts::open(dir, BASE, Duration::from_secs(600)).unwrap()
}

/// A codesign for `bytes` (the service never checks the signature itself:
/// devices do, with keys it does not have).
fn codesign(bytes: &[u8]) -> Codesign {
    Codesign {
        key_id: [0x5a; 12],
        file_name: "fw.bin".into(),
        raw_payload_size: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
        signature: [9; 64],
    }
}

fn url(name: &str) -> String {
    format!("{BASE}/artifacts/{name}")
}

#[test]
fn the_placeholder_becomes_the_codesign_object_in_the_operators_text() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    let c = codesign(b"firmware");
    a.put_signed("fw.bin", b"firmware", &c).unwrap();
    // Escaped slashes are the same string to JSON.
    let escaped = placeholder(&url("fw.bin")).replace('/', "\\/");
    let text = format!(
        "{{\n  \"url\": \"${{aws:iot:s3-presigned-url:{u}}}\",\n  \"zeta\": 1,\n  \
         \"codesign\": \"{p}\",\n  \"files\": [{{\"codesign\": \"{escaped}\"}}]\n}}",
        u = url("fw.bin"),
        p = placeholder(&url("fw.bin")),
    );
    let out = substitute(&text, &a).unwrap().unwrap();
    let object = c.to_json().to_string();
    assert_eq!(
        out,
        format!(
            "{{\n  \"url\": \"${{aws:iot:s3-presigned-url:{u}}}\",\n  \"zeta\": 1,\n  \
             \"codesign\": {object},\n  \"files\": [{{\"codesign\": {object}}}]\n}}",
            u = url("fw.bin"),
        ),
        "only the placeholders change"
    );
    let parsed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(Codesign::from_json(&parsed["codesign"]).unwrap(), c);
}

#[test]
fn a_document_without_the_placeholder_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    assert!(substitute("{\"url\": \"x\"}", &a).unwrap().is_none());
    assert!(substitute("not json", &a).unwrap().is_none());
}

#[test]
fn each_refusal_names_the_artifact_or_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(dir.path());
    a.put("plain.bin", b"x").unwrap();
    let doc = |value: &str| serde_json::json!({ "codesign": value }).to_string();
    let err = |text: String| substitute(&text, &a).unwrap_err().to_string();

    let e = err(doc(&placeholder(&url("missing.bin"))));
    assert_eq!(
        e,
        format!(
            "code-sign placeholder for {}: there is no artifact named missing.bin",
            url("missing.bin")
        )
    );
    let e = err(doc(&placeholder(&url("plain.bin"))));
    assert!(e.contains("artifact plain.bin is not signed"), "{e}");
    assert!(e.contains("artifact put --signature"), "{e}");
    let e = err(doc(&placeholder("s3://us-east-1.bucket/fw.bin@3")));
    assert!(e.contains("is not an artifact of this server"), "{e}");
    assert!(e.contains(&format!("{BASE}/artifacts/<name>")), "{e}");
    let e = err(doc(&format!("sig: {}", placeholder(&url("plain.bin")))));
    assert!(e.contains("must be a whole JSON string value"), "{e}");
    let key = serde_json::json!({ placeholder(&url("plain.bin")): 1 }).to_string();
    assert!(err(key).contains("must be a whole JSON string value"));
}

#[test]
fn a_placeholder_written_as_a_key_elsewhere_is_not_spliced() {
    let by = BTreeMap::from([("k".to_owned(), serde_json::json!({"a": 1}))]);
    assert_eq!(
        splice(r#"{"k": "k", "x": ["k", "\"k"]}"#, &by),
        r#"{"k": {"a":1}, "x": [{"a":1}, "\"k"]}"#
    );
}
