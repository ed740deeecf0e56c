//! `TrustStore::verify` (and `inspect`, the other reader of the section
//! framing) on arbitrary bytes, with the fixed test key trusted.
//!
//! Asserts: neither panics; an accepted file is byte for byte the input,
//! names the test key, carries a valid manifest that `inspect` reads the
//! same; and the same file is refused by a store that trusts another key,
//! by one that revokes the test key, after any change to a signed byte (a
//! spread of single-byte flips, the preamble included), cut short, or with
//! a section appended.
#![no_main]

use jobhost::trust::{inspect, sign, Manifest, TrustStore, VerifyError};
use jobhost_fuzz::{custom_section, first_section_end, other_key, test_key, test_public_key};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const MAX_BYTES: u64 = 1 << 20;

struct Stores {
    trusted: TrustStore,
    other: TrustStore,
    revoked: TrustStore,
}

fn stores() -> &'static Stores {
    static STORES: OnceLock<Stores> = OnceLock::new();
    STORES.get_or_init(|| {
        let key = test_public_key();
        Stores {
            trusted: TrustStore::new([key.clone()], []),
            other: TrustStore::new([other_key().public_key()], []),
            revoked: TrustStore::new([key.clone()], [key.id()]),
        }
    })
}

fuzz_target!(
    init: {
        jobhost_fuzz::seeds(make_seeds);
        stores();
    },
    |data: &[u8]| {
        let s = stores();
        let inspected = inspect(data);
        let Ok(plugin) = s.trusted.verify(data.to_vec(), MAX_BYTES) else {
            return;
        };
        assert_eq!(plugin.bytes(), data);
        assert_eq!(plugin.key_id(), test_public_key().id());
        assert_eq!(plugin.digest(), hex::encode(Sha256::digest(data)));
        plugin.manifest().validate().expect("an accepted manifest is valid");
        let inspected = inspected.expect("inspect reads a file verify accepted");
        assert!(inspected.signed);
        match &inspected.manifest {
            Some(Ok(m)) => assert_eq!(m, plugin.manifest()),
            other => panic!("inspect disagrees on the manifest: {other:?}"),
        }

        assert!(s.other.verify(data.to_vec(), MAX_BYTES).is_err(), "accepted under another key");
        assert!(
            matches!(
                s.revoked.verify(data.to_vec(), MAX_BYTES),
                Err(VerifyError::RevokedKey { .. })
            ),
            "accepted with the key revoked"
        );

        let refused = |bytes: Vec<u8>, what: &str| {
            assert!(
                s.trusted.verify(bytes, MAX_BYTES).is_err(),
                "accepted after {what}"
            );
        };
        let signed_from = first_section_end(data).expect("an accepted file has a first section");
        // The preamble (pinned) and up to 64 signed bytes, evenly spread.
        let signed_len = data.len() - signed_from;
        let step = signed_len.div_ceil(64).max(1);
        let positions = (0..8).chain((signed_from..data.len()).step_by(step));
        for at in positions {
            let mut changed = data.to_vec();
            changed[at] ^= 0x01;
            refused(changed, &format!("flipping byte {at}"));
        }
        refused(data[..data.len() - 1].to_vec(), "cutting the last byte");
        let mut longer = data.to_vec();
        longer.extend(custom_section("extra", b"x"));
        refused(longer, "appending a section");
    }
);

fn make_seeds() -> Vec<(String, Vec<u8>)> {
    let key = test_key();
    let mut out = Vec::new();
    // A type section and a custom section stand in for a component's
    // code: verify never parses them.
    let mut component = jobhost::trust::COMPONENT_PREAMBLE.to_vec();
    component.extend([0x07, 0x03, 0x01, 0x40, 0x00]);
    component.extend(custom_section("name", b"\x00\x04demo"));
    for (plugin, toml) in jobhost_fuzz::plugin_manifests() {
        let Ok(manifest) = Manifest::from_toml(&toml) else {
            continue;
        };
        if let Ok(signed) = sign(&component, &manifest, &key) {
            // The seeds reach the accepting branch.
            stores()
                .trusted
                .verify(signed.clone(), MAX_BYTES)
                .expect("a seed verifies");
            out.push((format!("signed-{plugin}"), signed));
        }
    }
    if let Some((_, first)) = out.first().cloned() {
        // The same file signed by a key nobody trusts, and unsigned.
        let manifest =
            Manifest::from_toml(&jobhost_fuzz::plugin_manifests()[0].1).expect("a real manifest");
        out.push((
            "signed-by-other-key".into(),
            sign(&component, &manifest, &other_key()).expect("signs"),
        ));
        let end = first_section_end(&first).expect("a signature section");
        let mut unsigned = first[..8].to_vec();
        unsigned.extend_from_slice(&first[end..]);
        out.push(("unsigned".into(), unsigned));
    }
    out
}
