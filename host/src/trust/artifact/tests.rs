//! Artifact signatures: signing, each refusal with its message, that a
//! plugin signature and an artifact signature are never interchangeable,
//! and the binding rule (which codesign signs which `url`).

#![allow(clippy::unwrap_used)]

use super::*;
use crate::trust::format::{self, custom_section, COMPONENT_PREAMBLE};
use crate::trust::sigdata::{SignatureData, SignatureEntry, SignedHashes};
use crate::trust::{sign, Manifest, VerifyError, SIGNATURE_SECTION};
use serde_json::json;
use sha2::{Digest, Sha256};

const FILE: &[u8] = b"firmware image 1.2, every byte of it";

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn key() -> SecretKey {
    SecretKey::generate().unwrap()
}

fn trusting(keys: &[&SecretKey]) -> TrustStore {
    TrustStore::new(keys.iter().map(|k| k.public_key()), [])
}

fn signed_file(k: &SecretKey) -> Codesign {
    sign_artifact(k, "fw-1.2.bin", FILE.len() as u64, digest(FILE)).unwrap()
}

#[test]
fn a_good_signature_verifies_with_its_key() {
    let (k, other) = (key(), key());
    let codesign = signed_file(&k);
    assert_eq!(codesign.key_id, *k.public_key().id().as_bytes());
    let id = trusting(&[&other, &k])
        .verify_artifact(&codesign, FILE.len() as u64, &digest(FILE))
        .unwrap();
    assert_eq!(id, k.public_key().id());
    // The object survives its trip through a .sig file and a document.
    let back = Codesign::from_json(&codesign.to_json()).unwrap();
    assert_eq!(back, codesign);
}

#[test]
fn one_flipped_byte_in_the_file_is_refused_with_both_digests() {
    let k = key();
    let mut file = FILE.to_vec();
    file[3] ^= 1;
    let e = trusting(&[&k])
        .verify_artifact(&signed_file(&k), file.len() as u64, &digest(&file))
        .unwrap_err();
    assert!(matches!(e, ArtifactError::OtherFile { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "the file is {n} bytes with sha256 {}, but the signature by key {} is for {n} bytes \
             with sha256 {} (\"fw-1.2.bin\")",
            hex::encode(digest(&file)),
            k.public_key().id(),
            hex::encode(digest(FILE)),
            n = FILE.len(),
        )
    );
}

#[test]
fn a_codesign_for_another_file_is_refused() {
    let k = key();
    let other = b"another file";
    let codesign = sign_artifact(&k, "other.bin", other.len() as u64, digest(other)).unwrap();
    let e = trusting(&[&k])
        .verify_artifact(&codesign, FILE.len() as u64, &digest(FILE))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("is for {} bytes", other.len())) && e.contains("\"other.bin\""),
        "{e}"
    );
}

#[test]
fn unknown_and_revoked_keys_are_named() {
    let (k, trusted) = (key(), key());
    let codesign = signed_file(&k);
    let id = k.public_key().id();
    let e = trusting(&[&trusted])
        .verify_codesign(&codesign)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("the artifact is signed by unknown key id {id}: it is none of the 1 trusted key(s) ([trust] keys)")
    );
    assert!(matches!(
        TrustStore::default().verify_codesign(&codesign),
        Err(ArtifactError::UnknownKey { trusted: 0, .. })
    ));
    let revoked = TrustStore::new([k.public_key()], [id]);
    let e = revoked.verify_codesign(&codesign).unwrap_err();
    assert_eq!(e, ArtifactError::RevokedKey { key_id: id });
    assert!(e
        .to_string()
        .contains(&format!("key {id}, which is revoked")));
    // Revoked even when no longer listed.
    let gone = TrustStore::new([trusted.public_key()], [id]);
    assert!(matches!(
        gone.verify_codesign(&codesign),
        Err(ArtifactError::RevokedKey { .. })
    ));
}

#[test]
fn a_signature_altered_or_moved_to_other_claims_does_not_verify() {
    let k = key();
    let store = trusting(&[&k]);
    let good = signed_file(&k);
    let mut altered = good.clone();
    altered.signature[10] ^= 1;
    let mut renamed = good.clone();
    renamed.file_name = "fw-9.9.bin".into();
    let mut resized = good.clone();
    resized.raw_payload_size += 1;
    let mut rehashed = good.clone();
    rehashed.sha256 = digest(b"x");
    for bad in [altered, renamed, resized, rehashed] {
        let e = store.verify_codesign(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the artifact's signature by key {} does not verify",
                k.public_key().id()
            )
        );
    }
}

/// A signed plugin, the hash its signature covers, and that signature.
fn signed_plugin(k: &SecretKey) -> (Vec<u8>, [u8; 32], u64, [u8; 64]) {
    let component = wat::parse_str(r#"(component (core module (func (export "f"))))"#).unwrap();
    let manifest = Manifest::from_toml(
        "name = \"p\"\nversion = \"1.0.0\"\noperations = [\"p\"]\n\
         wit = \"jobhost:plugin/operation-plugin@0.1.0\"\n",
    )
    .unwrap();
    let file = sign(&component, &manifest, k).unwrap();
    let sections: Vec<_> = format::sections(&file).collect::<Result<_, _>>().unwrap();
    let first = &sections[0];
    let data = SignatureData::decode(first.custom_data(SIGNATURE_SECTION).unwrap()).unwrap();
    let set = &data.signed_hashes_set[0];
    let content = &file[first.offset + first.raw.len()..];
    let signature: [u8; 64] = set.signatures[0].signature.clone().try_into().unwrap();
    (file.clone(), set.hashes[0], content.len() as u64, signature)
}

#[test]
fn a_plugin_signature_does_not_verify_as_an_artifact_signature() {
    let k = key();
    let (_, hash, size, signature) = signed_plugin(&k);
    // The plugin's own hash and signature, presented as a codesign for the
    // bytes that signature covers.
    let replayed = Codesign {
        key_id: *k.public_key().id().as_bytes(),
        file_name: "p.wasm".into(),
        raw_payload_size: size,
        sha256: hash,
        signature,
    };
    assert!(matches!(
        trusting(&[&k]).verify_codesign(&replayed),
        Err(ArtifactError::BadSignature { .. })
    ));
}

#[test]
fn an_artifact_signature_does_not_verify_as_a_plugin_signature() {
    let k = key();
    let (plugin, hash, size, _) = signed_plugin(&k);
    // An artifact signature over exactly what the plugin signature covers,
    // put in its place.
    let codesign = sign_artifact(&k, "p.wasm", size, hash).unwrap();
    let sections: Vec<_> = format::sections(&plugin).collect::<Result<_, _>>().unwrap();
    let data = SignatureData {
        signed_hashes_set: vec![SignedHashes {
            hashes: vec![hash],
            signatures: vec![SignatureEntry {
                key_id: Some(codesign.key_id.to_vec()),
                signature: codesign.signature.to_vec(),
            }],
        }],
    };
    let mut forged = COMPONENT_PREAMBLE.to_vec();
    forged.extend_from_slice(&custom_section(SIGNATURE_SECTION, &data.encode()));
    forged.extend_from_slice(&plugin[sections[1].offset..]);
    let e = trusting(&[&k]).verify(forged, 1 << 20).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
}

#[test]
fn names_that_are_not_base_names_are_not_signed() {
    let k = key();
    for bad in ["", "dir/fw.bin", "..", "a\nb", &"x".repeat(256)] {
        let e = sign_artifact(&k, bad, 1, [0; 32]).unwrap_err();
        assert!(
            e.to_string().starts_with("codesign.fileName"),
            "{bad:?}: {e}"
        );
    }
}

#[test]
fn a_codesign_signs_the_url_beside_it_at_any_depth() {
    let (a, b) = (json!({"n": "a"}), json!({"n": "b"}));
    let doc = json!({
        "operation": "x",
        "url": "https://h/top",
        "codesign": a,
        "files": [
            {"fileName": "one", "url": "https://h/one", "codesign": b},
            {"fileName": "two", "url": "https://h/two"},
            {"nested": {"url": "https://h/top", "codesign": b}},
        ],
        "mirror": "https://h/one",
    });
    assert_eq!(codesigns_for(&doc, "https://h/top"), [&a, &b]);
    assert_eq!(codesigns_for(&doc, "https://h/one"), [&b]);
    assert!(codesigns_for(&doc, "https://h/two").is_empty());
    assert!(codesigns_for(&doc, "https://h/none").is_empty());
}

#[test]
fn plan_time_refusals_name_the_place_and_the_rule() {
    let k = key();
    let codesign = signed_file(&k).to_json();
    let signed = json!({"url": "https://h/fw", "codesign": codesign});
    let unsigned = json!({"url": "https://h/fw", "sha256": "00"});
    for op in SIGNED_OPERATIONS {
        assert_eq!(refusal(true, op, &signed), None);
        assert_eq!(refusal(false, op, &unsigned), None);
        assert_eq!(
            refusal(true, op, &unsigned).unwrap(),
            "this device requires signed artifacts ([trust] require_artifact_signatures) and \
             the job document has no codesign for this file (no `codesign` beside /url)"
        );
    }
    // Other operations are checked when (and if) they download.
    assert_eq!(refusal(true, "reboot", &unsigned), None);
    // Files of their own, in a list.
    let files = json!({"files": [
        {"fileName": "a", "url": "https://h/a", "codesign": codesign},
        {"fileName": "b", "url": "https://h/b"},
    ]});
    assert!(refusal(true, "install-application", &files)
        .unwrap()
        .ends_with("(no `codesign` beside /files/1/url)"));
    // A malformed codesign is refused whatever `require` says.
    let mut broken = signed.clone();
    broken["codesign"]["keyId"] = json!("xyz");
    assert_eq!(
        refusal(false, "download-file", &broken).unwrap(),
        "the codesign beside /url is malformed: codesign.keyId \"xyz\" is not 24 hex digits"
    );
    let placeholder = json!({"url": "https://h/fw",
        "codesign": "${aws:iot:code-sign-signature:http://fleet/artifacts/fw}"});
    assert!(refusal(false, "download-file", &placeholder)
        .unwrap()
        .contains("a placeholder the jobs service did not replace"));
}
