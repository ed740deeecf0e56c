#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::*;
use serde_json::json;

const T0: i64 = 1_700_000_000;

fn open(dir: &Path) -> Uploads {
    Uploads::open(dir, "http://fleet.test:8080/", Duration::from_secs(600)).unwrap()
}

/// (expires, signature) of a presigned URL.
fn parts(url: &str) -> (i64, String) {
    let query = url.split_once('?').unwrap().1;
    let mut expires = 0;
    let mut signature = String::new();
    for pair in query.split('&') {
        match pair.split_once('=').unwrap() {
            ("expires", v) => expires = v.parse().unwrap(),
            ("signature", v) => signature = v.to_owned(),
            _ => {}
        }
    }
    (expires, signature)
}

#[test]
fn a_url_is_valid_only_for_its_thing_job_name_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let u = open(dir.path());
    let url = u.presign("dev:1", "job-1", "bundle.tar.gz", T0).unwrap();
    assert!(url.starts_with("http://fleet.test:8080/uploads/dev:1/job-1/bundle.tar.gz?expires="));
    let (expires, sig) = parts(&url);
    assert_eq!(expires, T0 + 600);
    let key = dir.path().join(crate::signed_dir::KEY_FILE);
    let message = format!("PUT|dev:1|job-1|bundle.tar.gz|{expires}");
    assert_eq!(sig, crate::presign::legacy_signature(&key, &message));
    assert!(u.verify("dev:1", "job-1", "bundle.tar.gz", expires, &sig, T0 + 600));
    assert!(
        !u.verify("dev:1", "job-1", "bundle.tar.gz", expires, &sig, T0 + 601),
        "expired"
    );
    assert!(!u.verify("dev:2", "job-1", "bundle.tar.gz", expires, &sig, T0));
    assert!(!u.verify("dev:1", "job-2", "bundle.tar.gz", expires, &sig, T0));
    assert!(!u.verify("dev:1", "job-1", "other", expires, &sig, T0));
    assert!(!u.verify("dev:1", "job-1", "bundle.tar.gz", expires + 1, &sig, T0));
    assert!(!u.verify("dev:1", "job-1", "bundle.tar.gz", expires, "zz", T0));

    // Another server (another key) does not accept it; the same directory
    // after a restart does.
    let other = tempfile::tempdir().unwrap();
    assert!(!open(other.path()).verify("dev:1", "job-1", "bundle.tar.gz", expires, &sig, T0));
    assert!(open(dir.path()).verify("dev:1", "job-1", "bundle.tar.gz", expires, &sig, T0));
}

#[test]
fn an_artifact_signature_is_not_an_upload_signature() {
    // Same key file name, different directories and, above all, a
    // different MAC input: neither kind verifies as the other.
    let dir = tempfile::tempdir().unwrap();
    let artifacts = crate::artifacts::Artifacts::open(
        dir.path(),
        "http://fleet.test:8080",
        Duration::from_secs(600),
    )
    .unwrap();
    let uploads = open(dir.path());
    let signed = artifacts
        .presign("http://fleet.test:8080/artifacts/b", T0)
        .unwrap();
    let (expires, sig) = parts(&signed);
    assert!(artifacts.verify("b", expires, &sig, T0));
    assert!(!uploads.verify("t", "j", "b", expires, &sig, T0));
}

#[test]
fn placeholders_become_fresh_urls_for_the_delivering_thing_and_job() {
    let dir = tempfile::tempdir().unwrap();
    let u = std::sync::Arc::new(open(dir.path()));
    let delivery = crate::placeholders::Delivery {
        uploads: Some(u.clone()),
        ..Default::default()
    };
    let doc = json!({
        "operation": "diagnostics",
        "uploadUrl": "${jobhost:upload-url:bundle.tar.gz}",
        "nested": ["x ${jobhost:upload-url:a.log} y", {"n": 1}],
        "bad": "${jobhost:upload-url:../etc}",
        "open": "${jobhost:upload-url:unterminated"
    });
    let out = delivery.resolve(&doc, "dev-1", "job-9", 1, T0);
    let url = out["uploadUrl"].as_str().unwrap();
    assert_eq!(
        url,
        u.presign("dev-1", "job-9", "bundle.tar.gz", T0).unwrap()
    );
    let nested = out["nested"][0].as_str().unwrap();
    assert!(nested.starts_with("x http://fleet.test:8080/uploads/dev-1/job-9/a.log?expires="));
    assert!(nested.ends_with(" y"));
    assert_eq!(out["nested"][1], json!({"n": 1}));
    assert_eq!(
        out["bad"], doc["bad"],
        "an invalid name stays a placeholder"
    );
    assert_eq!(out["open"], doc["open"]);
    let later = delivery.resolve(&doc, "dev-1", "job-9", 1, T0 + 60);
    assert_ne!(
        later["uploadUrl"], out["uploadUrl"],
        "fresh at every delivery"
    );
}

#[test]
fn uploads_appear_whole_and_are_listed_by_thing_and_job() {
    let dir = tempfile::tempdir().unwrap();
    let u = open(dir.path());
    let mut w = u.create("dev-1", "job-1", "b.tar.gz").unwrap();
    w.write(b"hello ").unwrap();
    assert!(
        u.list(None, None).unwrap().is_empty(),
        "nothing visible before finish"
    );
    w.write(b"world").unwrap();
    let info = w.finish().unwrap();
    assert_eq!(info.size, 11);
    assert_eq!(
        info.sha256.as_deref(),
        Some("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
    );
    u.create("dev-2", "job-1", "x").unwrap().finish().unwrap();
    drop(u.create("dev-2", "job-2", "abandoned").unwrap());

    let all = u.list(None, None).unwrap();
    let names: Vec<_> = all
        .iter()
        .map(|i| format!("{}/{}/{}", i.thing_name, i.job_id, i.name))
        .collect();
    assert_eq!(names, ["dev-1/job-1/b.tar.gz", "dev-2/job-1/x"]);
    assert_eq!(u.list(Some("dev-2"), None).unwrap().len(), 1);
    assert_eq!(u.list(None, Some("job-1")).unwrap().len(), 2);
    assert!(u.list(Some("nobody"), None).unwrap().is_empty());
    assert_eq!(
        std::fs::read(u.path_of("dev-1", "job-1", "b.tar.gz").unwrap()).unwrap(),
        b"hello world"
    );
}

#[test]
fn no_part_of_an_upload_address_can_escape_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let u = open(dir.path());
    for (thing, job, name) in [
        ("..", "j", "n"),
        ("t", "..", "n"),
        ("t", "j", ".."),
        ("t", "j", ".url-signing-key"),
        ("a/b", "j", "n"),
        ("t", "j", "a/b"),
        ("", "j", "n"),
    ] {
        assert!(
            u.path_of(thing, job, name).is_none(),
            "{thing}/{job}/{name}"
        );
        assert!(u.create(thing, job, name).is_err(), "{thing}/{job}/{name}");
        assert!(
            u.presign(thing, job, name, T0).is_none(),
            "{thing}/{job}/{name}"
        );
    }
}
