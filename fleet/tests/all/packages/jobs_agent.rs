//! aws-iot-device-sdk-js `jobs-agent.js` documents, as that agent's users
//! write them, through the service, the broker and the real agent, which
//! translates them for the packages plugin (`host/src/document`). The same
//! STAND-INS for systemd-run and systemctl as the parent module.

use super::*;
use jobhost::trust::artifact::sign_artifact;
use jobhost::trust::SecretKey;
use sha2::Digest;

/// jobs-agent.js's `install` (its comments' shape) for package `app`,
/// with one jobhost field: a 1-second startup check instead of that
/// agent's 20 (the stand-in units never exit by themselves).
fn install_document(root: &Path, url: &str, sha: &str, launch: &str) -> Value {
    json!({"operation": "install", "packageName": "app", "startupCheckSecs": 1,
           "workingDirectory": root.join("packages/app"),
           "launchCommand": launch, "autoStart": "true",
           "files": [{"fileName": "app.js", "fileSource": {"url": url},
                      "checksum": {"inline": {"value": sha}, "hashAlgorithm": "SHA256"}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_agent_js_documents_run_in_the_packages_plugin() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let systemd = Systemd::new(root);
    std::fs::create_dir_all(root.join("packages")).unwrap();
    let server = start_server(root, embedded()).await;
    let proxy = GatedProxy::start(server.http_addr).await;
    let agent = start_agent(root, &server, &proxy, &systemd);
    let app = b"console.log('v1')".as_slice();
    let url = upload(&server, "app.js", app);
    let device_dir = root.join("packages/app").display().to_string();
    let unit = "jobhost-package-app.service";

    // A launchCommand that needs a shell, or names a program this device
    // did not allow-list: REJECTED before anything is downloaded, with
    // jobs-agent.js's error fields.
    let e = run(
        &server,
        "js-shell",
        install_document(root, &url, &sha256(app), "node app.js > log"),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert!(
        detail(&e, "reason").unwrap().contains("needs a shell"),
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "errorCode"), Some("ERR_UNEXPECTED"));
    let e = run(
        &server,
        "js-ruby",
        install_document(root, &url, &sha256(app), "ruby app.rb"),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert!(
        detail(&e, "reason").unwrap().starts_with(
            "program \"ruby\" is not on this plugin's run-command allow-list (jobs-agent.js `install`)"
        ),
        "{:?}",
        e.status_details
    );
    assert_eq!(detail(&e, "operation"), Some("install"));
    // A workingDirectory outside the grant: the grant that would allow it.
    let mut outside = install_document(root, &url, &sha256(app), "node app.js");
    outside["workingDirectory"] = json!("/opt/app");
    let e = run(&server, "js-outside", outside).await;
    assert_status(&e, JobExecutionStatus::Rejected);
    assert!(
        detail(&e, "reason")
            .unwrap()
            .contains("[plugins.packages] dirs = [\"/opt:/packages\"]"),
        "{:?}",
        e.status_details
    );
    assert!(!root.join("packages/app").exists(), "nothing was installed");

    // As written: installed where it says, started as a unit whose working
    // directory is the device's path, reported in jobs-agent.js's terms.
    let marks = systemd.marks();
    let e = run(
        &server,
        "js-install",
        install_document(root, &url, &sha256(app), "node app.js"),
    )
    .await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_state(&e, "install", "package installed and started");
    assert_eq!(read(root.join("packages/app/app.js")), "console.log('v1')");
    let start = format!(
        "--unit={unit} --working-directory={device_dir} --collect --service-type=exec -- node app.js"
    );
    assert_eq!(systemd.since(marks).1, vec![start.clone()]);

    // stop, start, restart, systemStatus: the same package by name.
    let e = run(
        &server,
        "js-stop",
        json!({"operation": "stop", "packageName": "app"}),
    )
    .await;
    assert_state(&e, "stop", "package stopped");
    assert_eq!(systemd.running(unit), None);
    let e = run(
        &server,
        "js-start",
        json!({"operation": "start", "packageName": "app"}),
    )
    .await;
    assert_state(&e, "start", "package started");
    assert_eq!(systemd.running(unit), Some(start.clone()));
    let e = run(
        &server,
        "js-restart",
        json!({"operation": "restart", "packageName": "app"}),
    )
    .await;
    assert_state(&e, "restart", "package started");
    let e = run(&server, "js-status", json!({"operation": "systemStatus"})).await;
    assert_status(&e, JobExecutionStatus::Succeeded);
    assert_eq!(detail(&e, "operation"), Some("systemStatus"));
    assert_eq!(detail(&e, "installedPackages"), Some("[app]"));

    // Code-signed files: a codesign beside the file (as the service puts
    // it for `${aws:iot:code-sign-signature:…}`) is verified with the
    // device's trust keys before the file replaces the running one; a
    // signature for another file fails the install with nothing replaced.
    let key = SecretKey::read_file(&root.join(THING).join("operator.key")).unwrap();
    let signed = |content: &[u8]| {
        let digest: [u8; 32] = sha2::Sha256::digest(content).into();
        sign_artifact(&key, "app.js", content.len() as u64, digest)
            .unwrap()
            .to_json()
    };
    let v2 = b"console.log('v2')".as_slice();
    let mut doc = install_document(
        root,
        &upload(&server, "app2.js", v2),
        &sha256(v2),
        "node app.js",
    );
    doc["files"][0]["codesign"] = signed(v2);
    let e = run(&server, "js-signed", doc).await;
    assert_state(&e, "install", "package installed and started");
    assert_eq!(
        detail(&e, "codesignKeyId"),
        Some(key.public_key().id().to_string().as_str())
    );
    assert_eq!(read(root.join("packages/app/app.js")), "console.log('v2')");
    let v3 = b"console.log('v3')".as_slice();
    let mut doc = install_document(
        root,
        &upload(&server, "app3.js", v3),
        &sha256(v3),
        "node app.js",
    );
    doc["files"][0]["codesign"] = signed(v2);
    let e = run(&server, "js-missigned", doc).await;
    assert_status(&e, JobExecutionStatus::Failed);
    assert_eq!(
        detail(&e, "errorCode"),
        Some("ERR_DOWNLOAD_FAILED"),
        "{:?}",
        e.status_details
    );
    assert!(
        detail(&e, "reason").is_some_and(|r| r.contains("but the signature by key")),
        "{:?}",
        e.status_details
    );
    assert_eq!(read(root.join("packages/app/app.js")), "console.log('v2')");
    drop(agent);
}
