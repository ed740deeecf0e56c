//! `sign` on an arbitrary component (the component preamble, then the
//! input), then `verify` and `inspect` on the result: the section walker
//! on arbitrary framing, and the sign → verify round trip.
//!
//! Asserts: `sign` refuses only what `inspect` cannot frame either; a
//! signed file verifies under the test key with the same manifest; signing
//! it again gives the same bytes (old signature and manifest sections are
//! dropped, Ed25519 is deterministic); and when the input has no section
//! named like ours, its bytes follow the signature section unchanged.
#![no_main]

use jobhost::trust::{inspect, sign, Manifest, TrustStore, COMPONENT_PREAMBLE};
use jobhost_fuzz::{first_section_end, test_key, test_public_key};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

struct Fixed {
    key: jobhost::trust::SecretKey,
    manifest: Manifest,
    store: TrustStore,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| Fixed {
        key: test_key(),
        manifest: Manifest::from_toml(
            "name = \"fuzz\"\nversion = \"1.2.3\"\noperations = [\"fuzz\"]\n\
             wit = \"jobhost:plugin/operation-plugin@0.1.0\"\n",
        )
        .expect("a valid manifest"),
        store: TrustStore::new([test_public_key()], []),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(
    init: {
        jobhost_fuzz::seeds(make_seeds);
        fixed();
    },
    |data: &[u8]| {
        let f = fixed();
        let mut component = COMPONENT_PREAMBLE.to_vec();
        component.extend_from_slice(data);
        let signed = match sign(&component, &f.manifest, &f.key) {
            Ok(signed) => signed,
            Err(e) => {
                assert!(inspect(&component).is_err(), "sign refused what inspect frames: {e}");
                return;
            }
        };
        let plugin = f
            .store
            .verify(signed.clone(), u64::MAX)
            .expect("a freshly signed file verifies");
        assert_eq!(plugin.manifest(), &f.manifest);
        let again = sign(&signed, &f.manifest, &f.key).expect("a signed file signs again");
        assert_eq!(again, signed, "re-signing changed the file");
        let i = inspect(&signed).expect("inspect frames a signed file");
        assert!(i.signed && i.signature_error.is_none());
        assert_eq!(i.key_ids, [Some(hex::encode(test_public_key().id().as_bytes()))]);
        if !contains(data, b"signature") && !contains(data, b"jobhost-manifest") {
            let from = first_section_end(&signed).expect("a signature section");
            assert_eq!(&signed[from..from + data.len()], data, "the component was re-encoded");
        }
    }
);

fn make_seeds() -> Vec<(String, Vec<u8>)> {
    let mut type_and_custom = vec![0x07, 0x03, 0x01, 0x40, 0x00];
    type_and_custom.extend(jobhost_fuzz::custom_section("name", b"\x00\x04demo"));
    // An already signed component (its sections after the preamble):
    // signing must replace the signature and the manifest.
    let signed = sign(
        &[COMPONENT_PREAMBLE.as_slice(), &type_and_custom].concat(),
        &fixed().manifest,
        &test_key(),
    )
    .expect("signs");
    vec![
        ("empty".into(), Vec::new()),
        ("type-and-custom".into(), type_and_custom),
        ("signed".into(), signed[8..].to_vec()),
        // A section size in a padded (5-byte) LEB128.
        (
            "padded-leb".into(),
            vec![
                0x00, 0x85, 0x80, 0x80, 0x80, 0x00, 0x04, b'a', b'b', b'c', b'd',
            ],
        ),
    ]
}
