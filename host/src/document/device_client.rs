//! The AWS IoT Device Client job document schema (its `source/jobs/
//! JobDocument.cpp`), translated into native documents.
//!
//! ```json
//! {"version": "1.0",
//!  "steps": [{"action": {"name": "Download-File", "type": "runHandler",
//!     "input": {"handler": "download-file.sh",
//!               "args": ["https://…/fw.bin", "/downloads/fw.bin"],
//!               "path": "default"},
//!     "runAsUser": "root"}}]}
//! ```
//!
//! | Device Client | jobhost operation | native document |
//! |---|---|---|
//! | `download-file.sh` `[url, filePath]` | `download-file` | `{"url", "destination", "allowUnverified": true}` |
//! | `download-file.sh` `[url, filePath, sha256]` | `download-file` | `{"url", "destination", "sha256"}` |
//! | `reboot.sh` | `reboot` | `{}` |
//! | `install-packages.sh` / `remove-packages.sh` `[packages]` | `install-packages` / `remove-packages` | `{"packages": "<as given>"}` |
//! | `start-` / `stop-` / `restart-services.sh` `[services]` | `start-` / `stop-` / `restart-application` | `{"services": "<as given>"}` |
//! | `runCommand` `input.command` | `run-command` | `{"command": [argv]}` |
//! | a handler in `[device_client] handlers` | its operation | `{"args": […]}` |
//!
//! (every native document also carries its `operation`.)
//!
//! Decisions, and why:
//!
//! - **Downloads without a checksum.** AWS-Download-File has no checksum
//!   parameter, and the download-file plugin refuses a download without
//!   one unless told `allowUnverified`. Translated documents say so: their
//!   integrity then rests on the HTTPS (presigned) URL, exactly as with the
//!   Device Client's own handler. A third argument is taken as the sha256
//!   and then verified. The plugin reports the written file's sha256
//!   either way.
//! - **`runCommand`** is split here, with the Device Client's own rule
//!   (commas separate arguments, `\,` is a literal comma, empty pieces are
//!   dropped, the program name may not contain whitespace), into the argv
//!   the run-command plugin accepts, so a command means on jobhost what it
//!   meant on the Device Client.
//! - **`runAsUser`, `input.path`, `allowStdErr`, `includeStdOut`,
//!   `conditions`** are ignored (logged at debug): jobhost never executes a
//!   handler file and never switches user — the plugin runs sandboxed with
//!   only what the operator granted it; run-command always reports the end
//!   of stdout; the Device Client never evaluates `conditions` either.
//! - **One action per job.** jobhost runs one operation per execution, so a
//!   document with several steps, or with a `finalStep`, is REJECTED with
//!   the list of its actions rather than running part of it (a skipped
//!   clean-up `finalStep` would go unnoticed).
//! - **Unknown handlers** are REJECTED with the handlers this device knows.

use super::{check_substituted, DevicePath, Handlers, Routed, Shape};
use crate::trust::RESERVED_OPERATIONS;
use serde_json::{json, Map, Value};

/// The Device Client handlers jobhost maps to first-party operations:
/// (handler, operation).
pub const BUILTIN_HANDLERS: &[(&str, &str)] = &[
    ("download-file.sh", "download-file"),
    ("reboot.sh", "reboot"),
    ("install-packages.sh", "install-packages"),
    ("remove-packages.sh", "remove-packages"),
    ("start-services.sh", "start-application"),
    ("stop-services.sh", "stop-application"),
    ("restart-services.sh", "restart-application"),
];

/// The only Device Client schema version AWS documents.
const VERSION: &str = "1.0";

/// One step's action, as far as jobhost uses it.
enum Action<'a> {
    Handler {
        handler: &'a str,
        args: Vec<&'a str>,
    },
    Command(&'a str),
}

/// One parsed action, with where it was (`steps[0]`) for messages.
struct Step<'a> {
    at: String,
    name: &'a str,
    action: Action<'a>,
}

/// Whether `op` is a Device Client handler this device maps.
pub(super) fn is_handler(op: &str, extra: &Handlers) -> bool {
    extra.contains_key(op) || BUILTIN_HANDLERS.iter().any(|(h, _)| *h == op)
}

/// The 1.0 schema's markers: a `steps` array, or a `version` in a document
/// without a string `operation` (so that `{"version": "1.0"}` alone is
/// told it has no steps rather than no operation).
pub(super) fn claims_steps(object: &Map<String, Value>, _: &Handlers) -> bool {
    let operation = object.get("operation").is_some_and(Value::is_string);
    matches!(object.get("steps"), Some(Value::Array(_)))
        || (!operation && (object.contains_key("version") || object.contains_key("steps")))
}

/// The pre-1.0 schema's marker: `operation` names a handler.
pub(super) fn claims_handler(object: &Map<String, Value>, extra: &Handlers) -> bool {
    matches!(object.get("operation"), Some(Value::String(op)) if is_handler(op, extra))
}

pub(super) fn translate_handler(
    object: &Map<String, Value>,
    extra: &Handlers,
) -> Result<Routed, String> {
    let handler = object
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or_default();
    old_schema(object, handler, extra)
}

/// The pre-1.0 schema: `{"operation": "<handler>", "args": […]}` is one
/// runHandler step, as the Device Client reads it.
fn old_schema(
    object: &Map<String, Value>,
    handler: &str,
    extra: &Handlers,
) -> Result<Routed, String> {
    let args = string_array(object.get("args"), "`args`")?;
    ignored(object, &["path", "allowStdErr", "includeStdOut"]);
    run(
        Step {
            at: "the document".into(),
            name: handler,
            action: Action::Handler { handler, args },
        },
        extra,
    )
}

pub(super) fn translate_steps(
    object: &Map<String, Value>,
    extra: &Handlers,
) -> Result<Routed, String> {
    match object.get("version") {
        Some(Value::String(v)) if v == VERSION => {}
        Some(Value::String(v)) => {
            return Err(format!(
                "Device Client job document version {v:?} is not supported (only \"{VERSION}\")"
            ))
        }
        Some(other) => {
            return Err(format!(
                "`version` must be the string \"{VERSION}\", not {other}"
            ))
        }
        None => {
            return Err(format!(
                "a Device Client job document (it has `steps`) needs \"version\": \"{VERSION}\""
            ))
        }
    }
    ignored(object, &["includeStdOut", "conditions"]);
    let steps = match object.get("steps") {
        None => return Err("the Device Client job document has no `steps`".into()),
        Some(Value::Array(steps)) if steps.is_empty() => {
            return Err("`steps` is empty: the job has nothing to run".into())
        }
        Some(Value::Array(steps)) => steps,
        Some(_) => return Err("`steps` must be an array of {\"action\": …} objects".into()),
    };
    let mut actions = steps
        .iter()
        .enumerate()
        .map(|(i, step)| parse_step(step, format!("steps[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(last) = object.get("finalStep") {
        actions.push(parse_step(last, "finalStep".into())?);
    }
    if actions.len() > 1 {
        let list: Vec<String> = actions.iter().map(describe).collect();
        return Err(format!(
            "jobhost runs one operation per job, and this document has {} actions ({}): \
             create one job per action",
            actions.len(),
            list.join(", ")
        ));
    }
    let step = actions
        .pop()
        .ok_or_else(|| "`steps` is empty: the job has nothing to run".to_owned())?;
    run(step, extra)
}

/// Parses `{"action": {...}}` strictly enough to give a precise reason
/// for every field jobhost uses.
fn parse_step(step: &Value, at: String) -> Result<Step<'_>, String> {
    let Some(action) = step.get("action").and_then(Value::as_object) else {
        return Err(format!("{at} must be an object with an `action` object"));
    };
    let name = match action.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.as_str(),
        _ => return Err(format!("{at}.action.name must be a non-empty string")),
    };
    let Some(input) = action.get("input").and_then(Value::as_object) else {
        return Err(format!("{at}.action.input must be an object"));
    };
    ignored(action, &["runAsUser", "ignoreStepFailure", "allowStdErr"]);
    let action = match action.get("type").and_then(Value::as_str) {
        Some("runHandler") => {
            let handler = match input.get("handler") {
                Some(Value::String(h)) if !h.is_empty() => h.as_str(),
                _ => {
                    return Err(format!(
                        "{at}.action.input.handler must be a non-empty string"
                    ))
                }
            };
            let args = string_array(input.get("args"), &format!("{at}.action.input.args"))?;
            ignored(input, &["path"]);
            Action::Handler { handler, args }
        }
        Some("runCommand") => match input.get("command") {
            Some(Value::String(c)) if !c.is_empty() => Action::Command(c),
            _ => {
                return Err(format!(
                    "{at}.action.input.command must be a non-empty string"
                ))
            }
        },
        Some(other) => {
            return Err(format!(
                "{at}.action.type `{other}` is not supported (runHandler or runCommand)"
            ))
        }
        None => {
            return Err(format!(
                "{at}.action.type must be \"runHandler\" or \"runCommand\""
            ))
        }
    };
    Ok(Step { at, name, action })
}

/// `steps[0] `Download-File` (download-file.sh)`.
fn describe(step: &Step<'_>) -> String {
    let what = match &step.action {
        Action::Handler { handler, .. } => handler,
        Action::Command(_) => "runCommand",
    };
    format!("{} `{}` ({what})", step.at, step.name)
}

/// The translation proper.
fn run(step: Step<'_>, extra: &Handlers) -> Result<Routed, String> {
    match step.action {
        Action::Command(command) => {
            check_substituted(&Value::from(command))?;
            let argv = split_command(command)
                .map_err(|why| format!("{}.action.input.command: {why}", step.at))?;
            Ok(Routed::translated(
                "run-command",
                json!({"operation": "run-command", "command": argv}),
                Shape::DeviceClient { handler: None },
            ))
        }
        Action::Handler { handler, args } => {
            check_substituted(&Value::from(handler))?;
            for arg in &args {
                check_substituted(&Value::from(*arg))?;
            }
            let document = handler_document(handler, &args, extra)
                .map_err(|why| format!("{}: {why}", step.at))?;
            let operation = document["operation"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut routed = Routed::translated(
                &operation,
                document,
                Shape::DeviceClient {
                    handler: Some(handler.to_owned()),
                },
            );
            // The Device Client writes `filePath` where it says, on the
            // device: so does jobhost, inside what the operator granted.
            if handler == "download-file.sh" {
                routed.paths.push(DevicePath::new("/destination"));
            }
            Ok(routed)
        }
    }
}

/// The native document for `handler` with `args` (its `operation` set).
fn handler_document(handler: &str, args: &[&str], extra: &Handlers) -> Result<Value, String> {
    if let Some(operation) = extra.get(handler) {
        return Ok(json!({"operation": operation, "args": args}));
    }
    let Some((_, operation)) = BUILTIN_HANDLERS.iter().find(|(h, _)| *h == handler) else {
        return Err(unknown(handler, extra));
    };
    let count = args.len();
    let document =
        match (handler, args) {
            ("download-file.sh", [url, destination]) => json!({
                "operation": operation, "url": url, "destination": destination,
                // AWS-Download-File has no checksum: see the module docs.
                "allowUnverified": true,
            }),
            ("download-file.sh", [url, destination, sha256]) if !sha256.is_empty() => json!({
                "operation": operation, "url": url, "destination": destination, "sha256": sha256,
            }),
            ("download-file.sh", _) => {
                return Err(format!(
                "download-file.sh takes the arguments [downloadUrl, filePath] and optionally a \
                 sha256 as a third; {count} given{}",
                if count == 3 { " with an empty sha256" } else { "" }
            ))
            }
            ("reboot.sh", []) => json!({"operation": operation}),
            ("reboot.sh", _) => return Err(format!("reboot.sh takes no arguments; {count} given")),
            (_, [list]) => {
                let key = if handler.ends_with("-packages.sh") {
                    "packages"
                } else {
                    "services"
                };
                if list.trim().is_empty() {
                    return Err(format!("{handler}: the {key} argument is empty"));
                }
                json!({"operation": operation, key: list})
            }
            _ => {
                return Err(format!(
                    "{handler} takes one argument, the space-separated list; {count} given"
                ))
            }
        };
    Ok(document)
}

fn unknown(handler: &str, extra: &Handlers) -> String {
    let mut known: Vec<&str> = BUILTIN_HANDLERS.iter().map(|(h, _)| *h).collect();
    known.extend(extra.keys().map(String::as_str));
    known.sort_unstable();
    known.dedup();
    format!(
        "unknown Device Client handler `{handler}`: jobhost knows {} (an operator maps others \
         to an operation in the agent config's [device_client] handlers)",
        known.join(", ")
    )
}

/// The Device Client's runCommand split (`Util::SplitStringByComma` and
/// `JobDocument.cpp`): argv pieces between commas, `\,` a literal comma,
/// empty pieces dropped; the program may not contain whitespace.
fn split_command(command: &str) -> Result<Vec<String>, String> {
    let mut argv = Vec::new();
    let mut piece = String::new();
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                piece.push(',');
                chars.next();
            }
            ',' => {
                if !piece.is_empty() {
                    argv.push(std::mem::take(&mut piece));
                }
            }
            c => piece.push(c),
        }
    }
    if !piece.is_empty() {
        argv.push(piece);
    }
    match argv.first() {
        None => Err("the command is empty".into()),
        Some(program) if program.chars().any(char::is_whitespace) => Err(format!(
            "the program `{program}` contains whitespace: arguments are separated by commas \
             (\"/bin/echo,hello\"), never by spaces"
        )),
        Some(_) => Ok(argv),
    }
}

/// `None`/absent → no arguments; otherwise an array of strings.
fn string_array<'a>(value: Option<&'a Value>, what: &str) -> Result<Vec<&'a str>, String> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| format!("{what} must be an array of strings"))
            })
            .collect(),
        Some(_) => Err(format!("{what} must be an array of strings")),
    }
}

/// Logs (debug) the present fields jobhost deliberately ignores.
fn ignored(object: &Map<String, Value>, keys: &[&str]) {
    for key in keys.iter().filter(|k| object.contains_key(**k)) {
        tracing::debug!(
            target: "document",
            "ignoring Device Client field `{key}`: plugins run sandboxed with the operator's \
             grants, never as a handler file or another user"
        );
    }
}

/// Checks one `[device_client] handlers` entry: a plain file name mapped to
/// a valid operation that is not a built-in (which decides what code runs).
pub fn check_handler_mapping(handler: &str, operation: &str) -> Result<(), String> {
    if handler.is_empty()
        || handler.len() > 255
        || handler.contains('/')
        || handler.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "handler {handler:?} must be a file name (1-255 characters, no `/` or whitespace)"
        ));
    }
    if !(1..=64).contains(&operation.len())
        || !operation
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "operation {operation:?} (for {handler}) must be 1-64 characters of A-Z, a-z, 0-9, \
             `-`, `_` and `.`"
        ));
    }
    if RESERVED_OPERATIONS.contains(&operation) {
        return Err(format!(
            "{handler} cannot map to the built-in operation {operation}"
        ));
    }
    Ok(())
}
