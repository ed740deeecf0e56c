//! Interop with the third-party `wasmsign2` tool (the format jobhost's
//! signature section follows): each verifies what the other signs.

use super::*;

/// `target/tools/bin/wasmsign2`, installed by scripts/install-tools.
fn wasmsign2() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/wasmsign2");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-tools (it installs wasmsign2-cli 0.2.8, the \
         third-party verifier these tests check jobhost against)",
        path.display()
    );
    path
}

fn tool(args: &[&str]) -> Output {
    Command::new(wasmsign2()).args(args).output().unwrap()
}

#[test]
fn the_wasmsign2_tool_verifies_what_jobhost_signs() {
    let d = Dir::new();
    let (key, _) = d.keygen("operator.key");
    let signed = d.sign_echo(&key, ECHO_MANIFEST, "echo.signed.wasm");
    let out = tool(&["verify", "-i", s(&signed), "-K", s(&pub_of(&key))]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("Signature is valid."),
        "{}",
        stdout(&out)
    );

    // And it is no rubber stamp: another key, or a flipped byte, fails.
    let (other, _) = d.keygen("other.key");
    let out = tool(&["verify", "-i", s(&signed), "-K", s(&pub_of(&other))]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let mut bytes = std::fs::read(&signed).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    let bad = d.write("bad.wasm", bytes);
    let out = tool(&["verify", "-i", s(&bad), "-K", s(&pub_of(&key))]);
    assert!(!out.status.success(), "{}", stdout(&out));

    // The gap jobhost closes: the convention does not sign the preamble,
    // so the tool accepts a core-module preamble swapped in; jobhost does
    // not.
    let mut bytes = std::fs::read(&signed).unwrap();
    bytes[4..8].copy_from_slice(&[1, 0, 0, 0]);
    let swapped = d.write("swapped.wasm", bytes);
    let out = tool(&["verify", "-i", s(&swapped), "-K", s(&pub_of(&key))]);
    assert!(
        out.status.success(),
        "the tool ignores the preamble: {}",
        stdout(&out)
    );
    let out = jobhost(&["plugin", "verify", "--pub", s(&pub_of(&key)), s(&swapped)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad preamble"), "{}", stderr(&out));
}

#[test]
fn jobhost_accepts_what_the_wasmsign2_tool_signs() {
    let d = Dir::new();
    let (key, id) = d.keygen("operator.key");
    // The manifest section goes in BEFORE the tool signs: the tool signs
    // everything after the signature section it puts first, so the
    // manifest must already be there to be covered.
    let manifest = Manifest::from_toml(ECHO_MANIFEST).unwrap();
    let mut bytes = std::fs::read(plugin_path("echo")).unwrap();
    bytes.extend_from_slice(&custom_section("jobhost-manifest", &manifest.to_json()));
    let unsigned = d.write("echo.manifest.wasm", &bytes);

    // With the key id (-K) and without: jobhost finds the key either way.
    for (name, with_pub) in [("tool.wasm", true), ("tool-noid.wasm", false)] {
        let out_path = d.path(name);
        let mut args = vec![
            "sign",
            "-i",
            s(&unsigned),
            "-o",
            s(&out_path),
            "-k",
            s(&key),
        ];
        let pub_path = pub_of(&key);
        if with_pub {
            args.extend(["-K", s(&pub_path)]);
        }
        let out = tool(&args);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

        let out = jobhost(&["plugin", "verify", "--pub", s(&pub_of(&key)), s(&out_path)]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert_eq!(
            stdout(&out).trim(),
            format!("valid: echo 1.0.0 signed by {id}")
        );

        // The tool-signed file runs, unchanged.
        let verified = trust(&[&pub_of(&key)]).verify_file(&out_path, MAX).unwrap();
        let plugin = CompiledPlugin::from_verified(&support::runtime(), &verified).unwrap();
        let report = support::run(&plugin, r#"{"operation":"echo"}"#);
        assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    }

    // Signed by the tool without jobhost's manifest: refused as such.
    let out_path = d.path("bare.wasm");
    let out = tool(&[
        "sign",
        "-i",
        s(&plugin_path("echo")),
        "-o",
        s(&out_path),
        "-k",
        s(&key),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = trust(&[&pub_of(&key)])
        .verify_file(&out_path, MAX)
        .unwrap_err();
    assert!(matches!(err, VerifyError::ManifestMissing), "{err}");

    // A key made by the tool signs with jobhost, too.
    let (tsk, tpk) = (d.path("tool.sec"), d.path("tool.pub"));
    let out = tool(&["keygen", "--secret-key", s(&tsk), "--public-key", s(&tpk)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let signed = d.sign_echo(&tsk, ECHO_MANIFEST, "by-tool-key.wasm");
    let out = tool(&["verify", "-i", s(&signed), "-K", s(&tpk)]);
    assert!(out.status.success(), "{}", stdout(&out));
    let sk = SecretKey::read_file(&tsk).unwrap();
    assert_eq!(PublicKey::read_file(&tpk).unwrap(), sk.public_key());
}
