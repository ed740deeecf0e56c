//! The job document: native `{"operation": …}` or the AWS IoT Device
//! Client schema → (operation, document the plugin gets).
//!
//! Fleets that use the AWS managed job templates (AWS-Download-File,
//! AWS-Reboot, AWS-Run-Command, …) send documents in the AWS IoT Device
//! Client's schema, where a step names a shell *handler*
//! (`download-file.sh`) rather than an operation. jobhost never runs
//! handler scripts: [`route`] translates such a document into the native
//! document of the signed plugin that does the same thing, so those fleets
//! switch agents without changing a single job.
//!
//! # Which schema
//!
//! - A string `operation` is a native document, passed to the plugin
//!   unchanged — unless it names a Device Client handler
//!   (`{"operation": "install-packages.sh", "args": […]}`): that is the
//!   Device Client's old ("0.0") schema, translated like one 1.0 step.
//! - Otherwise a document with `version` or `steps` is the Device Client
//!   1.0 schema (`device_client`).
//! - Anything else is REJECTED ("no string `operation` field").
//!
//! A `${aws:iot:parameter:<name>}` left in what the plugin would get is
//! REJECTED: the service that created the job (AWS IoT, or
//! `jobhost-fleet`) substitutes managed-template parameters before any
//! device sees the document, so one that is still there means the job was
//! created from the template's text by hand, and running it would download
//! to, or run, a literal placeholder.
//!
//! # Layout
//!
//! - this file: [`route`], native documents, the parameter check;
//! - `device_client`: the Device Client schema and its handler table.

mod device_client;
#[cfg(test)]
mod tests;

pub use device_client::{check_handler_mapping, BUILTIN_HANDLERS};

use serde_json::Value;
use std::collections::BTreeMap;

/// Extra Device Client handlers the operator maps to operations
/// (`[device_client] handlers` in the agent config): handler file name →
/// operation. They take precedence over [`BUILTIN_HANDLERS`].
pub type Handlers = BTreeMap<String, String>;

/// How AWS writes a managed template's parameter in its document.
pub const PARAMETER_PREFIX: &str = "${aws:iot:parameter:";

/// What to run: the operation that selects the plugin and the document it
/// gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// The operation (a plugin's manifest or a built-in names it).
    pub operation: String,
    /// The native document handed to the plugin.
    pub document: Value,
    /// The Device Client handler it was translated from; `None` for a
    /// native document.
    pub handler: Option<String>,
}

impl Routed {
    /// ` (Device Client handler `x`)`, or nothing for a native document:
    /// appended to an operation in messages, so an operator who sent
    /// `install-packages.sh` sees why `install-packages` was looked for.
    pub fn origin(&self) -> String {
        match &self.handler {
            Some(h) => format!(" (Device Client handler `{h}`)"),
            None => String::new(),
        }
    }
}

/// Routes a job document; `Err` is the job's REJECTED reason.
pub fn route(document: &Value, extra: &Handlers) -> Result<Routed, String> {
    if let Some(translated) = device_client::translate(document, extra) {
        return translated;
    }
    let Some(operation) = document.get("operation").and_then(Value::as_str) else {
        return Err("the job document has no string `operation` field \
                    (nor `version` and `steps`, as an AWS IoT Device Client document has)"
            .into());
    };
    check_substituted(document)?;
    Ok(Routed {
        operation: operation.to_owned(),
        document: document.clone(),
        handler: None,
    })
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
