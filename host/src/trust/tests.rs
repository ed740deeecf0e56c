//! Unit tests: the format, keys and manifest on small components made with
//! `wat`, and cross-checks against the wasmsign2 library itself. The real
//! plugins and the wasmsign2 command-line tool are in host/tests/all/signing.rs.

#![allow(clippy::unwrap_used)]

use super::format::{put_u32, read_u32, Section};
use super::sigdata::{signed_message, SignatureData, SignatureEntry, SignedHashes};
use super::*;
use sha2::{Digest, Sha256};

const MANIFEST: &str = r#"
name = "echo"
version = "1.2.3"
operations = ["echo", "echo.v2"]
wit = "jobhost:plugin/operation-plugin@0.1.0"

[capabilities]
download = true
run_command = ["/usr/bin/systemctl"]
dirs = [{ path = "/data", access = "rw" }, { path = "/etc/ssl" }]
"#;

fn component() -> Vec<u8> {
    wat::parse_str(r#"(component (core module (func (export "f"))))"#).unwrap()
}

fn manifest() -> Manifest {
    Manifest::from_toml(MANIFEST).unwrap()
}

fn key() -> SecretKey {
    SecretKey::generate().unwrap()
}

fn trust(keys: &[&SecretKey]) -> TrustStore {
    TrustStore::new(keys.iter().map(|k| k.public_key()), [])
}

const MAX: u64 = 1 << 20;

/// Every section of a (test-made, well-formed) file.
fn all_sections(bytes: &[u8]) -> Vec<Section<'_>> {
    format::sections(bytes).collect::<Result<_, _>>().unwrap()
}

#[test]
fn sign_then_verify_round_trips() {
    let k = key();
    let signed = sign(&component(), &manifest(), &k).unwrap();
    let v = trust(&[&k]).verify(signed.clone(), MAX).unwrap();
    assert_eq!(v.manifest(), &manifest());
    assert_eq!(v.key_id(), k.public_key().id());
    assert_eq!(v.bytes(), signed.as_slice());
    assert_eq!(v.digest(), hex::encode(Sha256::digest(&signed)));
    assert_eq!(&signed[..8], &COMPONENT_PREAMBLE);
}

#[test]
fn signing_keeps_the_component_bytes_and_replaces_old_sections() {
    let k = key();
    let c = component();
    let once = sign(&c, &manifest(), &k).unwrap();
    // The component's sections appear unchanged right after the signature.
    let sections = all_sections(&once);
    assert!(sections[0].is_custom(SIGNATURE_SECTION));
    assert!(sections.last().unwrap().is_custom(MANIFEST_SECTION));
    let start = sections[1].offset;
    assert_eq!(&once[start..start + c.len() - 8], &c[8..]);

    // Re-signing a signed file (new manifest, other key) leaves one of each.
    let k2 = key();
    let mut m = manifest();
    m.version = semver::Version::new(2, 0, 0);
    let twice = sign(&once, &m, &k2).unwrap();
    let sections = all_sections(&twice);
    let count = |name| sections.iter().filter(|s| s.is_custom(name)).count();
    assert_eq!(count(SIGNATURE_SECTION), 1);
    assert_eq!(count(MANIFEST_SECTION), 1);
    let v = trust(&[&k2]).verify(twice, MAX).unwrap();
    assert_eq!(v.manifest().version, semver::Version::new(2, 0, 0));
}

#[test]
fn verification_picks_any_trusted_key_for_rotation() {
    let (old, new) = (key(), key());
    let store = trust(&[&old, &new]);
    for k in [&old, &new] {
        let signed = sign(&component(), &manifest(), k).unwrap();
        assert_eq!(
            store.verify(signed, MAX).unwrap().key_id(),
            k.public_key().id()
        );
    }
}

#[test]
fn refusals_name_what_failed() {
    let k = key();
    let signed = sign(&component(), &manifest(), &k).unwrap();
    let store = trust(&[&k]);
    let err = |bytes: Vec<u8>| store.verify(bytes, MAX).unwrap_err();

    // Oversize, against the limit passed in.
    let e = store.verify(signed.clone(), 10).unwrap_err();
    assert!(matches!(e, VerifyError::Oversize { max: 10, .. }), "{e}");

    // A core-module preamble swapped in.
    let mut core = signed.clone();
    core[..8].copy_from_slice(&CORE_MODULE_PREAMBLE);
    assert!(matches!(
        err(core),
        VerifyError::Format(FormatError::CoreModule)
    ));

    // Some other component-layer version.
    let mut other = signed.clone();
    other[6] = 0x02;
    let e = err(other);
    assert!(
        matches!(e, VerifyError::Format(FormatError::BadPreamble { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("00 61 73 6d 0d 00 02 00"), "{e}");

    // Not wasm; truncated (mid-section and inside the preamble).
    assert!(matches!(
        err(b"hello world".to_vec()),
        VerifyError::Format(FormatError::NotWasm)
    ));
    let e = err(signed[..signed.len() - 3].to_vec());
    assert!(
        matches!(e, VerifyError::Format(FormatError::Truncated { .. })),
        "{e}"
    );
    let e = err(signed[..5].to_vec());
    assert!(
        matches!(e, VerifyError::Format(FormatError::Truncated { .. })),
        "{e}"
    );

    // Unsigned.
    assert!(matches!(err(component()), VerifyError::Unsigned));

    // The last byte is in the manifest JSON (`}`); the signature's last 64
    // bytes end the first section.
    let mut flipped = signed.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(matches!(err(flipped), VerifyError::ContentChanged { .. }));
    let sig_end = all_sections(&signed)[1].offset;
    let mut flipped = signed.clone();
    flipped[sig_end - 10] ^= 0x40;
    let e = err(flipped);
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");

    // Unknown and revoked keys.
    let e = trust(&[&key()]).verify(signed.clone(), MAX).unwrap_err();
    assert!(
        matches!(e, VerifyError::UnknownKey { trusted: 1, .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains(&k.public_key().id().to_string()),
        "{e}"
    );
    let revoked = TrustStore::new([k.public_key()], [k.public_key().id()]);
    let e = revoked.verify(signed.clone(), MAX).unwrap_err();
    assert!(matches!(e, VerifyError::RevokedKey { key_id } if key_id == k.public_key().id()));
    // Revoked even when the key is no longer listed at all.
    let gone = TrustStore::new([key().public_key()], [k.public_key().id()]);
    assert!(matches!(
        gone.verify(signed.clone(), MAX),
        Err(VerifyError::RevokedKey { .. })
    ));
    assert!(matches!(
        TrustStore::default().verify(signed, MAX),
        Err(VerifyError::NoTrustedKeys)
    ));
}

#[test]
fn a_signature_not_first_is_unsigned() {
    let k = key();
    let signed = sign(&component(), &manifest(), &k).unwrap();
    let sections = all_sections(&signed);
    // Move the signature section to the end.
    let mut moved = COMPONENT_PREAMBLE.to_vec();
    for s in &sections[1..] {
        moved.extend_from_slice(s.raw);
    }
    moved.extend_from_slice(sections[0].raw);
    let e = trust(&[&k]).verify(moved, MAX).unwrap_err();
    assert!(matches!(e, VerifyError::SignatureNotFirst { .. }), "{e}");
}

#[test]
fn a_valid_signature_without_manifest_is_refused() {
    // Signed by the convention alone (as `wasmsign2 sign` would), no
    // manifest section.
    let k = key();
    let bytes = wasmsign2_sign(&component(), &k, true);
    let e = trust(&[&k]).verify(bytes, MAX).unwrap_err();
    assert!(matches!(e, VerifyError::ManifestMissing), "{e}");
}

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
fn sections_are_walked_up_to_a_cap() {
    // Security review M5: the walk keeps no per-section record, and a file
    // that could be accepted has at most MAX_SECTIONS sections.
    let k = key();
    let signed = sign(&component(), &manifest(), &k).unwrap();
    let count = all_sections(&signed).len();
    let padded = |total: usize| {
        let mut out = signed.clone();
        out.extend([0x01, 0x00].repeat(total - count));
        out
    };
    // At the cap: walked to the end (and the padding changed the content).
    let e = trust(&[&k])
        .verify(padded(format::MAX_SECTIONS), MAX)
        .unwrap_err();
    assert!(matches!(e, VerifyError::ContentChanged { .. }), "{e}");
    let e = trust(&[&k])
        .verify(padded(format::MAX_SECTIONS + 1), MAX)
        .unwrap_err();
    assert!(
        matches!(
            e,
            VerifyError::Format(FormatError::TooManySections {
                max: format::MAX_SECTIONS
            })
        ),
        "{e}"
    );
    assert!(matches!(
        inspect(&padded(format::MAX_SECTIONS + 1)),
        Err(FormatError::TooManySections { .. })
    ));
    // A file refused anyway still says why: unsigned, not "too many".
    let mut unsigned = component();
    unsigned.extend([0x01, 0x00].repeat(format::MAX_SECTIONS));
    let e = trust(&[&k]).verify(unsigned, MAX).unwrap_err();
    assert!(matches!(e, VerifyError::Unsigned), "{e}");
}

#[test]
fn manifest_validation_is_precise() {
    let with = |from: &str, to: &str| {
        assert!(MANIFEST.contains(from), "{from}");
        Manifest::from_toml(&MANIFEST.replace(from, to))
            .unwrap_err()
            .to_string()
    };
    assert!(with(r#"name = "echo""#, r#"name = "Echo""#).starts_with("name \"Echo\""));
    assert!(with(r#"name = "echo""#, r#"name = "-x""#).starts_with("name \"-x\""));
    assert!(with(r#"version = "1.2.3""#, r#"version = "1.2""#).contains("version"));
    assert!(
        with(r#"operations = ["echo", "echo.v2"]"#, "operations = []").contains("at least one")
    );
    assert!(with(r#""echo.v2""#, r#""echo""#).contains("listed twice"));
    assert!(with(r#""echo.v2""#, r#""install-plugin""#).contains("reserved"));
    assert!(with(r#""echo.v2""#, r#""a b""#).contains("may only contain"));
    assert!(with("download = true", "download = true\nnetwork = true")
        .contains("unknown field `network`"));
    assert!(with(r#"access = "rw""#, r#"access = "rwx""#).contains("unknown variant"));
    assert!(with(r#"path = "/data""#, r#"path = "data""#).contains("absolute"));
    assert!(with(r#"path = "/data""#, r#"path = "/data/../etc""#).contains(".."));
    assert!(with(r#"path = "/etc/ssl""#, r#"path = "/data/""#).contains("twice"));
    assert!(with(r#"["/usr/bin/systemctl"]"#, r#"[" "]"#).contains("empty"));
    assert!(with("@0.1.0", "@0.2.0").contains("not compatible"));
    assert!(with("@0.1.0", "@0.1.1").contains("newer world"));
    assert!(with("@0.1.0", "@1").contains("not semver"));
    assert!(with("operation-plugin@", "other@").contains("the world must be"));
    assert!(with("name = \"echo\"\n", "").contains("missing field `name`"));
    // A manifest whose JSON no device would read (found by fuzzing): it
    // cannot be signed either.
    let programs: Vec<String> = (0..66)
        .map(|i| format!("\"/usr/bin/p{i:03}{}\"", "x".repeat(1000)))
        .collect();
    let huge = with(
        r#"["/usr/bin/systemctl"]"#,
        &format!("[{}]", programs.join(", ")),
    );
    assert!(huge.contains("65536"), "{huge}");

    // Access defaults to read-only; capabilities default to nothing.
    let m = manifest();
    assert_eq!(m.capabilities.dirs[1].access, Access::Ro);
    let bare = Manifest::from_toml(
        "name = \"x\"\nversion = \"0.1.0\"\noperations = [\"x\"]\nwit = \"jobhost:plugin/operation-plugin@0.1.0\"\n",
    )
    .unwrap();
    assert_eq!(bare.capabilities, Capabilities::default());

    // JSON round trip; unknown JSON fields are refused too.
    assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
    let mut json: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
    json["capabilities"]["extra"] = true.into();
    let e = Manifest::from_json(json.to_string().as_bytes()).unwrap_err();
    assert!(e.to_string().contains("unknown field `extra`"), "{e}");
}

#[test]
fn host_wit_matches_the_repository_wit() {
    let wit = include_str!("../../../wit/operation.wit");
    let (package, world) = HOST_WIT.split_once('/').unwrap();
    let (world, version) = world.split_once('@').unwrap();
    let package = format!("package {}@{version};", package);
    assert!(
        wit.contains(&package),
        "wit/operation.wit declares {package}"
    );
    assert!(wit.contains(&format!("world {world} {{")));
}

#[test]
fn keys_round_trip_in_wasmsign2_formats() {
    let k = key();
    let bytes = k.to_bytes();
    assert_eq!(bytes.len(), 65);
    assert_eq!(bytes[0], 0x81);
    let back = SecretKey::from_bytes(&bytes).unwrap();
    assert_eq!(back.public_key(), k.public_key());

    let pk = k.public_key().to_bytes();
    assert_eq!(pk.len(), 33);
    assert_eq!(pk[0], 0x01);
    assert_eq!(PublicKey::from_bytes(&pk).unwrap(), k.public_key());

    // Mixed-up files say what they are.
    let e = PublicKey::from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("65 bytes"), "{e}");
    let e = SecretKey::from_bytes(&pk).unwrap_err().to_string();
    assert!(e.contains("this is a public key"), "{e}");
    // A secret key whose public half is someone else's.
    let mut forged = bytes.to_vec();
    forged[33..].copy_from_slice(&key().public_key().to_bytes()[1..]);
    let e = SecretKey::from_bytes(&forged).unwrap_err().to_string();
    assert!(e.contains("does not match"), "{e}");

    let id = k.public_key().id();
    assert_eq!(id.to_string().len(), 24);
    assert_eq!(id.to_string().parse::<KeyId>().unwrap(), id);
    assert!("xyz".parse::<KeyId>().is_err());
}

#[test]
fn keygen_files_are_private_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("op.key");
    let k = key();
    let pub_path = k.write_files(&path).unwrap();
    assert_eq!(pub_path, dir.path().join("op.key.pub"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(
        SecretKey::read_file(&path).unwrap().public_key(),
        k.public_key()
    );
    assert_eq!(PublicKey::read_file(&pub_path).unwrap(), k.public_key());
    let e = key().write_files(&path).unwrap_err();
    assert!(matches!(e, KeyError::Exists { .. }), "{e}");
    assert_eq!(
        SecretKey::read_file(&path).unwrap().public_key(),
        k.public_key()
    );
}

#[test]
fn leb128_reads_padded_and_refuses_overlong() {
    for v in [0u32, 1, 127, 128, 300, 1 << 20, u32::MAX] {
        let mut b = Vec::new();
        put_u32(&mut b, v);
        assert_eq!(read_u32(&b, 0).unwrap(), (v, b.len()));
    }
    // 5-byte padded zero is fine; a 6th byte or high bits are not.
    assert_eq!(
        read_u32(&[0x80, 0x80, 0x80, 0x80, 0x00], 0).unwrap(),
        (0, 5)
    );
    assert!(read_u32(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0).is_err());
    assert!(read_u32(&[0xff, 0xff, 0xff, 0xff, 0x1f], 0).is_err());
    assert!(read_u32(&[0x80], 0).is_err());
}

#[test]
fn inspect_reports_without_trusting() {
    let k = key();
    let signed = sign(&component(), &manifest(), &k).unwrap();
    let i = inspect(&signed).unwrap();
    assert!(i.signed);
    assert_eq!(i.preamble, "component");
    assert_eq!(i.key_ids, vec![Some(k.public_key().id().to_string())]);
    assert_eq!(i.manifest.unwrap().unwrap(), manifest());

    let i = inspect(&component()).unwrap();
    assert!(!i.signed);
    assert!(i.manifest.is_none());
}

// --- the wasmsign2 library (0.2.8) as the reference ---

/// Signs with the wasmsign2 library, optionally embedding its default key
/// id.
fn wasmsign2_sign(bytes: &[u8], k: &SecretKey, with_key_id: bool) -> Vec<u8> {
    let sk = wasmsign2::SecretKey::from_bytes(&k.to_bytes()).unwrap();
    let pk = wasmsign2::PublicKey::from_bytes(&k.public_key().to_bytes())
        .unwrap()
        .attach_default_key_id();
    let key_id = with_key_id.then(|| pk.key_id().unwrap().clone());
    let module = wasmsign2::Module::deserialize(&mut std::io::Cursor::new(bytes)).unwrap();
    let (module, _) = sk
        .sign_multi(module, key_id.as_ref(), false, false)
        .unwrap();
    let mut out = Vec::new();
    module.serialize(&mut out).unwrap();
    out
}

#[test]
fn key_id_is_wasmsign2s_default_key_id() {
    let k = key();
    let pk = wasmsign2::PublicKey::from_bytes(&k.public_key().to_bytes())
        .unwrap()
        .attach_default_key_id();
    assert_eq!(
        pk.key_id().unwrap().as_slice(),
        k.public_key().id().as_bytes()
    );
    assert_eq!(pk.to_bytes(), k.public_key().to_bytes());
}

#[test]
fn wasmsign2_library_verifies_what_jobhost_signs() {
    let k = key();
    let signed = sign(&component(), &manifest(), &k).unwrap();
    let pk = wasmsign2::PublicKey::from_bytes(&k.public_key().to_bytes())
        .unwrap()
        .attach_default_key_id();
    pk.verify(&mut std::io::Cursor::new(&signed), None).unwrap();
    // And refuses a flipped byte, as jobhost does.
    let mut flipped = signed;
    *flipped.last_mut().unwrap() ^= 1;
    assert!(pk
        .verify(&mut std::io::Cursor::new(&flipped), None)
        .is_err());
}

#[test]
fn jobhost_verifies_what_the_wasmsign2_library_signs() {
    let k = key();
    // The manifest goes in first: the tool signs everything after its
    // signature section, so it must already be there.
    let mut with_manifest = component();
    with_manifest.extend_from_slice(&format::custom_section(
        MANIFEST_SECTION,
        &manifest().to_json(),
    ));
    for with_key_id in [true, false] {
        let signed = wasmsign2_sign(&with_manifest, &k, with_key_id);
        let v = trust(&[&key(), &k]).verify(signed.clone(), MAX).unwrap();
        assert_eq!(v.key_id(), k.public_key().id());
        assert_eq!(v.manifest(), &manifest());
        let data = SignatureData::decode(all_sections(&signed)[0].custom.unwrap().1).unwrap();
        assert_eq!(
            data.signed_hashes_set[0].signatures[0].key_id.is_some(),
            with_key_id
        );
    }
    // Our encoder produces the section wasmsign2 produces, byte for byte
    // (Ed25519 signatures are deterministic).
    let theirs = wasmsign2_sign(&with_manifest, &k, true);
    let ours = sign(&component(), &manifest(), &k).unwrap();
    assert_eq!(theirs, ours);
}
