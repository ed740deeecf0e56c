//! Signing, verifying against a trust store, each refusal, and `inspect`.

use super::reference::wasmsign2_sign;
use super::*;

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
