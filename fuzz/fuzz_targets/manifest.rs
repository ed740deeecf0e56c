//! Plugin manifests: `Manifest::from_toml` (what `jobhost plugin sign`
//! reads) and `Manifest::from_json` (what a device reads out of a signed
//! file) on the same arbitrary input.
//!
//! Asserts: neither panics; whatever either accepts validates, and
//! survives the trip through the embedded JSON (`to_json` → `from_json`)
//! unchanged, so a manifest that signs is one that verifies.
#![no_main]

use jobhost::trust::Manifest;
use libfuzzer_sys::fuzz_target;

fn accepted(manifest: &Manifest) {
    manifest.validate().expect("a parsed manifest is valid");
    assert!(
        manifest.wit_version().is_some(),
        "a valid manifest has a WIT version"
    );
    let json = manifest.to_json();
    let back = Manifest::from_json(&json).expect("the embedded JSON parses back");
    assert_eq!(&back, manifest);
}

fuzz_target!(
    init: {
        jobhost_fuzz::seeds(|| {
            let mut out = Vec::new();
            for (plugin, toml) in jobhost_fuzz::plugin_manifests() {
                if let Ok(m) = Manifest::from_toml(&toml) {
                    out.push((format!("{plugin}.json"), m.to_json()));
                }
                out.push((format!("{plugin}.toml"), toml.into_bytes()));
            }
            out
        });
    },
    |data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(m) = Manifest::from_toml(text) {
                accepted(&m);
            }
        }
        if let Ok(m) = Manifest::from_json(data) {
            accepted(&m);
        }
    }
);
