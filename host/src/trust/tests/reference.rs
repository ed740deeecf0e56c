//! The wasmsign2 library (0.2.8) as the reference.

use super::*;

/// Signs with the wasmsign2 library, optionally embedding its default key
/// id.
pub(super) fn wasmsign2_sign(bytes: &[u8], k: &SecretKey, with_key_id: bool) -> Vec<u8> {
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
