//! What the `signature` section may hold: one hash over the whole content,
//! and no byte that the signature does not need.

use super::*;

/// The bytes a normal signature of `signed` covers: everything after its
/// signature section.
fn content_of(signed: &[u8]) -> &[u8] {
    &signed[all_sections(signed)[1].offset..]
}

/// The preamble, a signature section holding `payload`, then `content`.
fn with_signature_payload(payload: &[u8], content: &[u8]) -> Vec<u8> {
    let mut out = COMPONENT_PREAMBLE.to_vec();
    out.extend(format::custom_section(SIGNATURE_SECTION, payload));
    out.extend_from_slice(content);
    out
}

/// A signature section by `k` over `hashes` (one set, one signature), as
/// wasmsign2 writes it.
fn signature_over(hashes: Vec<[u8; 32]>, k: &SecretKey) -> Vec<u8> {
    let signature = k.sign(&signed_message(&hashes)).to_vec();
    SignatureData {
        signed_hashes_set: vec![SignedHashes {
            hashes,
            signatures: vec![SignatureEntry {
                key_id: Some(k.public_key().id().as_bytes().to_vec()),
                signature,
            }],
        }],
    }
    .encode()
}

#[test]
fn a_split_signature_is_refused_so_a_cut_file_cannot_verify() {
    // Security review L1. wasmsign2 --split signs one hash per delimited
    // part: the hash of the content up to each delimiter, then of all of
    // it. The part up to the first delimiter is a complete plugin here.
    let k = key();
    let store = trust(&[&k]);
    let signed = sign(&component(), &manifest(), &k).unwrap();
    let prefix = content_of(&signed).to_vec();
    let mut full = prefix.clone();
    full.extend(format::custom_section("extension", b"more signed content"));
    let payload = signature_over(
        vec![Sha256::digest(&prefix).into(), Sha256::digest(&full).into()],
        &k,
    );

    // Cut at the delimiter: its own hash is in the signed set.
    let cut = with_signature_payload(&payload, &prefix);
    let e = store.verify(cut, MAX).unwrap_err();
    assert!(
        matches!(e, VerifyError::SplitSignature { hashes: 2, .. }),
        "{e}"
    );
    // The whole file: refused as well, saying what to do instead.
    let e = store
        .verify(with_signature_payload(&payload, &full), MAX)
        .unwrap_err();
    let message = e.to_string();
    assert!(message.contains("covers 2 hashes"), "{message}");
    assert!(message.contains("jobhost plugin sign"), "{message}");
    assert!(message.contains("without --split"), "{message}");
    // One hash over the same whole file is the accepted form.
    let one = signature_over(vec![Sha256::digest(&full).into()], &k);
    store
        .verify(with_signature_payload(&one, &full), MAX)
        .unwrap();
}

#[test]
fn bytes_the_signature_section_does_not_need_are_refused() {
    // Security review L2: the signature section is not signed, so anything
    // the decoder skipped would make another file of the same content.
    let k = key();
    let store = trust(&[&k]);
    let signed = sign(&component(), &manifest(), &k).unwrap();
    let content = content_of(&signed);
    let hash: [u8; 32] = Sha256::digest(content).into();
    let signature = k.sign(&signed_message(&[hash]));
    // The payload by hand, with `extra` after the entry's signature, after
    // the set's signatures, and after the last set.
    let payload = |extra: [&[u8]; 3]| {
        let bytes = |out: &mut Vec<u8>, b: &[u8]| {
            put_u32(out, b.len() as u32);
            out.extend_from_slice(b);
        };
        let mut entry = Vec::new();
        bytes(&mut entry, k.public_key().id().as_bytes());
        entry.push(0x01);
        bytes(&mut entry, &signature);
        entry.extend_from_slice(extra[0]);
        let mut set = vec![1];
        set.extend_from_slice(&hash);
        set.push(1);
        bytes(&mut set, &entry);
        set.extend_from_slice(extra[1]);
        let mut out = vec![0x01, 0x01, 0x01, 1];
        bytes(&mut out, &set);
        out.extend_from_slice(extra[2]);
        out
    };
    let canonical = with_signature_payload(&payload([b"", b"", b""]), content);
    assert_eq!(canonical, signed, "the hand encoding is jobhost's own");
    for (extra, after) in [
        (
            [&b"\0"[..], b"", b""],
            "after the signature of a signature entry",
        ),
        (
            [b"", b"\0\0", b""],
            "after the last signature of a signed hash set",
        ),
        ([b"", b"", b"\0"], "after the last signed hash set"),
    ] {
        let e = store
            .verify(with_signature_payload(&payload(extra), content), MAX)
            .unwrap_err();
        assert!(matches!(e, VerifyError::MalformedSignature { .. }), "{e}");
        assert!(e.to_string().contains(after), "{e}");
    }
}

#[test]
fn the_content_digest_names_the_signed_content_whoever_signed_it() {
    // Security review L2: the whole-file digest changes with the signature
    // section; the content digest only with what the signature covers.
    let (k1, k2) = (key(), key());
    let store = trust(&[&k1, &k2]);
    let by_k1 = store
        .verify(sign(&component(), &manifest(), &k1).unwrap(), MAX)
        .unwrap();
    let by_k2 = store
        .verify(sign(&component(), &manifest(), &k2).unwrap(), MAX)
        .unwrap();
    assert_ne!(by_k1.digest(), by_k2.digest());
    assert_eq!(by_k1.content_digest(), by_k2.content_digest());
    assert_eq!(
        by_k1.content_digest(),
        hex::encode(Sha256::digest(content_of(by_k1.bytes())))
    );
    let i = inspect(by_k1.bytes()).unwrap();
    assert_eq!(i.content_digest.as_deref(), Some(by_k1.content_digest()));
    assert_eq!(inspect(&component()).unwrap().content_digest, None);
    // Other content, other digest.
    let mut m = manifest();
    m.version = semver::Version::new(1, 2, 4);
    let other = store
        .verify(sign(&component(), &m, &k1).unwrap(), MAX)
        .unwrap();
    assert_ne!(other.content_digest(), by_k1.content_digest());
}

#[test]
fn decode_errors_name_the_field() {
    use crate::trust::sigdata::SigDataError;
    let decode = |payload: &[u8]| SignatureData::decode(payload).unwrap_err();
    assert_eq!(
        decode(&[0x01, 0x01, 0x02]),
        SigDataError::Unsupported {
            field: "hash function",
            found: 0x02,
            expected: 0x01,
            note: " (SHA-256)"
        }
    );
    assert_eq!(
        decode(&[0x01, 0x01, 0x02]).to_string(),
        "hash function 0x02, expected 0x01 (SHA-256)"
    );
    assert_eq!(
        decode(&[0x01, 0x81]),
        SigDataError::Not7Bit {
            what: "content type"
        }
    );
    assert_eq!(
        decode(&[0x01, 0x01]),
        SigDataError::PastEnd {
            what: "hash function"
        }
    );
    assert_eq!(
        decode(&[0x01, 0x01, 0x01, 65]),
        SigDataError::TooMany {
            what: "signed hash sets",
            count: 65,
            max: 64
        }
    );
    assert_eq!(
        decode(&[0x01, 0x01, 0x01, 0x00, 0x00]),
        SigDataError::Trailing {
            what: "the last signed hash set",
            count: 1
        }
    );
}
