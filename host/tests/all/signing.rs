//! Signed plugins through the real parts: components built from this
//! repository's source (target/plugins), real key and plugin files in
//! temporary directories, the real `jobhost` binary for the operator tools,
//! real wasmtime for running a verified plugin, and the third-party
//! `wasmsign2` tool (installed by scripts/install-tools) for interop.

use crate::support;

use jobhost::runtime::CompiledPlugin;
use jobhost::trust::{
    FormatError, KeyId, Manifest, PublicKey, SecretKey, TrustStore, VerifiedPlugin, VerifyError,
};
use jobhost_protocol::TerminalStatus;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::plugin_path;

const ECHO_MANIFEST: &str = r#"
name = "echo"
version = "1.0.0"
operations = ["echo"]
wit = "jobhost:plugin/operation-plugin@0.1.0"

[capabilities]
download = false
reboot = false
"#;

/// The largest file the tests accept (echo is far smaller).
const MAX: u64 = 16 << 20;

/// A temporary directory with an operator key and files in it.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `jobhost plugin keygen --out NAME`; returns the key path and the id
    /// it printed.
    fn keygen(&self, name: &str) -> (PathBuf, String) {
        let key = self.path(name);
        let out = jobhost(&["plugin", "keygen", "--out", s(&key)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (key, stdout(&out).trim().to_owned())
    }

    /// `jobhost plugin sign` of echo with `manifest`; returns the output.
    fn sign_echo(&self, key: &Path, manifest: &str, out_name: &str) -> PathBuf {
        let manifest = self.write("manifest.toml", manifest);
        let out_path = self.path(out_name);
        let out = jobhost(&[
            "plugin",
            "sign",
            "--key",
            s(key),
            "--manifest",
            s(&manifest),
            s(&plugin_path("echo")),
            "-o",
            s(&out_path),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        out_path
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn jobhost(args: &[&str]) -> Output {
    crate::support::jobhost_command()
        .args(args)
        .env("JOBHOST_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn trust(pubs: &[&Path]) -> TrustStore {
    TrustStore::new(pubs.iter().map(|p| PublicKey::read_file(p).unwrap()), [])
}

fn pub_of(key: &Path) -> PathBuf {
    jobhost::trust::public_key_path(key)
}

/// Where a byte sequence first occurs.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)))
}

/// The end of the first section (the signature section), which starts
/// right after the 8-byte preamble.
fn signature_section_end(bytes: &[u8]) -> usize {
    assert_eq!(bytes[8], 0, "the first section is a custom section");
    let (mut size, mut pos, mut shift) = (0usize, 9, 0);
    loop {
        let b = bytes[pos];
        size |= usize::from(b & 0x7f) << shift;
        pos += 1;
        shift += 7;
        if b & 0x80 == 0 {
            return pos + size;
        }
    }
}

/// A custom section, encoded by hand (id 0, size, name, data).
fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    fn leb(out: &mut Vec<u8>, mut v: usize) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb(&mut payload, name.len());
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let mut out = vec![0];
    leb(&mut out, payload.len());
    out.extend_from_slice(&payload);
    out
}

#[test]
fn keygen_sign_verify_inspect_round_trip() {
    let d = Dir::new();
    let (key, id) = d.keygen("operator.key");
    assert_eq!(id.len(), 24, "key id is 24 hex digits: {id:?}");
    assert!(id.parse::<KeyId>().is_ok());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the secret key is private");
    }
    assert_eq!(std::fs::read(&key).unwrap().len(), 65);
    assert_eq!(std::fs::read(pub_of(&key)).unwrap().len(), 33);
    assert_eq!(
        PublicKey::read_file(&pub_of(&key))
            .unwrap()
            .id()
            .to_string(),
        id
    );

    let signed = d.sign_echo(&key, ECHO_MANIFEST, "echo.signed.wasm");

    let out = jobhost(&["plugin", "verify", "--pub", s(&pub_of(&key)), s(&signed)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("valid: echo 1.0.0 signed by {id}")
    );

    let bytes = std::fs::read(&signed).unwrap();
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let out = jobhost(&["plugin", "inspect", s(&signed)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let info: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(info["signature"], "signed, not verified");
    assert_eq!(info["sha256"], digest.as_str());
    let content = &bytes[signature_section_end(&bytes)..];
    let content = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(content));
    assert_eq!(info["content_sha256"], content.as_str());
    assert_eq!(info["key_ids"], serde_json::json!([id]));
    assert_eq!(info["preamble"], "component");
    assert_eq!(info["manifest"]["name"], "echo");
    assert_eq!(info["manifest"]["version"], "1.0.0");
    assert_eq!(info["manifest"]["operations"], serde_json::json!(["echo"]));
    assert_eq!(
        info["manifest"]["wit"],
        "jobhost:plugin/operation-plugin@0.1.0"
    );

    let out = jobhost(&["plugin", "inspect", "--pub", s(&pub_of(&key)), s(&signed)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let info: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(info["signature"], "valid");
    assert_eq!(info["signed_by"], id.as_str());

    // An unsigned component inspects as such.
    let out = jobhost(&["plugin", "inspect", s(&plugin_path("echo"))]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let info: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(info["signature"], "unsigned");
    assert_eq!(info["manifest"], Value::Null);
}

#[test]
fn keygen_never_overwrites_a_key() {
    let d = Dir::new();
    let (key, _) = d.keygen("k");
    let before = std::fs::read(&key).unwrap();
    let out = jobhost(&["plugin", "keygen", "--out", s(&key)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refusing to overwrite a key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn sign_refuses_a_bad_manifest_and_a_core_module() {
    let d = Dir::new();
    let (key, _) = d.keygen("k");
    let manifest = d.write(
        "m.toml",
        ECHO_MANIFEST.replace("[capabilities]", "[capabilities]\nnetwork = true"),
    );
    let out = jobhost(&[
        "plugin",
        "sign",
        "--key",
        s(&key),
        "--manifest",
        s(&manifest),
        s(&plugin_path("echo")),
        "-o",
        s(&d.path("o.wasm")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown field `network`"),
        "{}",
        stderr(&out)
    );
    assert!(!d.path("o.wasm").exists());

    let core = d.write("core.wasm", wat::parse_str("(module)").unwrap());
    let manifest = d.write("m.toml", ECHO_MANIFEST);
    let out = jobhost(&[
        "plugin",
        "sign",
        "--key",
        s(&key),
        "--manifest",
        s(&manifest),
        s(&core),
        "-o",
        s(&d.path("o.wasm")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("core WebAssembly module, not a component"),
        "{}",
        stderr(&out)
    );
}

/// Every kind of bad file (the format's refusals, docs/plugin-format.md),
/// each refused by the library with its own
/// error and by `jobhost plugin verify` with exit 1 and the reason.
#[test]
fn each_bad_plugin_is_refused_with_a_precise_reason() {
    let d = Dir::new();
    let (key, id) = d.keygen("operator.key");
    let (other, other_id) = d.keygen("other.key");
    let signed_path = d.sign_echo(&key, ECHO_MANIFEST, "echo.signed.wasm");
    let signed = std::fs::read(&signed_path).unwrap();
    let by_other = std::fs::read(d.sign_echo(&other, ECHO_MANIFEST, "other.wasm")).unwrap();
    let store = trust(&[&pub_of(&key)]);

    let manifest_at = find(&signed, br#"{"name":"echo""#);
    let sig_end = signature_section_end(&signed);
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = signed.clone();
        f(&mut b);
        b
    };

    type Check = fn(&VerifyError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check, String)> = vec![
        (
            "a flipped byte in the code",
            // The middle of the file is the component's code: the signature
            // section (~120 bytes) and the manifest (~150) are at the ends.
            mutate(&|b| {
                let mid = b.len() / 2;
                b[mid] ^= 0x01;
            }),
            |e| matches!(e, VerifyError::ContentChanged { .. }),
            format!("the content (code or manifest) changed after key {id} signed it"),
        ),
        (
            "a flipped byte in the manifest",
            mutate(&|b| b[manifest_at + 10] ^= 0x20),
            |e| matches!(e, VerifyError::ContentChanged { .. }),
            format!("the content (code or manifest) changed after key {id} signed it"),
        ),
        (
            "a flipped byte in the signature",
            // The Ed25519 signature is the last 64 bytes of the section.
            mutate(&|b| b[sig_end - 1] ^= 0x01),
            |e| matches!(e, VerifyError::BadSignature { .. }),
            format!("the signature by trusted key {id} does not verify"),
        ),
        (
            "unsigned",
            std::fs::read(plugin_path("echo")).unwrap(),
            |e| matches!(e, VerifyError::Unsigned),
            "unsigned: no `signature` custom section".into(),
        ),
        (
            "signed by an unknown key",
            by_other.clone(),
            |e| matches!(e, VerifyError::UnknownKey { .. }),
            format!("signed by an unknown key: no signature verifies with the 1 trusted key(s) (the signatures name key id {other_id})"),
        ),
        (
            "a manifest changed after signing",
            // Still valid JSON and a valid manifest, same length: only the
            // signature can tell.
            mutate(&|b| {
                let at = manifest_at + find(&b[manifest_at..], br#""version":"1.0.0""#);
                b[at + 11] = b'9';
            }),
            |e| matches!(e, VerifyError::ContentChanged { .. }),
            format!("the content (code or manifest) changed after key {id} signed it"),
        ),
        (
            "a core-module preamble swapped in",
            mutate(&|b| b[4..8].copy_from_slice(&[1, 0, 0, 0])),
            |e| matches!(e, VerifyError::Format(FormatError::CoreModule)),
            "bad preamble 00 61 73 6d 01 00 00 00: this is a core WebAssembly module, not a component".into(),
        ),
        (
            "a truncated file",
            signed[..signed.len() / 2].to_vec(),
            |e| matches!(e, VerifyError::Format(FormatError::Truncated { .. })),
            "file is truncated: section ".into(),
        ),
    ];
    for (what, bytes, check, message) in &cases {
        let err = store.verify(bytes.clone(), MAX).unwrap_err();
        assert!(check(&err), "{what}: wrong refusal: {err}");
        let path = d.write("bad.wasm", bytes);
        let out = jobhost(&["plugin", "verify", "--pub", s(&pub_of(&key)), s(&path)]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stdout(&out));
        assert!(stdout(&out).is_empty(), "{what}: {}", stdout(&out));
        assert!(
            stderr(&out).starts_with(&format!("invalid: {}: ", path.display()))
                && stderr(&out).contains(message.as_str()),
            "{what}: expected {message:?} in {:?}",
            stderr(&out)
        );
    }

    // Revoked: the key is still listed, its id is revoked.
    let revoked = TrustStore::new(
        [PublicKey::read_file(&pub_of(&key)).unwrap()],
        [id.parse::<KeyId>().unwrap()],
    );
    let err = revoked.verify(signed.clone(), MAX).unwrap_err();
    assert!(matches!(err, VerifyError::RevokedKey { .. }), "{err}");
    let out = jobhost(&[
        "plugin",
        "verify",
        "--pub",
        s(&pub_of(&key)),
        "--revoked",
        &id,
        s(&signed_path),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("signed by revoked key {id}")),
        "{}",
        stderr(&out)
    );

    // Oversized: over the limit passed in, refused before anything else.
    let limit = signed.len() as u64 - 1;
    let err = store.verify_file(&signed_path, limit).unwrap_err();
    assert!(matches!(err, VerifyError::Oversize { .. }), "{err}");
    let out = jobhost(&[
        "plugin",
        "verify",
        "--pub",
        s(&pub_of(&key)),
        "--max-bytes",
        &limit.to_string(),
        s(&signed_path),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "file is {} bytes, over the {limit}-byte limit",
            signed.len()
        )),
        "{}",
        stderr(&out)
    );

    // Rotation: with both keys trusted, both files verify.
    let both = trust(&[&pub_of(&key), &pub_of(&other)]);
    assert_eq!(
        both.verify(by_other, MAX).unwrap().key_id().to_string(),
        other_id
    );
    assert_eq!(both.verify(signed, MAX).unwrap().key_id().to_string(), id);

    // inspect --pub reports the refusal in its JSON and exits 1.
    let path = d.write("bad.wasm", &cases[0].1);
    let out = jobhost(&["plugin", "inspect", "--pub", s(&pub_of(&key)), s(&path)]);
    assert_eq!(out.status.code(), Some(1));
    let info: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(info["signature"], "invalid");
    assert!(info["reason"]
        .as_str()
        .unwrap()
        .contains("changed after key"));
}

fn verified_echo(d: &Dir) -> VerifiedPlugin {
    let (key, _) = d.keygen("operator.key");
    let signed = d.sign_echo(&key, ECHO_MANIFEST, "echo.signed.wasm");
    trust(&[&pub_of(&key)]).verify_file(&signed, MAX).unwrap()
}

#[test]
fn a_verified_plugin_runs_to_succeeded() {
    let d = Dir::new();
    let verified = verified_echo(&d);
    assert_eq!(verified.manifest().name, "echo");
    let plugin = CompiledPlugin::from_verified(&support::runtime(), &verified).unwrap();
    assert_eq!(plugin.name(), "echo", "named by the manifest");
    assert_eq!(plugin.digest(), verified.digest());
    let report = support::run(&plugin, r#"{"operation":"echo","message":"signed"}"#);
    assert_eq!(report.status, TerminalStatus::Succeeded, "{report:?}");
    assert_eq!(report.status_details.get("message"), Some("signed"));
}

#[test]
fn jobhost_run_with_pub_verifies_before_running() {
    let d = Dir::new();
    let (key, _) = d.keygen("operator.key");
    let signed = d.sign_echo(&key, ECHO_MANIFEST, "echo.signed.wasm");
    let doc = d.write("job.json", r#"{"operation":"echo","message":"checked"}"#);
    let run = |plugin: &Path| {
        jobhost(&[
            "run",
            "--no-cache",
            "--plugin",
            s(plugin),
            "--pub",
            s(&pub_of(&key)),
            "--document",
            s(&doc),
        ])
    };
    let out = run(&signed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(r#""message":"checked""#),
        "{}",
        stdout(&out)
    );

    let mut bytes = std::fs::read(&signed).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let tampered = d.write("tampered.wasm", bytes);
    let out = run(&tampered);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("changed after key"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "nothing ran: {}", stdout(&out));
}

#[test]
fn the_manifest_covers_what_the_operator_wrote() {
    let d = Dir::new();
    let verified = verified_echo(&d);
    assert_eq!(
        verified.manifest(),
        &Manifest::from_toml(ECHO_MANIFEST).unwrap()
    );
}

// --- interop with the third-party tool ---

mod artifacts;
mod wasmsign2;
