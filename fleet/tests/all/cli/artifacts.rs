//! `artifact put --signature`, `artifact list`, `artifact describe`, and a
//! job whose document asks for an artifact's signature
//! (`${aws:iot:code-sign-signature:…}`), through the binary. The signatures
//! are made with the library `jobhost artifact sign` uses, and real keys.

use super::*;
use jobhost::trust::artifact::sign_artifact;
use jobhost::trust::SecretKey;

/// Writes `name` with `bytes` in the server's scratch directory, and its
/// signature by `key` (as `jobhost artifact sign` writes it) beside it.
fn signed_file(s: &Server, key: &SecretKey, name: &str, bytes: &[u8]) -> (String, String) {
    let path = s.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let sha: [u8; 32] = Sha256::digest(bytes).into();
    let codesign = sign_artifact(key, name, bytes.len() as u64, sha).unwrap();
    let sig = s.dir.path().join(format!("{name}.sig"));
    std::fs::write(&sig, codesign.to_file_text()).unwrap();
    (
        path.to_str().unwrap().to_owned(),
        sig.to_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn put_with_a_signature_stores_it_and_prints_the_code_sign_placeholder() {
    let s = Server::start(None).await;
    let key = SecretKey::generate().unwrap();
    let id = key.public_key().id().to_string();
    let (file, sig) = signed_file(&s, &key, "fw-2.0.bin", b"firmware two");
    let out = s.ok(&["artifact", "put", "--signature", &sig, &file]).await;
    let url = format!("{}/artifacts/fw-2.0.bin", s.base);
    assert!(out.contains(&format!("signed by:   {id}\n")), "{out}");
    assert!(
        out.ends_with(&format!(
            "codesign:    ${{aws:iot:code-sign-signature:{url}}}\n"
        )),
        "{out}"
    );
    assert_eq!(
        s.artifacts.codesign_of("fw-2.0.bin").unwrap().key_id_hex(),
        id
    );

    // A signature for other bytes: refused, and the signed artifact stays.
    let (_, other_sig) = signed_file(&s, &key, "other.bin", b"other bytes");
    let out = s
        .run(&[
            "artifact",
            "put",
            "--signature",
            &other_sig,
            "--name",
            "fw-2.0.bin",
            &file,
        ])
        .await;
    assert_one_line_error(&out, "the signature is for 11 bytes with sha256");
    assert!(text(&out.stderr).contains("the uploaded fw-2.0.bin is 12 bytes"));
    assert_eq!(
        s.artifacts.codesign_of("fw-2.0.bin").unwrap().key_id_hex(),
        id
    );
    // Not a signature at all: refused before anything is sent.
    std::fs::write(&other_sig, "{\"format\": \"x\"}").unwrap();
    let out = s
        .run(&["artifact", "put", "--signature", &other_sig, &file])
        .await;
    assert_one_line_error(&out, &other_sig);

    s.artifacts.put("plain.bin", b"plain").unwrap();
    let out = s.ok(&["artifact", "list"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].ends_with("SIGNED BY"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("fw-2.0.bin") && lines[1].ends_with(&id),
        "{out}"
    );
    assert!(
        lines[2].starts_with("plain.bin") && lines[2].ends_with(" -"),
        "{out}"
    );

    let out = s.ok(&["artifact", "describe", "fw-2.0.bin"]).await;
    let sha = hex::encode(Sha256::digest(b"firmware two"));
    assert!(out.contains(&format!("sha256:      {sha}\n")), "{out}");
    assert!(out.contains(&format!("signed by:   {id}\n")), "{out}");
    let out = s.run(&["artifact", "describe", "nope.bin"]).await;
    assert_one_line_error(&out, "there is no artifact named nope.bin");
}

#[tokio::test]
async fn a_job_gets_the_signature_when_it_is_created_or_is_refused_naming_the_artifact() {
    let s = Server::start(None).await;
    let key = SecretKey::generate().unwrap();
    let (file, sig) = signed_file(&s, &key, "app.tar.gz", b"bundle");
    s.ok(&["artifact", "put", "--signature", &sig, &file]).await;
    s.artifacts.put("unsigned.bin", b"x").unwrap();
    let url = |name: &str| format!("{}/artifacts/{name}", s.base);
    let document = |name: &str| {
        format!(
            "{{\"operation\": \"install-application\",\n \"url\": \
             \"${{aws:iot:s3-presigned-url:{u}}}\",\n \"codesign\": \
             \"${{aws:iot:code-sign-signature:{u}}}\"}}",
            u = url(name)
        )
    };
    s.ok(&[
        "job",
        "create",
        "--job-id",
        "app-1",
        "--target",
        "dev-a",
        "--document-json",
        &document("app.tar.gz"),
    ])
    .await;
    let out = s.ok(&["job", "describe", "app-1"]).await;
    let job: Value = serde_json::from_str(&out).unwrap();
    let codesign = &job["document"]["codesign"];
    assert_eq!(
        codesign["keyId"],
        key.public_key().id().to_string().as_str()
    );
    assert_eq!(codesign["rawPayloadSize"], 6);
    assert_eq!(codesign["fileName"], "app.tar.gz");
    // The presigned-URL placeholder is still for each delivery.
    assert_eq!(
        job["document"]["url"],
        format!("${{aws:iot:s3-presigned-url:{}}}", url("app.tar.gz")).as_str()
    );

    for (name, why) in [
        ("unsigned.bin", "artifact unsigned.bin is not signed"),
        ("missing.bin", "there is no artifact named missing.bin"),
    ] {
        let out = s
            .run(&[
                "job",
                "create",
                "--job-id",
                "app-2",
                "--target",
                "dev-a",
                "--document-json",
                &document(name),
            ])
            .await;
        assert_one_line_error(
            &out,
            &format!("code-sign placeholder for {}: {why}", url(name)),
        );
    }
}
