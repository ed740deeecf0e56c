//! aws-iot-device-sdk-js `examples/jobs-agent.js` documents, translated
//! into documents of the `packages` plugin (plugins/packages), which does
//! what that agent does under jobhost's rules.
//!
//! | jobs-agent.js | jobhost operation |
//! |---|---|
//! | `install` (packageName, workingDirectory, files[], launchCommand, autoStart) | `install-package` |
//! | `start` / `stop` / `restart` (packageName) | `start-package` / `stop-package` / `restart-package` |
//! | `systemStatus` | `package-status` |
//! | `reboot` | `reboot`, jobhost's own (not translated: same name, same job) |
//!
//! Decisions, and why:
//!
//! - **No shell.** jobs-agent.js hands `launchCommand` to a shell. jobhost
//!   splits it at whitespace into argv and REJECTS a command that needs a
//!   shell to mean what it says (quotes, pipes, `;`, `$`, globs, …): the
//!   operator wraps such a command in a script and allow-lists that. The
//!   program must be on the packages plugin's run-command allow-list
//!   ([`super::bind`]); otherwise the job is REJECTED saying so, before
//!   anything is downloaded — for a native `install-package` document too
//!   ([`install_package_needs`]).
//! - **Directories are device paths**, bound to the plugin's granted
//!   directories: `workingDirectory` must lie inside one; a relative one
//!   (or none, jobs-agent.js's own working directory) is taken inside the
//!   plugin's directory. The plugin gets both the path it opens
//!   (`workingDirectory`) and the device's (`deviceWorkingDirectory`, where
//!   the package's process runs).
//! - **`files[].fileSource.url`** becomes `files[].url`, beside the file's
//!   `checksum` and `codesign`, so the host's download import finds the
//!   signature of the URL it fetches beside it.
//! - **`autoStart`** is a boolean; the strings `"true"` and `"false"` (the
//!   agent's own record writes `"true"`) are read as such, not by
//!   JavaScript's truthiness, in which `"false"` is true.
//! - Everything else (`packageName` checks, checksum algorithms, the error
//!   codes jobs-agent.js reports) is the plugin's, so that its statusDetails
//!   keep that agent's field names.

use super::{check_substituted, DevicePath, Handlers, Routed, Shape};
use jobhost_protocol::StatusDetails;
use serde_json::{Map, Value};

/// The jobs-agent.js operations this module translates.
pub const OPERATIONS: &[&str] = &["install", "start", "stop", "restart", "systemStatus"];

/// How long jobs-agent.js lets an `errorMessage` be (its
/// `maxStatusDetailLength`); the whole text stays in `reason`.
const MAX_ERROR_MESSAGE_CHARS: usize = 64;

/// The statusDetails of a job the agent itself refuses or fails (the
/// plugin reports its own): for a jobs-agent.js document, the fields that
/// agent reports with a failure, so its dashboards show the reason;
/// nothing for any other document.
pub fn failure_details(document: Option<&Value>, reason: &str) -> StatusDetails {
    let mut details = StatusDetails::new();
    let operation = document
        .and_then(|d| d.get("operation"))
        .and_then(Value::as_str)
        .filter(|op| OPERATIONS.contains(op));
    if let Some(operation) = operation {
        details.insert("operation", operation);
        details.insert("errorCode", "ERR_UNEXPECTED");
        details.insert("errorMessage", &truncate(reason));
    }
    details
}

/// jobs-agent.js's `errorToString`: at most 64 characters, the last three
/// `...` when cut.
fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR_MESSAGE_CHARS {
        return text.to_owned();
    }
    let kept: String = text.chars().take(MAX_ERROR_MESSAGE_CHARS - 3).collect();
    format!("{kept}...")
}

/// Characters that only mean something to a shell.
const SHELL_CHARACTERS: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', ']', '{', '}',
    '~', '#', '!', '\n', '\r',
];

pub(super) fn claims(object: &Map<String, Value>, _: &Handlers) -> bool {
    matches!(object.get("operation"), Some(Value::String(op)) if OPERATIONS.contains(&op.as_str()))
}

pub(super) fn translate(object: &Map<String, Value>, _: &Handlers) -> Result<Routed, String> {
    let from = object
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operation = match from {
        "install" => "install-package",
        "start" => "start-package",
        "stop" => "stop-package",
        "restart" => "restart-package",
        _ => "package-status",
    };
    let mut document = object.clone();
    document.insert("operation".into(), Value::from(operation));
    let shape = Shape::JobsAgent {
        operation: from.to_owned(),
    };
    if from == "install" {
        install(&mut document)?;
    }
    let document = Value::Object(document);
    check_substituted(&document)?;
    Ok(Routed::translated(operation, document, shape))
}

/// What an `install-package` document — translated or written natively —
/// needs of the packages plugin's grants. The plugin hands `launchCommand`
/// to `systemd-run`, so the host's allow-list never sees that program:
/// it is checked here against the plugin's run-command grant, whoever
/// wrote the document. `deviceWorkingDirectory` is the host's to write,
/// from the grant, never the document's.
pub(super) fn install_package_needs(routed: &mut Routed) -> Result<(), String> {
    if routed.operation != "install-package" {
        return Ok(());
    }
    let Some(document) = routed.document.as_object_mut() else {
        return Ok(());
    };
    document.remove("deviceWorkingDirectory");
    match document.get("launchCommand") {
        None => {}
        Some(Value::Array(argv)) => match argv.first() {
            Some(Value::String(program)) if argv.iter().all(Value::is_string) => {
                routed.programs.push(program.clone());
            }
            _ => return Err("`launchCommand` must be a non-empty array of strings".into()),
        },
        Some(_) => return Err("`launchCommand` must be a non-empty array of strings".into()),
    }
    routed.paths.push(DevicePath::with_device_copy(
        "/workingDirectory",
        "/deviceWorkingDirectory",
    ));
    Ok(())
}

/// The `install` fields jobhost reads differently from jobs-agent.js.
fn install(document: &mut Map<String, Value>) -> Result<(), String> {
    match document.get("workingDirectory") {
        None => {
            document.insert("workingDirectory".into(), Value::from("."));
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err("`workingDirectory` must be a string".into()),
    }
    if let Some(Value::Array(files)) = document.get_mut("files") {
        for (i, file) in files.iter_mut().enumerate() {
            let Some(file) = file.as_object_mut() else {
                continue;
            };
            let url = match file.get("fileSource") {
                None => continue,
                Some(source) => match source.get("url") {
                    Some(Value::String(url)) => url.clone(),
                    _ => return Err(format!("`files[{i}].fileSource.url` must be a string")),
                },
            };
            file.remove("fileSource");
            file.insert("url".into(), Value::from(url));
        }
    }
    if let Some(command) = document.get("launchCommand") {
        let Value::String(command) = command else {
            return Err("`launchCommand` must be a string".into());
        };
        let argv = split_launch_command(command)?;
        document.insert("launchCommand".into(), Value::from(argv));
    }
    match document.get("autoStart") {
        None | Some(Value::Bool(_)) => {}
        Some(Value::String(s)) if s == "true" || s == "false" => {
            let on = s == "true";
            document.insert("autoStart".into(), Value::Bool(on));
        }
        Some(other) => {
            return Err(format!(
            "`autoStart` must be true or false (or the strings \"true\" / \"false\"), not {other}"
        ))
        }
    }
    Ok(())
}

/// `launchCommand` as argv: whitespace-separated words, none of them
/// needing a shell.
pub(super) fn split_launch_command(command: &str) -> Result<Vec<String>, String> {
    if let Some(c) = command.chars().find(|c| SHELL_CHARACTERS.contains(c)) {
        return Err(format!(
            "`launchCommand` {command:?} needs a shell (it contains {c:?}), and jobhost runs no \
             shell: put the command in a script, allow-list the script and launch that"
        ));
    }
    let argv: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    if argv.is_empty() {
        return Err("`launchCommand` is empty".into());
    }
    Ok(argv)
}
