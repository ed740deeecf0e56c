//! The reference architecture's and jobs-agent.js's documents, and the
//! routing table's refusal to guess. The documents are those sources' own
//! (the architecture's sample; jobs-agent.js's comments and handlers).
#![allow(clippy::unwrap_used)]

use super::tests::{refused, routed};
use super::*;
use serde_json::json;

/// The reference architecture's sample, as the service delivers it (the
/// presigned placeholder resolved).
fn sample() -> Value {
    json!({"operation": "download", "version": "1.0", "directory": "/installs",
           "files": {"fileName": "sample_file", "url": "https://bucket.s3.amazonaws.com/sample_file?X-Amz-Signature=1"}})
}

#[test]
fn the_reference_architectures_download_is_a_download_file() {
    let r = routed(sample());
    assert_eq!(r.operation, "download-file");
    assert_eq!(r.shape, Shape::ReferenceArchitecture);
    assert_eq!(
        r.document,
        json!({"operation": "download-file",
               "url": "https://bucket.s3.amazonaws.com/sample_file?X-Amz-Signature=1",
               "destination": "/installs/sample_file", "allowUnverified": true})
    );
    assert_eq!(r.paths, vec![DevicePath::new("/destination")]);
    assert_eq!(
        r.origin(),
        " (the reference architecture's `download` document)"
    );

    // A sha256 beside the URL is checked; a codesign is carried beside it,
    // from `files` or from the top of the document.
    let sha = "ab".repeat(32);
    let mut doc = sample();
    doc["files"]["sha256"] = json!(sha);
    doc["codesign"] = json!({"signature": "s"});
    let r = routed(doc.clone());
    assert_eq!(r.document["sha256"], json!(sha));
    assert_eq!(r.document.get("allowUnverified"), None);
    assert_eq!(r.document["codesign"], json!({"signature": "s"}));
    doc["files"]["codesign"] = json!({"signature": "t"});
    assert!(refused(doc).contains("both in `files` and at its top"));

    // `files` as an array of one; no version at all.
    let r = routed(json!({"operation": "download", "directory": "/d/",
        "files": [{"fileName": "f", "url": "https://h/f"}]}));
    assert_eq!(r.document["destination"], json!("/d/f"));
}

#[test]
fn a_malformed_download_document_gets_a_precise_reason() {
    let cases = [
        (
            json!({"version": "2.0"}),
            "`version` \"2.0\" of a `download` document is not supported",
        ),
        (json!({"directory": null}), "`directory` must be a string"),
        (json!({"directory": ""}), "needs `directory`"),
        (json!({"files": null}), "`files` must be an object"),
        (json!({"files": []}), "`files` is empty"),
        (
            json!({"files": [{"fileName": "a", "url": "u"}, {"fileName": "b", "url": "u"}]}),
            "`files` lists 2 files: jobhost runs one download per job",
        ),
        (
            json!({"files": {"url": "https://h/f"}}),
            "`files.fileName` must be a string",
        ),
        (
            json!({"files": {"fileName": "../etc/passwd", "url": "https://h/f"}}),
            "must be a file name",
        ),
        (
            json!({"files": {"fileName": "..", "url": "https://h/f"}}),
            "must be a file name",
        ),
        (
            json!({"files": {"fileName": "f"}}),
            "`files.url` must be a non-empty string",
        ),
        (
            json!({"files": {"fileName": "f", "url": "${aws:iot:parameter:url}"}}),
            "template parameter `url` was not substituted",
        ),
    ];
    for (change, expected) in cases {
        let mut doc = sample();
        for (k, v) in change.as_object().unwrap() {
            doc[k] = v.clone();
        }
        let reason = refused(doc.clone());
        assert!(reason.contains(expected), "{doc}: {reason}");
    }
    let mut doc = sample();
    doc.as_object_mut().unwrap().remove("files");
    assert!(refused(doc).contains("needs `files`"));
}

/// jobs-agent.js's `install`, as its comments document it.
fn install() -> Value {
    json!({"operation": "install", "packageName": "uniquePackageName", "autoStart": "true",
           "workingDirectory": "./root/directory/for/files",
           "launchCommand": "node app.js --port 8080",
           "files": [{"fileName": "app.js",
                      "fileSource": {"url": "https://s3-example-bucket-name.s3.amazonaws.com/app.js"},
                      "checksum": {"inline": {"value": "ab"}, "hashAlgorithm": "SHA256"}},
                     {"fileName": "lib/util.js",
                      "fileSource": {"url": "https://s3-example-bucket-name.s3.amazonaws.com/util.js"}}]})
}

#[test]
fn jobs_agent_install_becomes_install_package() {
    let r = routed(install());
    assert_eq!(r.operation, "install-package");
    assert_eq!(
        r.shape,
        Shape::JobsAgent {
            operation: "install".into()
        }
    );
    assert_eq!(
        r.document,
        json!({"operation": "install-package", "packageName": "uniquePackageName",
               "autoStart": true, "workingDirectory": "./root/directory/for/files",
               "launchCommand": ["node", "app.js", "--port", "8080"],
               "files": [{"fileName": "app.js",
                          "url": "https://s3-example-bucket-name.s3.amazonaws.com/app.js",
                          "checksum": {"inline": {"value": "ab"}, "hashAlgorithm": "SHA256"}},
                         {"fileName": "lib/util.js",
                          "url": "https://s3-example-bucket-name.s3.amazonaws.com/util.js"}]})
    );
    assert_eq!(r.programs, vec!["node".to_owned()]);
    assert_eq!(
        r.paths,
        vec![DevicePath::with_device_copy(
            "/workingDirectory",
            "/deviceWorkingDirectory"
        )]
    );
    assert_eq!(r.origin(), " (jobs-agent.js `install`)");

    // No workingDirectory: the agent's own, i.e. the plugin's directory.
    let mut doc = install();
    doc.as_object_mut().unwrap().remove("workingDirectory");
    doc.as_object_mut().unwrap().remove("launchCommand");
    doc["autoStart"] = json!("false");
    let r = routed(doc);
    assert_eq!(r.document["workingDirectory"], json!("."));
    assert_eq!(r.document["autoStart"], json!(false));
    assert!(r.programs.is_empty());
}

#[test]
fn a_launch_command_that_needs_a_shell_is_refused() {
    for command in [
        "node app.js > log",
        "start.sh; reboot",
        "echo $HOME",
        "run 'quoted arg'",
        "a && b",
        "ls *.js",
    ] {
        let mut doc = install();
        doc["launchCommand"] = json!(command);
        let reason = refused(doc);
        assert!(
            reason.contains("needs a shell") && reason.contains("allow-list the script"),
            "{command}: {reason}"
        );
    }
    let mut doc = install();
    doc["launchCommand"] = json!("   ");
    assert!(refused(doc).contains("`launchCommand` is empty"));
    let mut doc = install();
    doc["launchCommand"] = json!(["node"]);
    assert!(refused(doc).contains("`launchCommand` must be a string"));
    let mut doc = install();
    doc["autoStart"] = json!("yes");
    assert!(refused(doc).contains("`autoStart` must be true or false"));
    let mut doc = install();
    doc["files"][0]["fileSource"] = json!({"uri": "x"});
    assert!(refused(doc).contains("`files[0].fileSource.url` must be a string"));
}

#[test]
fn jobs_agent_package_operations_map_one_to_one() {
    for (from, to) in [
        ("start", "start-package"),
        ("stop", "stop-package"),
        ("restart", "restart-package"),
        ("systemStatus", "package-status"),
    ] {
        let r = routed(json!({"operation": from, "packageName": "p"}));
        assert_eq!(r.operation, to);
        assert_eq!(r.document, json!({"operation": to, "packageName": "p"}));
        assert!(r.paths.is_empty() && r.programs.is_empty());
    }
    // jobs-agent.js's reboot is jobhost's own.
    let r = routed(json!({"operation": "reboot"}));
    assert_eq!((r.operation.as_str(), r.shape), ("reboot", Shape::Native));
}

#[test]
fn a_document_of_two_shapes_is_refused_with_both() {
    let mut doc = sample();
    doc["steps"] =
        json!([{"action": {"name": "x", "type": "runHandler", "input": {"handler": "reboot.sh"}}}]);
    let reason = refused(doc);
    assert!(
        reason.contains("matches 2 document shapes")
            && reason.contains("AWS IoT Device Client 1.0")
            && reason.contains("the reference architecture's `download`")
            && reason.contains("does not guess"),
        "{reason}"
    );
    let reason = refused(json!({"operation": "echo", "version": "1.0", "steps": []}));
    assert!(
        reason.contains("AWS IoT Device Client 1.0") && reason.contains("native"),
        "{reason}"
    );
    let reason = refused(json!({"operation": "reboot.sh", "steps": []}));
    assert!(reason.contains("pre-1.0"), "{reason}");
}

#[test]
fn a_refused_jobs_agent_document_reports_that_agents_error_fields() {
    let reason =
        "`launchCommand` \"a && b\" needs a shell (it contains '&'), and jobhost runs no shell";
    let details = failure_details(Some(&json!({"operation": "install"})), reason);
    assert_eq!(details.get("operation"), Some("install"));
    assert_eq!(details.get("errorCode"), Some("ERR_UNEXPECTED"));
    let message = details.get("errorMessage").unwrap();
    assert_eq!(message.chars().count(), 64);
    assert!(message.ends_with("...") && reason.starts_with(&message[..61]));
    let short = failure_details(Some(&json!({"operation": "stop"})), "no plugin");
    assert_eq!(short.get("errorMessage"), Some("no plugin"));
    // Any other document: nothing beside the reason.
    assert!(failure_details(Some(&json!({"operation": "echo"})), reason).is_empty());
    assert!(failure_details(None, reason).is_empty());
}

/// The packages plugin hands `launchCommand` to systemd-run, out of the
/// host allow-list's sight: a native `install-package` document's program
/// is checked as a translated one's, and its device directory is the
/// host's to write.
#[test]
fn a_native_install_package_document_is_bound_like_a_translated_one() {
    let r = routed(json!({"operation": "install-package", "packageName": "p",
        "workingDirectory": "/packages/p", "deviceWorkingDirectory": "/etc",
        "launchCommand": ["/bin/sh", "-c", "id"], "files": []}));
    assert_eq!(r.shape, Shape::Native);
    assert_eq!(r.programs, vec!["/bin/sh".to_owned()]);
    assert_eq!(
        r.paths,
        vec![DevicePath::with_device_copy(
            "/workingDirectory",
            "/deviceWorkingDirectory"
        )]
    );
    assert_eq!(r.document.get("deviceWorkingDirectory"), None);
    for bad in [
        json!("node app.js"),
        json!([]),
        json!([1]),
        json!(["node", 2]),
    ] {
        let reason = refused(json!({"operation": "install-package", "launchCommand": bad}));
        assert!(
            reason.contains("must be a non-empty array of strings"),
            "{reason}"
        );
    }
}
