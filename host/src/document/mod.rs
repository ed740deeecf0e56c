//! The job document → (operation, document the plugin gets): one routing
//! table for every document shape a fleet already sends.
//!
//! A fleet that moves to jobhost keeps its jobs. The AWS IoT Jobs service
//! imposes no schema, so each device agent grew its own convention, and
//! [`route`] recognises each of them and translates it into the native
//! document of the signed plugin that does the same thing under jobhost's
//! rules (no shell, no handler scripts, only what the operator granted):
//!
//! | shape | recognised by | runs |
//! |---|---|---|
//! | AWS IoT Device Client 1.0 (AWS managed templates) | a `steps` array, or `version` without a string `operation` | the handler's operation (`device_client`) |
//! | AWS IoT Device Client, pre-1.0 | `operation` names a Device Client handler (`download-file.sh`, …) | the same, as one step |
//! | the AWS IoT Jobs reference architecture | `"operation": "download"` | `download-file` (`reference`) |
//! | aws-iot-device-sdk-js `jobs-agent.js` | `operation` is `install`, `start`, `stop`, `restart` or `systemStatus` | the `packages` plugin (`jobs_agent`) |
//! | native | any other string `operation` (`reboot` included: jobs-agent.js's `reboot` is jobhost's) | that operation, the document unchanged |
//!
//! A document that matches two rows (a string `operation` and a `steps`
//! array, say) is REJECTED with the rows it matched: jobhost never guesses
//! which of two meanings a job had. The names the translated shapes claim
//! (`download`, `install`, …) therefore never reach a plugin as an
//! operation.
//!
//! Translated documents may name device paths and programs, which only the
//! chosen plugin's grants can settle: [`Routed::paths`] and
//! [`Routed::programs`] are bound to them by [`bind`] once the plugin is
//! known.
//!
//! A `${aws:iot:parameter:<name>}` left in what the plugin would get is
//! REJECTED: the service that created the job (AWS IoT, or
//! `jobhost-fleet`) substitutes managed-template parameters before any
//! device sees the document, so one that is still there means the job was
//! created from the template's text by hand, and running it would download
//! to, or run, a literal placeholder.

mod bind;
mod device_client;
mod jobs_agent;
mod reference;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod translated_tests;

pub use bind::{bind, DevicePath, Target};
pub use device_client::{check_handler_mapping, BUILTIN_HANDLERS};
pub use jobs_agent::{failure_details, OPERATIONS as JOBS_AGENT_OPERATIONS};

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Extra Device Client handlers the operator maps to operations
/// (`[device_client] handlers` in the agent config): handler file name →
/// operation. They take precedence over [`BUILTIN_HANDLERS`].
pub type Handlers = BTreeMap<String, String>;

/// How AWS writes a managed template's parameter in its document.
pub const PARAMETER_PREFIX: &str = "${aws:iot:parameter:";

/// Which convention a document was written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// jobhost's own `{"operation": …}`.
    Native,
    /// The AWS IoT Device Client's schema; `handler` is the `runHandler`
    /// file the step named (`None` for `runCommand`).
    DeviceClient {
        /// e.g. `download-file.sh`.
        handler: Option<String>,
    },
    /// The AWS IoT Jobs reference architecture's `download` document.
    ReferenceArchitecture,
    /// aws-iot-device-sdk-js `jobs-agent.js`; `operation` as it wrote it.
    JobsAgent {
        /// e.g. `install`.
        operation: String,
    },
}

/// What to run: the operation that selects the plugin and the document it
/// gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// The operation (a plugin's manifest or a built-in names it).
    pub operation: String,
    /// The native document handed to the plugin.
    pub document: Value,
    /// The convention it was written in.
    pub shape: Shape,
    /// Places in `document` holding a device path, to be expressed in the
    /// plugin's own view of its granted directories ([`bind`]).
    pub paths: Vec<DevicePath>,
    /// Programs the document will have the plugin run, which must be on
    /// its run-command allow-list ([`bind`]).
    pub programs: Vec<String>,
}

impl Routed {
    /// A native document, passed on unchanged.
    fn native(operation: &str, document: &Value) -> Self {
        Self::translated(operation, document.clone(), Shape::Native)
    }

    /// A translated document with nothing to bind yet.
    fn translated(operation: &str, document: Value, shape: Shape) -> Self {
        Self {
            operation: operation.to_owned(),
            document,
            shape,
            paths: Vec::new(),
            programs: Vec::new(),
        }
    }

    /// ` (Device Client handler `x`)`, or nothing for a native document:
    /// appended to an operation in messages, so an operator who sent
    /// `install-packages.sh` sees why `install-packages` was looked for.
    pub fn origin(&self) -> String {
        match &self.shape {
            Shape::Native | Shape::DeviceClient { handler: None } => String::new(),
            Shape::DeviceClient { handler: Some(h) } => format!(" (Device Client handler `{h}`)"),
            Shape::ReferenceArchitecture => {
                " (the reference architecture's `download` document)".into()
            }
            Shape::JobsAgent { operation } => format!(" (jobs-agent.js `{operation}`)"),
        }
    }
}

/// One row of the routing table.
struct Row {
    /// Named in the REJECTED reason of an ambiguous document.
    name: &'static str,
    /// Whether `document` carries this shape's markers.
    claims: fn(&Map<String, Value>, &Handlers) -> bool,
    /// The translation; `Err` is the job's REJECTED reason.
    translate: fn(&Map<String, Value>, &Handlers) -> Result<Routed, String>,
}

/// The routing table, in the order of the module docs.
const TABLE: &[Row] = &[
    Row {
        name: "AWS IoT Device Client 1.0 (a `steps` array, or `version` without `operation`)",
        claims: device_client::claims_steps,
        translate: device_client::translate_steps,
    },
    Row {
        name: "AWS IoT Device Client pre-1.0 (`operation` names a handler)",
        claims: device_client::claims_handler,
        translate: device_client::translate_handler,
    },
    Row {
        name: "the reference architecture's `download`",
        claims: reference::claims,
        translate: reference::translate,
    },
    Row {
        name: "jobs-agent.js",
        claims: jobs_agent::claims,
        translate: jobs_agent::translate,
    },
    Row {
        name: "native (`operation`)",
        claims: claims_native,
        translate: translate_native,
    },
];

/// Routes a job document; `Err` is the job's REJECTED reason.
pub fn route(document: &Value, extra: &Handlers) -> Result<Routed, String> {
    let object = document.as_object().ok_or_else(no_operation)?;
    let rows: Vec<&Row> = TABLE.iter().filter(|r| (r.claims)(object, extra)).collect();
    match rows.as_slice() {
        [] => Err(no_operation()),
        [row] => {
            let mut routed = (row.translate)(object, extra)?;
            jobs_agent::install_package_needs(&mut routed)?;
            Ok(routed)
        }
        several => {
            let names: Vec<&str> = several.iter().map(|r| r.name).collect();
            Err(format!(
                "the job document matches {} document shapes ({}): jobhost does not guess \
                 which was meant; remove the fields of the ones not meant",
                several.len(),
                names.join("; ")
            ))
        }
    }
}

fn no_operation() -> String {
    "the job document has no string `operation` field \
     (nor `version` and `steps`, as an AWS IoT Device Client document has)"
        .into()
}

/// A string `operation` no translated shape claims.
fn claims_native(object: &Map<String, Value>, extra: &Handlers) -> bool {
    match object.get("operation") {
        Some(Value::String(op)) => {
            !device_client::is_handler(op, extra)
                && op != reference::OPERATION
                && !jobs_agent::OPERATIONS.contains(&op.as_str())
        }
        _ => false,
    }
}

fn translate_native(object: &Map<String, Value>, _: &Handlers) -> Result<Routed, String> {
    let operation = object
        .get("operation")
        .and_then(Value::as_str)
        .ok_or_else(no_operation)?;
    let document = Value::Object(object.clone());
    check_substituted(&document)?;
    Ok(Routed::native(operation, &document))
}

/// `Err` naming the first `${aws:iot:parameter:…}` in any string of
/// `value`, at any depth.
pub(crate) fn check_substituted(value: &Value) -> Result<(), String> {
    match value {
        Value::String(text) => check_text(text),
        Value::Array(items) => items.iter().try_for_each(check_substituted),
        Value::Object(map) => map.values().try_for_each(check_substituted),
        _ => Ok(()),
    }
}

fn check_text(text: &str) -> Result<(), String> {
    let Some(start) = text.find(PARAMETER_PREFIX) else {
        return Ok(());
    };
    let rest = &text[start + PARAMETER_PREFIX.len()..];
    let name: String = rest.chars().take_while(|&c| c != '}').take(64).collect();
    Err(format!(
        "template parameter `{name}` was not substituted: create the job from the managed \
         template with a value for it (documentParameters), or write the value into the document"
    ))
}

/// A file name a document names, checked before it becomes part of a
/// path: one component, no `/`, not `.` or `..`, no control characters.
pub(crate) fn check_file_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.chars().any(char::is_control)
    {
        return Err(format!(
            "{what} {name:?} must be a file name (1-255 bytes, no `/`, not `.` or `..`)"
        ));
    }
    Ok(())
}
