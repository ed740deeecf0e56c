use super::*;
use crate::checksum::Algorithm;
use serde_json::json;

fn job(document: Value) -> Job {
    Job::new("j1", 1, "install-package", &document.to_string())
}

fn install(edit: impl FnOnce(&mut Value)) -> Result<Install, JobError> {
    let mut doc = json!({
        "operation": "install-package",
        "packageName": "web",
        "workingDirectory": "/packages/web",
        "deviceWorkingDirectory": "/var/lib/jobhost-data/packages/web",
        "files": [
            {"fileName": "app.js", "url": "https://h/app.js",
             "checksum": {"hashAlgorithm": "SHA256", "inline": {"value": "ab".repeat(32)}},
             "codesign": {"signature": {"inlineBase64": "AAAA"}}},
            {"fileName": "lib/util.js", "url": "https://h/util.js"},
        ],
        "launchCommand": ["node", "app.js"],
        "autoStart": true,
        "startupCheckSecs": 5,
    });
    edit(&mut doc);
    Install::parse(&job(doc))
}

#[test]
fn the_native_install_document_parses_whole() {
    let doc = install(|_| {}).unwrap();
    assert_eq!(doc.package_name, "web");
    assert_eq!(doc.files.len(), 2);
    assert_eq!(
        doc.files[0].checksum.as_ref().map(|c| c.algorithm),
        Some(Algorithm::Sha256)
    );
    assert_eq!(doc.files[1].checksum, None);
    assert_eq!(
        doc.path_of(&doc.files[1]),
        Path::new("/packages/web/lib/util.js")
    );
    assert!(doc.starts());
    assert_eq!(doc.record().startup_check_secs, 5);
}

#[test]
fn defaults_are_jobs_agents() {
    let doc = install(|d| {
        let d = d.as_object_mut().unwrap();
        d.remove("autoStart");
        d.remove("startupCheckSecs");
        d.remove("launchCommand");
    })
    .unwrap();
    assert!(!doc.auto_start && !doc.starts());
    assert_eq!(doc.startup_check_secs, DEFAULT_STARTUP_CHECK_SECS);
    let no_command = install(|d| {
        d.as_object_mut().unwrap().remove("launchCommand");
    })
    .unwrap();
    assert!(
        !no_command.starts(),
        "autoStart without launchCommand runs nothing"
    );
}

fn refused(edit: impl FnOnce(&mut Value)) -> JobError {
    let e = install(edit).unwrap_err();
    assert!(!e.retryable, "{e:?} should be REJECTED");
    e
}

#[test]
fn each_refusal_carries_the_code_jobs_agent_gives() {
    let e = refused(|d| {
        d.as_object_mut().unwrap().remove("packageName");
    });
    assert_eq!(
        (e.code, e.message.as_str()),
        (codes::UNNAMED_PACKAGE, INSTALL_UNNAMED)
    );
    let e = refused(|d| d["packageName"] = json!("../x"));
    assert_eq!(e.code, codes::INVALID_PACKAGE_NAME);
    for files in [json!(null), json!([]), json!("app.js"), json!({})] {
        let e = refused(|d| d["files"] = files);
        assert_eq!(
            (e.code, e.message.as_str()),
            (codes::FILE_COPY_FAILED, NO_FILES)
        );
    }
    let e = refused(|d| {
        d["files"][0].as_object_mut().unwrap().remove("fileName");
    });
    assert_eq!(
        (e.code, e.message.as_str()),
        (codes::FILE_COPY_FAILED, "fileName missing")
    );
    let e = refused(|d| {
        d["files"][1].as_object_mut().unwrap().remove("url");
    });
    assert_eq!(
        (e.code, e.message.as_str()),
        (codes::DOWNLOAD_FAILED, "fileSource url missing")
    );
    let e = refused(|d| d["files"][0]["checksum"]["hashAlgorithm"] = json!("crc32"));
    assert_eq!(e.code, codes::UNSUPPORTED_CHECKSUM_ALGORITHM);
}

#[test]
fn paths_that_leave_the_package_are_refused() {
    let e = refused(|d| d["files"][1]["fileName"] = json!("../../etc/passwd"));
    assert_eq!(e.code, codes::FILE_COPY_FAILED);
    let e = refused(|d| d["files"][1]["fileName"] = json!("/etc/passwd"));
    assert_eq!(e.code, codes::FILE_COPY_FAILED);
    let e = refused(|d| d["workingDirectory"] = json!("/packages/.jobhost"));
    assert_eq!(e.code, codes::FILE_COPY_FAILED);
    let e = refused(|d| {
        d["workingDirectory"] = json!("/packages");
        d["files"][1]["fileName"] = json!(".jobhost/installedPackages.json");
    });
    assert_eq!(e.code, codes::FILE_COPY_FAILED);
    assert!(
        e.message.contains("where this plugin keeps its records"),
        "{}",
        e.message
    );
    let e = refused(|d| d["deviceWorkingDirectory"] = json!("relative"));
    assert_eq!(e.code, codes::UNEXPECTED);
}

#[test]
fn files_that_would_overwrite_each_other_are_refused() {
    let e = refused(|d| d["files"][1]["fileName"] = json!("app.js"));
    assert_eq!(e.message, "files lists the same fileName twice");
    let e = refused(|d| d["files"][1]["fileName"] = json!("app.js.old"));
    assert_eq!(
        e.message,
        "fileName \"app.js.old\" is where \"app.js\" is backed up"
    );
}

#[test]
fn contract_violations_are_unexpected() {
    for edit in [
        |d: &mut Value| d["launchCommand"] = json!([]),
        |d: &mut Value| d["launchCommand"] = json!(["  "]),
        |d: &mut Value| d["startupCheckSecs"] = json!(601),
        |d: &mut Value| d["autoStart"] = json!("yes"),
        |d: &mut Value| d["surprise"] = json!(1),
        |d: &mut Value| {
            d.as_object_mut().unwrap().remove("workingDirectory");
        },
    ] {
        assert_eq!(refused(edit).code, codes::UNEXPECTED);
    }
    assert_eq!(
        install(|d| d["startupCheckSecs"] = json!(0))
            .unwrap()
            .startup_check_secs,
        0
    );
}

#[test]
fn control_documents_name_one_package() {
    let named_job = |doc: Value| Job::new("j", 1, "start-package", &doc.to_string());
    assert_eq!(
        named(&named_job(
            json!({"operation": "start-package", "packageName": "web"})
        ))
        .unwrap(),
        "web"
    );
    let e = named(&named_job(json!({"operation": "start-package"}))).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (codes::UNNAMED_PACKAGE, UNNAMED)
    );
    let e = named(&named_job(
        json!({"operation": "stop-package", "packageName": "-x"}),
    ))
    .unwrap_err();
    assert_eq!(e.code, codes::INVALID_PACKAGE_NAME);
    assert!(status(&named_job(json!({"operation": "package-status"}))).is_ok());
    assert_eq!(
        status(&named_job(json!({"operation": "package-status", "x": 1})))
            .unwrap_err()
            .code,
        codes::UNEXPECTED
    );
}

#[test]
fn the_examples_are_valid_documents() {
    let example = |name: &str, text: &str| Job::new("example", 1, name, text);
    let install = include_str!("../../examples/install-package.json");
    let doc = Install::parse(&example("install-package", install)).unwrap();
    assert_eq!(doc.files.len(), 2);
    for (operation, text) in [
        (
            "start-package",
            include_str!("../../examples/start-package.json"),
        ),
        (
            "stop-package",
            include_str!("../../examples/stop-package.json"),
        ),
        (
            "restart-package",
            include_str!("../../examples/restart-package.json"),
        ),
    ] {
        assert_eq!(
            named(&example(operation, text)).unwrap(),
            "uniquePackageName"
        );
    }
    let status_doc = include_str!("../../examples/package-status.json");
    assert!(status(&example("package-status", status_doc)).is_ok());
}
