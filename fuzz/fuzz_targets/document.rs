//! Job documents: `document::route` (native documents; the AWS IoT Device
//! Client schema of the managed templates, the reference architecture's
//! `download` and jobs-agent.js's documents translated into native ones)
//! on arbitrary JSON, with one operator-mapped handler configured.
//!
//! Asserts: no panic; routing is deterministic; a routed document is a
//! JSON object that serialises and parses back to itself (floats to within
//! serde_json's float printing, see below), names its
//! operation in `operation`, and keeps no `${aws:iot:parameter:…}`; a
//! translated document maps to a built-in or configured handler's
//! operation (`run-command` for a runCommand step), the reference
//! architecture's to `download-file`, jobs-agent.js's to the packages
//! plugin's, never to a reserved one (`install-plugin`, `remove-plugin`,
//! `shutdown`), and a native one is passed on unchanged (but for the
//! device directory of an `install-package`, which only the host writes).
#![no_main]

use jobhost::document::{
    route, Handlers, Shape, BUILTIN_HANDLERS, JOBS_AGENT_OPERATIONS, PARAMETER_PREFIX,
};
use jobhost::trust::RESERVED_OPERATIONS;
use jobhost_fuzz::has_float;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

fn extra() -> &'static Handlers {
    static EXTRA: OnceLock<Handlers> = OnceLock::new();
    EXTRA.get_or_init(|| Handlers::from([("my-update.sh".to_owned(), "my-update".to_owned())]))
}

fn no_parameter(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.contains(PARAMETER_PREFIX),
        Value::Array(items) => items.iter().all(no_parameter),
        Value::Object(map) => map.values().all(no_parameter),
        _ => true,
    }
}

fuzz_target!(
    init: {
        jobhost_fuzz::seeds(make_seeds);
    },
    |data: &[u8]| {
        let Ok(document) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let routed = route(&document, extra());
        assert_eq!(routed, route(&document, extra()), "routing is not deterministic");
        let Ok(routed) = routed else {
            return;
        };
        let text = routed.document.to_string();
        let back: Value = serde_json::from_str(&text).expect("the routed document is JSON");
        // serde_json without its `float_roundtrip` feature may read a
        // float's printed form back one ulp off: exact for the rest.
        if !has_float(&routed.document) {
            assert_eq!(back, routed.document);
        }
        assert!(routed.document.is_object(), "{text}");
        assert_eq!(
            routed.document.get("operation").and_then(Value::as_str),
            Some(routed.operation.as_str()),
            "{text}"
        );
        assert!(no_parameter(&routed.document), "a template parameter got through: {text}");
        assert!(
            !RESERVED_OPERATIONS.contains(&routed.operation.as_str())
                || routed.shape == Shape::Native,
            "translated into the built-in {}",
            routed.operation
        );
        match &routed.shape {
            // Passed on unchanged, but for the device directory of an
            // install-package document, which only the host may write.
            Shape::Native => {
                let mut expected = document.clone();
                if routed.operation == "install-package" {
                    if let Some(map) = expected.as_object_mut() {
                        map.remove("deviceWorkingDirectory");
                    }
                }
                assert_eq!(routed.document, expected, "a native document was changed");
                assert_eq!(
                    document.get("operation").and_then(Value::as_str),
                    Some(routed.operation.as_str())
                );
            }
            // runCommand names no handler.
            Shape::DeviceClient { handler: None } => assert_eq!(routed.operation, "run-command"),
            Shape::DeviceClient {
                handler: Some(handler),
            } => {
                let mapped = BUILTIN_HANDLERS
                    .iter()
                    .any(|(h, op)| h == handler && *op == routed.operation)
                    || extra().get(handler) == Some(&routed.operation);
                assert!(mapped, "{handler} routed to {}", routed.operation);
            }
            Shape::ReferenceArchitecture => assert_eq!(routed.operation, "download-file"),
            Shape::JobsAgent { operation } => {
                assert!(JOBS_AGENT_OPERATIONS.contains(&operation.as_str()), "{operation}");
                assert!(routed.operation.ends_with("-package") || routed.operation == "package-status");
            }
        }
    }
);

fn make_seeds() -> Vec<(String, Vec<u8>)> {
    // The first-party plugins' example documents, then Device Client
    // documents as the AWS managed templates write them (with their
    // parameters substituted, and one left in).
    let mut out = Vec::new();
    for dir in std::fs::read_dir(jobhost_fuzz::repo_root().join("plugins"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = dir.file_name().to_string_lossy().into_owned();
        out.extend(jobhost_fuzz::files(
            &format!("plugins/{name}/examples"),
            ".json",
            &format!("{name}-"),
        ));
    }
    let step = |name: &str, handler: &str, args: &[&str]| {
        serde_json::json!({"version": "1.0", "steps": [{"action": {
            "name": name, "type": "runHandler",
            "input": {"handler": handler, "args": args, "path": "default"},
            "runAsUser": "root"}}]})
    };
    let docs = [
        (
            "reference-download",
            serde_json::json!({"operation": "download", "version": "1.0", "directory": "/installs",
                "files": {"fileName": "sample_file", "url": "https://h/sample_file"}}),
        ),
        (
            "jobs-agent-install",
            serde_json::json!({"operation": "install", "packageName": "app",
                "workingDirectory": "./app", "launchCommand": "node app.js", "autoStart": "true",
                "files": [{"fileName": "app.js", "fileSource": {"url": "https://h/app.js"},
                           "checksum": {"inline": {"value": "ab"}, "hashAlgorithm": "SHA256"}}]}),
        ),
        (
            "jobs-agent-start",
            serde_json::json!({"operation": "start", "packageName": "app"}),
        ),
        (
            "dc-download",
            step(
                "Download-File",
                "download-file.sh",
                &["https://h/fw.bin", "/downloads/fw.bin"],
            ),
        ),
        (
            "dc-download-sha",
            step(
                "Download-File",
                "download-file.sh",
                &["https://h/fw.bin", "/d/fw", "00ff"],
            ),
        ),
        ("dc-reboot", step("Reboot", "reboot.sh", &[])),
        (
            "dc-install-packages",
            step(
                "Install-Packages",
                "install-packages.sh",
                &["lftp dos2unix"],
            ),
        ),
        (
            "dc-restart-services",
            step("Restart-Services", "restart-services.sh", &["nginx cron"]),
        ),
        (
            "dc-mapped",
            step("Update", "my-update.sh", &["1.2", "--fast"]),
        ),
        (
            "dc-parameter",
            step(
                "Download-File",
                "download-file.sh",
                &["${aws:iot:parameter:downloadUrl}", "/d/f"],
            ),
        ),
        (
            "dc-run-command",
            serde_json::json!({"version": "1.0", "steps": [{"action": {
            "name": "Run-Command", "type": "runCommand",
            "input": {"command": "/bin/echo,hello\\, world"}, "runAsUser": "root"}}]}),
        ),
        (
            "dc-old-schema",
            serde_json::json!({"operation": "install-packages.sh", "args": ["lftp"]}),
        ),
        (
            "dc-final-step",
            serde_json::json!({"version": "1.0",
            "steps": [{"action": {"name": "Reboot", "type": "runHandler", "input": {"handler": "reboot.sh"}}}],
            "finalStep": {"action": {"name": "Clean", "type": "runHandler", "input": {"handler": "reboot.sh"}}}}),
        ),
    ];
    for (name, doc) in docs {
        out.push((format!("{name}.json"), doc.to_string().into_bytes()));
    }
    // Found by this target: a float serde_json reads, prints and reads
    // back one ulp off (kept as written: printing it would round it).
    let float = format!(
        r#"{{"operation": "inson", "x": 3111111110{}2065742635}}"#,
        "0".repeat(110)
    );
    out.push(("native-long-float.json".into(), float.into_bytes()));
    out
}
