//! Routing and Device Client translation. The managed-template documents
//! below are AWS's (job-templates-managed.md), as the service delivers them
//! once `${aws:iot:parameter:…}` are substituted (unset optional parameters
//! become ""); `jobhost-fleet`'s templates module produces the same.
#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

pub(super) fn routed(document: Value) -> Routed {
    route(&document, &Handlers::new()).unwrap_or_else(|e| panic!("{document}: {e}"))
}

pub(super) fn refused(document: Value) -> String {
    match route(&document, &Handlers::new()) {
        Ok(r) => panic!("{document} was routed to {r:?}"),
        Err(reason) => reason,
    }
}

/// One runHandler step as every managed template writes it.
fn handler_job(name: &str, handler: &str, args: &[&str]) -> Value {
    json!({"version": "1.0", "steps": [{"action": {
        "name": name, "type": "runHandler",
        "input": {"handler": handler, "args": args, "path": ""},
        "runAsUser": ""}}]})
}

fn command_job(command: &str) -> Value {
    json!({"version": "1.0", "steps": [{"action": {
        "name": "Run-Command", "type": "runCommand",
        "input": {"command": command}, "runAsUser": ""}}]})
}

#[test]
fn native_documents_pass_unchanged() {
    let doc = json!({"operation": "echo", "message": "hi", "version": "2.0", "steps": 3});
    let r = routed(doc.clone());
    assert_eq!(r.operation, "echo");
    assert_eq!(r.document, doc);
    assert_eq!(r.shape, Shape::Native);
    assert_eq!(r.origin(), "");

    let reason = refused(json!({"message": "no operation"}));
    assert!(reason.contains("no string `operation` field"), "{reason}");
    let reason = refused(json!(["operation"]));
    assert!(reason.contains("no string `operation` field"), "{reason}");
}

#[test]
fn every_managed_template_routes_to_its_operation() {
    let cases = [
        (
            handler_job(
                "Download-File",
                "download-file.sh",
                &["https://h/fw.bin", "/downloads/fw.bin"],
            ),
            "download-file",
            json!({"operation": "download-file", "url": "https://h/fw.bin",
                   "destination": "/downloads/fw.bin", "allowUnverified": true}),
        ),
        (
            json!({"version": "1.0", "steps": [{"action": {"name": "Reboot", "type": "runHandler",
                "input": {"handler": "reboot.sh", "path": ""}, "runAsUser": ""}}]}),
            "reboot",
            json!({"operation": "reboot"}),
        ),
        (
            handler_job(
                "Install-Application",
                "install-packages.sh",
                &["lftp dos2unix"],
            ),
            "install-packages",
            json!({"operation": "install-packages", "packages": "lftp dos2unix"}),
        ),
        (
            handler_job("Remove-Application", "remove-packages.sh", &["lftp"]),
            "remove-packages",
            json!({"operation": "remove-packages", "packages": "lftp"}),
        ),
        (
            handler_job("Start-Application", "start-services.sh", &["nginx cron"]),
            "start-application",
            json!({"operation": "start-application", "services": "nginx cron"}),
        ),
        (
            handler_job("Stop-Application", "stop-services.sh", &["nginx"]),
            "stop-application",
            json!({"operation": "stop-application", "services": "nginx"}),
        ),
        (
            handler_job("Restart-Application", "restart-services.sh", &["nginx"]),
            "restart-application",
            json!({"operation": "restart-application", "services": "nginx"}),
        ),
        (
            command_job("/bin/echo,hello"),
            "run-command",
            json!({"operation": "run-command", "command": ["/bin/echo", "hello"]}),
        ),
    ];
    for (document, operation, expected) in cases {
        let r = routed(document.clone());
        assert_eq!(r.operation, operation, "{document}");
        assert_eq!(r.document, expected, "{document}");
    }
    let r = routed(handler_job("Install", "install-packages.sh", &["a"]));
    assert_eq!(r.origin(), " (Device Client handler `install-packages.sh`)");
}

#[test]
fn a_third_download_argument_is_the_sha256_and_is_verified() {
    let sha = "ab".repeat(32);
    let r = routed(handler_job(
        "Download-File",
        "download-file.sh",
        &["https://h/f", "/d/f", &sha],
    ));
    assert_eq!(
        r.document,
        json!({"operation": "download-file", "url": "https://h/f", "destination": "/d/f", "sha256": sha})
    );
    for args in [
        vec!["https://h/f"],
        vec!["u", "d", ""],
        vec!["u", "d", "s", "x"],
    ] {
        let reason = refused(handler_job("Download-File", "download-file.sh", &args));
        assert!(
            reason.starts_with(
                "steps[0]: download-file.sh takes the arguments [downloadUrl, filePath]"
            ),
            "{args:?}: {reason}"
        );
    }
}

#[test]
fn argument_counts_are_checked() {
    let reason = refused(handler_job("Reboot", "reboot.sh", &["now"]));
    assert_eq!(reason, "steps[0]: reboot.sh takes no arguments; 1 given");
    let reason = refused(handler_job("Install", "install-packages.sh", &["a", "b"]));
    assert!(
        reason
            .contains("install-packages.sh takes one argument, the space-separated list; 2 given"),
        "{reason}"
    );
    let reason = refused(handler_job("Start", "start-services.sh", &[" "]));
    assert!(
        reason.contains("the services argument is empty"),
        "{reason}"
    );
}

#[test]
fn the_old_schema_is_one_handler_step() {
    let r = routed(
        json!({"operation": "install-packages.sh", "args": ["lftp dos2unix"],
                          "path": "default", "allowStdErr": 2}),
    );
    assert_eq!(r.operation, "install-packages");
    assert_eq!(
        r.document,
        json!({"operation": "install-packages", "packages": "lftp dos2unix"})
    );
    let reason = refused(json!({"operation": "reboot.sh", "args": "now"}));
    assert_eq!(reason, "`args` must be an array of strings");
}

#[test]
fn unknown_handlers_are_refused_with_what_is_known() {
    let reason = refused(handler_job("Update", "firmware-update.sh", &["x"]));
    assert!(
        reason.starts_with("steps[0]: unknown Device Client handler `firmware-update.sh`: jobhost knows download-file.sh, install-packages.sh, reboot.sh,"),
        "{reason}"
    );
    assert!(reason.contains("[device_client] handlers"), "{reason}");
}

#[test]
fn operator_handlers_map_to_operations_with_their_args() {
    let extra: Handlers = [
        ("my-update.sh".to_owned(), "my-update".to_owned()),
        ("reboot.sh".to_owned(), "my-reboot".to_owned()),
    ]
    .into();
    let r = route(
        &handler_job("Update", "my-update.sh", &["1.2", "--fast"]),
        &extra,
    )
    .unwrap();
    assert_eq!(r.operation, "my-update");
    assert_eq!(
        r.document,
        json!({"operation": "my-update", "args": ["1.2", "--fast"]})
    );
    // An operator's mapping wins over the built-in one.
    let r = route(&json!({"operation": "reboot.sh"}), &extra).unwrap();
    assert_eq!(r.document, json!({"operation": "my-reboot", "args": []}));
    // The old schema knows operator handlers too.
    let r = route(&json!({"operation": "my-update.sh", "args": ["2"]}), &extra).unwrap();
    assert_eq!(r.operation, "my-update");
    let reason = route(&handler_job("X", "x.sh", &[]), &extra).unwrap_err();
    assert!(reason.contains("my-update.sh"), "{reason}");
}

#[test]
fn one_action_per_job() {
    let step = |name: &str| {
        json!({"action": {"name": name, "type": "runHandler",
                                              "input": {"handler": "reboot.sh"}}})
    };
    let reason = refused(json!({"version": "1.0", "steps": [step("A"), step("B")]}));
    assert_eq!(
        reason,
        "jobhost runs one operation per job, and this document has 2 actions \
         (steps[0] `A` (reboot.sh), steps[1] `B` (reboot.sh)): create one job per action"
    );
    let reason = refused(
        json!({"version": "1.0", "steps": [step("A")], "finalStep": {"action": {
        "name": "cleanup", "type": "runCommand", "input": {"command": "rm,-rf,/tmp/x"}}}}),
    );
    assert!(
        reason.contains("2 actions (steps[0] `A` (reboot.sh), finalStep `cleanup` (runCommand))"),
        "{reason}"
    );
}

#[test]
fn malformed_documents_get_a_precise_reason() {
    let action = |a: Value| json!({"version": "1.0", "steps": [{"action": a}]});
    let cases = [
        (
            json!({"version": "1.0"}),
            "the Device Client job document has no `steps`",
        ),
        (
            json!({"version": "1.0", "steps": {}}),
            "`steps` must be an array",
        ),
        (json!({"version": "1.0", "steps": []}), "`steps` is empty"),
        (json!({"steps": [{}]}), "needs \"version\": \"1.0\""),
        (
            json!({"version": 1, "steps": []}),
            "`version` must be the string \"1.0\", not 1",
        ),
        (
            json!({"version": "2.0", "steps": []}),
            "version \"2.0\" is not supported",
        ),
        (
            json!({"version": "1.0", "steps": [{"name": "x"}]}),
            "steps[0] must be an object with an `action` object",
        ),
        (
            action(json!({"type": "runHandler", "input": {"handler": "reboot.sh"}})),
            "steps[0].action.name must be a non-empty string",
        ),
        (
            action(json!({"name": "x", "type": "runScript", "input": {}})),
            "steps[0].action.type `runScript` is not supported (runHandler or runCommand)",
        ),
        (
            action(json!({"name": "x", "input": {}})),
            "steps[0].action.type must be",
        ),
        (
            action(json!({"name": "x", "type": "runHandler"})),
            "steps[0].action.input must be an object",
        ),
        (
            action(json!({"name": "x", "type": "runHandler", "input": {"handler": ""}})),
            "steps[0].action.input.handler must be a non-empty string",
        ),
        (
            action(
                json!({"name": "x", "type": "runHandler", "input": {"handler": "reboot.sh", "args": [1]}}),
            ),
            "steps[0].action.input.args must be an array of strings",
        ),
        (
            action(json!({"name": "x", "type": "runCommand", "input": {"command": ["/bin/ls"]}})),
            "steps[0].action.input.command must be a non-empty string",
        ),
    ];
    for (document, expected) in cases {
        let reason = refused(document.clone());
        assert!(
            reason.contains(expected),
            "{document}: {reason:?} lacks {expected:?}"
        );
    }
}

#[test]
fn unsubstituted_parameters_are_refused_where_they_matter() {
    let reason = refused(handler_job(
        "Download-File",
        "download-file.sh",
        &["https://h/f", "${aws:iot:parameter:filePath}"],
    ));
    assert!(
        reason.starts_with("template parameter `filePath` was not substituted"),
        "{reason}"
    );
    let reason = refused(command_job("${aws:iot:parameter:command}"));
    assert!(reason.contains("`command` was not substituted"), "{reason}");
    let reason =
        refused(json!({"operation": "echo", "nested": {"m": ["x ${aws:iot:parameter:msg} y"]}}));
    assert!(reason.contains("`msg` was not substituted"), "{reason}");

    // runAsUser and path are never used: left as AWS's text, they are harmless.
    let r = routed(
        json!({"version": "1.0", "steps": [{"action": {"name": "Reboot",
        "type": "runHandler",
        "input": {"handler": "reboot.sh", "path": "${aws:iot:parameter:pathToHandler}"},
        "runAsUser": "${aws:iot:parameter:runAsUser}"}}]}),
    );
    assert_eq!(r.operation, "reboot");
}

#[test]
fn commands_split_as_the_device_client_splits_them() {
    let argv = |command: &str| {
        routed(command_job(command)).document["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(argv("/bin/echo,a\\,b,,c"), ["/bin/echo", "a,b", "c"]);
    assert_eq!(argv("echo, spaced ,x"), ["echo", " spaced ", "x"]);
    assert_eq!(argv("bash,-c,ls | wc -l"), ["bash", "-c", "ls | wc -l"]);
    assert_eq!(argv("a\\b,c\\"), ["a\\b", "c\\"]);
    let reason = refused(command_job(",,,"));
    assert_eq!(
        reason,
        "steps[0].action.input.command: the command is empty"
    );
    let reason = refused(command_job("echo ok"));
    assert!(
        reason.contains("the program `echo ok` contains whitespace"),
        "{reason}"
    );
}

#[test]
fn handler_mappings_are_checked() {
    assert!(check_handler_mapping("my-update.sh", "my-update").is_ok());
    for (handler, operation, expected) in [
        ("", "x", "must be a file name"),
        ("../x.sh", "x", "must be a file name"),
        ("a b.sh", "x", "must be a file name"),
        ("x.sh", "", "must be 1-64 characters"),
        ("x.sh", "a/b", "must be 1-64 characters"),
        (
            "x.sh",
            "install-plugin",
            "cannot map to the built-in operation install-plugin",
        ),
    ] {
        let err = check_handler_mapping(handler, operation).unwrap_err();
        assert!(err.contains(expected), "{handler} {operation}: {err}");
    }
}

#[test]
fn the_agent_config_maps_extra_handlers_and_checks_them() {
    let parse = |table: &str| {
        let text = format!(
            "thing_name = \"t\"\nstate_dir = \"/s\"\nplugin_dir = \"/p\"\n\
             [broker]\nhost = \"h\"\nport = 1\n{table}"
        );
        let raw: crate::config::RawConfig = toml::from_str(&text).unwrap();
        crate::config::Config::from_raw(raw, std::path::Path::new("/"))
    };
    let config =
        parse("[device_client]\nhandlers = { \"my-update.sh\" = \"my-update\" }\n").unwrap();
    assert_eq!(
        config.device_client_handlers,
        Handlers::from([("my-update.sh".to_owned(), "my-update".to_owned())])
    );
    assert!(parse("").unwrap().device_client_handlers.is_empty());
    let err = parse("[device_client]\nhandlers = { \"x.sh\" = \"remove-plugin\" }\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "[device_client] handlers: x.sh cannot map to the built-in operation remove-plugin"
        ),
        "{err}"
    );
}
