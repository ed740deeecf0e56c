//! The AWS managed job templates (AWS-Download-File, AWS-Reboot,
//! AWS-Run-Command, …): their documents, their parameters, and the
//! substitution of `${aws:iot:parameter:<key>}` that CreateJob performs
//! with `jobTemplateArn` + `documentParameters`.
//!
//! The documents are AWS's own, version 1.0
//! (<https://docs.aws.amazon.com/iot/latest/developerguide/job-templates-managed.html>):
//! one step in the AWS IoT Device Client schema naming a handler script.
//! The jobhost agent routes each handler to a signed plugin
//! (`jobhost::document`), and the AWS Device Client runs them as it always
//! did, so the same job works on both.
//!
//! Substitution works on the parsed document, string by string: a value is
//! inserted as a JSON string's content and escaped when the document is
//! serialised, so no parameter value can change the document's structure.
//! A parameter that is not given becomes "" (what AWS does; the Device
//! Client reads an empty `runAsUser` as "its own user" and an empty `path`
//! as "search PATH"). `${aws:iot:s3-presigned-url:…}` in a value is
//! ordinary text here; it is replaced by a signed URL at every delivery.
//!
//! [`custom`]: the custom templates CreateJobTemplate makes (kept by the
//! store) as CreateJob uses them: which template a `jobTemplateArn` names,
//! and a custom document with its `documentParameters` filled in.

mod aws;
pub mod custom;

pub use aws::TEMPLATES;

use aws::{PATH_TO_HANDLER, RUN_AS_USER};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The only version of each managed template.
pub const TEMPLATE_VERSION: &str = "1.0";

/// What AWS lists as each template's environment.
pub const ENVIRONMENT: &str = "LINUX";

/// How a parameter is written in a template's document.
pub const PARAMETER_PREFIX: &str = "${aws:iot:parameter:";

/// The region part of our template ARNs, as in our job ARNs.
const ARN_REGION: &str = "local";

/// One managed template.
#[derive(Debug)]
pub struct Template {
    /// `AWS-Download-File`.
    pub name: &'static str,
    /// AWS's description; also a job's default description.
    pub description: &'static str,
    /// Its `documentParameters`, required ones first.
    pub parameters: &'static [Parameter],
    action: &'static str,
    step: Step,
}

#[derive(Debug)]
enum Step {
    /// `runHandler` with `handler` and these parameters as `args`.
    Handler {
        handler: &'static str,
        args: &'static [&'static str],
    },
    /// `runCommand` with `input.command = ${aws:iot:parameter:command}`.
    Command,
}

/// One document parameter, as DescribeManagedJobTemplate lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    /// The `documentParameters` key.
    pub key: &'static str,
    /// What it is.
    pub description: &'static str,
    /// AWS's pattern for it (informative; the limit is `max_chars`).
    pub regex: &'static str,
    /// An example value.
    pub example: &'static str,
    /// Whether it may be left out.
    pub optional: bool,
    /// Longest accepted value, in characters.
    #[serde(skip)]
    pub max_chars: usize,
}

/// Why a template or its parameters are refused.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No such template (or version).
    #[error("{0}")]
    NotFound(String),
    /// A malformed reference or bad parameters.
    #[error("{0}")]
    Invalid(String),
}

/// The template a `jobTemplateArn` names: a managed template's ARN
/// (`arn:aws:iot:<region>::jobtemplate/AWS-Download-File:1.0`, any region),
/// or just its name, with or without `:1.0`. A custom template's ARN (one
/// with an account) is NotFound here: [`custom::custom_id`] reads those.
pub fn lookup(reference: &str) -> Result<&'static Template, TemplateError> {
    let resource = match split_arn(reference)? {
        None => reference,
        Some(arn) if !arn.account.is_empty() => {
            return Err(TemplateError::NotFound(format!(
                "{reference:?} names a custom job template (it has an account), not one of the \
                 AWS managed templates ({})",
                names()
            )));
        }
        Some(arn) => arn.resource,
    };
    let (name, version) = match resource.split_once(':') {
        Some((name, version)) => (name, Some(version)),
        None => (resource, None),
    };
    let template = find(name)?;
    match version {
        None => Ok(template),
        Some(v) => template.version(v).map(|()| template),
    }
}

/// The parts of a job template ARN that tell templates apart.
struct TemplateArn<'a> {
    /// Empty for AWS's managed templates, an account for custom ones.
    account: &'a str,
    /// What follows `jobtemplate/`: `<name>:<version>` or `<id>`.
    resource: &'a str,
}

/// `reference` split as a job template ARN,
/// `arn:<partition>:iot:<region>:<account>:jobtemplate/<resource>`; None
/// when it is not an ARN at all (a bare name or id).
fn split_arn(reference: &str) -> Result<Option<TemplateArn<'_>>, TemplateError> {
    let Some(rest) = reference.strip_prefix("arn:") else {
        return Ok(None);
    };
    let malformed = || {
        TemplateError::Invalid(format!(
            "{reference:?} is not a job template ARN \
             (arn:aws:iot:<region>:<account>:jobtemplate/<id>, or \
             arn:aws:iot:<region>::jobtemplate/<name>:<version> for a managed one)"
        ))
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, service, _region, account, resource] = parts[..] else {
        return Err(malformed());
    };
    let resource = resource
        .strip_prefix("jobtemplate/")
        .ok_or_else(malformed)?;
    if !partition.starts_with("aws") || service != "iot" {
        return Err(TemplateError::Invalid(format!(
            "{reference:?} is not an AWS IoT ARN"
        )));
    }
    Ok(Some(TemplateArn { account, resource }))
}

/// The template called `name` exactly.
pub fn find(name: &str) -> Result<&'static Template, TemplateError> {
    TEMPLATES.iter().find(|t| t.name == name).ok_or_else(|| {
        TemplateError::NotFound(format!(
            "no managed job template {name:?}; the managed templates are {}",
            names()
        ))
    })
}

fn names() -> String {
    TEMPLATES
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Template {
    /// `arn:aws:iot:local::jobtemplate/<name>:1.0`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iot:{ARN_REGION}::jobtemplate/{}:{TEMPLATE_VERSION}",
            self.name
        )
    }

    /// `Ok` when `version` is one this template has.
    pub fn version(&self, version: &str) -> Result<(), TemplateError> {
        if version == TEMPLATE_VERSION {
            Ok(())
        } else {
            Err(TemplateError::NotFound(format!(
                "{} has no version {version:?} (only {TEMPLATE_VERSION})",
                self.name
            )))
        }
    }

    /// The document with its `${aws:iot:parameter:…}` placeholders, as
    /// DescribeManagedJobTemplate shows it.
    pub fn raw_document(&self) -> Value {
        let placeholder = |key: &str| format!("{PARAMETER_PREFIX}{key}}}");
        let run_as_user = placeholder(RUN_AS_USER.key);
        let action = match self.step {
            Step::Command => json!({
                "name": self.action,
                "type": "runCommand",
                "input": {"command": placeholder("command")},
                "runAsUser": run_as_user,
            }),
            Step::Handler { handler, args } => {
                let mut input = json!({"handler": handler});
                if !args.is_empty() {
                    let args: Vec<String> = args.iter().map(|a| placeholder(a)).collect();
                    input["args"] = json!(args);
                }
                input["path"] = json!(placeholder(PATH_TO_HANDLER.key));
                json!({
                    "name": self.action,
                    "type": "runHandler",
                    "input": input,
                    "runAsUser": run_as_user,
                })
            }
        };
        json!({"version": TEMPLATE_VERSION, "steps": [{"action": action}]})
    }

    /// The job document for `parameters` (CreateJob's
    /// `documentParameters`): every parameter checked, then substituted.
    pub fn document(&self, parameters: &BTreeMap<String, String>) -> Result<Value, TemplateError> {
        let invalid = |m: String| TemplateError::Invalid(format!("documentParameters: {m}"));
        let keys = || {
            self.parameters
                .iter()
                .map(|p| p.key)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(unknown) = parameters
            .keys()
            .find(|k| !self.parameters.iter().any(|p| p.key == k.as_str()))
        {
            return Err(invalid(format!(
                "{} has no parameter {unknown:?} (it takes {})",
                self.name,
                keys()
            )));
        }
        for p in self.parameters {
            match parameters.get(p.key) {
                None if p.optional => {}
                None => {
                    return Err(invalid(format!(
                        "{} needs {:?} ({})",
                        self.name, p.key, p.description
                    )))
                }
                Some(v) if v.trim().is_empty() && !p.optional => {
                    return Err(invalid(format!("{:?} must not be empty", p.key)))
                }
                Some(v) if v.chars().count() > p.max_chars => {
                    return Err(invalid(format!(
                        "{:?} is {} characters long; at most {} are allowed",
                        p.key,
                        v.chars().count(),
                        p.max_chars
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(substitute(&self.raw_document(), parameters))
    }
}

/// `value` with every `${aws:iot:parameter:<key>}` in its strings replaced
/// by `parameters[key]` ("" when absent).
fn substitute(value: &Value, parameters: &BTreeMap<String, String>) -> Value {
    replace_parameters(value, &mut |key| {
        parameters.get(key).map_or("", String::as_str).to_owned()
    })
}

/// `value` with every `${aws:iot:parameter:<key>}` in its strings replaced
/// by `with(key)`: the one scan of a document's parameters. One pass over
/// the template's own text: a value that itself contains a placeholder is
/// not expanded again. An unterminated placeholder is left as written.
fn replace_parameters(value: &Value, with: &mut impl FnMut(&str) -> String) -> Value {
    match value {
        Value::String(text) => {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(start) = rest.find(PARAMETER_PREFIX) {
                out.push_str(&rest[..start]);
                let after = &rest[start + PARAMETER_PREFIX.len()..];
                let Some(end) = after.find('}') else {
                    out.push_str(&rest[start..]);
                    rest = "";
                    break;
                };
                out.push_str(&with(&after[..end]));
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| replace_parameters(v, with)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), replace_parameters(v, with)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
