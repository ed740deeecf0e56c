//! `jobhost artifact sign` and `verify` as an operator uses them: the real
//! binary, real key files from `jobhost plugin keygen`, the `.sig` file it
//! writes read back by the library, and each refusal's one line.

use super::*;
use jobhost::trust::artifact::Codesign;
use sha2::Digest;

const FILE: &[u8] = b"firmware 1.2 for the field units";

fn artifact(args: &[&str]) -> Output {
    let mut all = vec!["artifact"];
    all.extend_from_slice(args);
    jobhost(&all)
}

#[test]
fn sign_writes_the_codesign_object_and_verify_accepts_it() {
    let d = Dir::new();
    let (key, id) = d.keygen("operator.key");
    let file = d.write("fw-1.2.bin", FILE);
    let out = artifact(&["sign", "--key", s(&key), s(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with(&format!("signed: fw-1.2.bin ({} bytes", FILE.len())));

    let text = std::fs::read_to_string(d.path("fw-1.2.bin.sig")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["format"], "jobhost-artifact-signature/1");
    assert_eq!(json["keyId"], id.as_str());
    assert_eq!(json["fileName"], "fw-1.2.bin");
    assert_eq!(json["rawPayloadSize"], FILE.len());
    assert_eq!(json["signatureAlgorithm"], "ED25519");
    assert_eq!(json["hashAlgorithm"], "SHA256");
    let codesign = Codesign::from_slice(text.as_bytes()).unwrap();
    let store = trust(&[&pub_of(&key)]);
    let sha256: [u8; 32] = sha2::Sha256::digest(FILE).into();
    assert_eq!(
        store
            .verify_artifact(&codesign, FILE.len() as u64, &sha256)
            .unwrap()
            .to_string(),
        id
    );

    let out = artifact(&["verify", "--key", s(&pub_of(&key)), s(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("valid: fw-1.2.bin") && stdout(&out).contains(&id),
        "{}",
        stdout(&out)
    );
}

#[test]
fn name_and_output_can_be_chosen_and_a_path_is_not_a_name() {
    let d = Dir::new();
    let (key, _) = d.keygen("operator.key");
    let file = d.write("build-output.bin", FILE);
    let sig = d.path("release.sig");
    let out = artifact(&[
        "sign",
        "--key",
        s(&key),
        "--name",
        "fw-2.0.bin",
        s(&file),
        "-o",
        s(&sig),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&std::fs::read(&sig).unwrap()).unwrap();
    assert_eq!(json["fileName"], "fw-2.0.bin");
    // Verified under another name: valid, with a note.
    let out = artifact(&[
        "verify",
        "--pub",
        s(&pub_of(&key)),
        "--signature",
        s(&sig),
        s(&file),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("signed under the name \"fw-2.0.bin\""));

    let out = artifact(&["sign", "--key", s(&key), "--name", "dir/fw.bin", s(&file)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("codesign.fileName \"dir/fw.bin\" contains `/`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_refuses_with_the_reason_and_exit_1() {
    let d = Dir::new();
    let (key, id) = d.keygen("operator.key");
    let (other, _) = d.keygen("other.key");
    let file = d.write("fw.bin", FILE);
    assert_eq!(
        artifact(&["sign", "--key", s(&key), s(&file)])
            .status
            .code(),
        Some(0)
    );
    let refused = |args: &[&str], why: &str| {
        let out = artifact(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("invalid: ") || err.starts_with("error: "),
            "{err}"
        );
        assert!(err.contains(why), "{args:?}: {err:?} does not say {why:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
    };
    refused(
        &["verify", "--key", s(&pub_of(&other)), s(&file)],
        &format!("signed by unknown key id {id}"),
    );
    refused(
        &[
            "verify",
            "--key",
            s(&pub_of(&key)),
            "--revoked",
            &id,
            s(&file),
        ],
        &format!("signed by key {id}, which is revoked"),
    );
    // The same trust as an agent's config says.
    let config = d.write(
        "jobhost.toml",
        format!(
            "thing_name = \"t\"\nstate_dir = \"state\"\nplugin_dir = \"plugins\"\n[broker]\nhost = \"127.0.0.1\"\nport = 1883\n[trust]\nkeys = [\"{}\"]\n\
             revoked = [\"{id}\"]\n",
            s(&pub_of(&key))
        ),
    );
    refused(
        &["verify", "--config", s(&config), s(&file)],
        "which is revoked ([trust] revoked)",
    );
    let mut flipped = FILE.to_vec();
    flipped[0] ^= 1;
    std::fs::write(&file, &flipped).unwrap();
    refused(
        &["verify", "--key", s(&pub_of(&key)), s(&file)],
        &format!("the file is {} bytes with sha256", FILE.len()),
    );
    std::fs::write(d.path("fw.bin.sig"), "{\"format\": 1}").unwrap();
    refused(
        &["verify", "--key", s(&pub_of(&key)), s(&file)],
        "codesign.format must be a string",
    );
    refused(&["verify", s(&file)], "give the trusted keys");
}
