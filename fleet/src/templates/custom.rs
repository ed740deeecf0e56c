//! Custom job templates (CreateJobTemplate) as CreateJob uses them: which
//! template a `jobTemplateArn` names, and the job document a template's
//! document becomes. The templates themselves are kept by the store
//! (`crate::store::JobTemplate`).
//!
//! `documentParameters` with a custom template are this service's
//! extension: AWS accepts them only with its managed templates. Here they
//! fill the custom document's `${aws:iot:parameter:<key>}` placeholders by
//! the same substitution as the managed templates' (a value is inserted as
//! a JSON string's content, so none can change the document's structure),
//! with stricter rules, since a custom document declares no parameters:
//! every placeholder must be given a value, and every value must have a
//! placeholder. A script written for AWS never sends them with a custom
//! template, and its documents then go out as they were written.

use super::{find, names, replace_parameters, split_arn, TemplateError};
use jobhost_protocol::topics::is_valid_job_id;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The longest `documentParameters` key (`ParameterKey` in botocore's `iot`
/// model: 1-128 of `[a-zA-Z0-9_-]`).
pub const PARAMETER_KEY_MAX_CHARS: usize = 128;

/// The longest `documentParameters` value (`ParameterValue`: 1-30720
/// characters, no control characters).
pub const PARAMETER_VALUE_MAX_CHARS: usize = 30_720;

/// The custom template `reference` (CreateJob's `jobTemplateArn`) names,
/// by id; None when it names an AWS managed template, or is malformed in
/// a way [`super::lookup`] reports.
///
/// - `arn:aws:iot:<region>:<account>:jobtemplate/<id>` (any region and
///   account, as thing ARNs in `targets`) names the custom template `id`;
/// - a bare reference names the managed template of that name if there is
///   one (`AWS-Reboot`, `AWS-Reboot:1.0`: how this service has always read
///   them), else the custom template with that id. A custom template whose
///   id is a managed template's name is named by its ARN.
pub fn custom_id(reference: &str) -> Result<Option<String>, TemplateError> {
    let id = match split_arn(reference)? {
        Some(arn) if arn.account.is_empty() => return Ok(None),
        Some(arn) => {
            if !is_valid_job_id(arn.resource) {
                return Err(TemplateError::Invalid(format!(
                    "{reference:?} does not end in a job template id \
                     (1-64 characters of [a-zA-Z0-9_-])"
                )));
            }
            arn.resource
        }
        None => {
            let name = reference.split_once(':').map_or(reference, |(n, _)| n);
            if find(name).is_ok() || !is_valid_job_id(reference) {
                return Ok(None);
            }
            reference
        }
    };
    Ok(Some(id.to_owned()))
}

/// The 404 for a custom template `reference` (with id `id`) that no
/// template has: a bare reference was not a managed template's name
/// either, and the message says both.
pub fn not_found(reference: &str, id: &str) -> TemplateError {
    TemplateError::NotFound(if reference.starts_with("arn:") {
        format!("no job template {id:?}: no custom job template has this id")
    } else {
        format!(
            "no managed job template {id:?}, and no custom job template has this id \
             (the managed templates are {})",
            names()
        )
    })
}

/// The document of a job made from a custom template whose document is
/// `text`, with `parameters` substituted; None when there is nothing to
/// substitute (no placeholder, no parameter), so that the job keeps the
/// template's text byte for byte, as GetJobDocument returns it.
pub fn document(
    template_id: &str,
    text: &str,
    parameters: &BTreeMap<String, String>,
) -> Result<Option<Value>, TemplateError> {
    let invalid = |m: String| TemplateError::Invalid(format!("documentParameters: {m}"));
    for (key, value) in parameters {
        check_parameter(key, value).map_err(invalid)?;
    }
    let parsed: Value = serde_json::from_str(text).map_err(|e| {
        TemplateError::Invalid(format!(
            "the document of job template {template_id} is not JSON: {e}"
        ))
    })?;
    let wanted = placeholders(&parsed);
    if wanted.is_empty() && parameters.is_empty() {
        return Ok(None);
    }
    let listed = || {
        if wanted.is_empty() {
            "its document has no ${aws:iot:parameter:…} placeholder".to_owned()
        } else {
            let keys: Vec<&str> = wanted.iter().map(String::as_str).collect();
            format!("its document's placeholders are {}", keys.join(", "))
        }
    };
    if let Some(unknown) = parameters.keys().find(|k| !wanted.contains(*k)) {
        return Err(invalid(format!(
            "job template {template_id} has no parameter {unknown:?} ({})",
            listed()
        )));
    }
    if let Some(missing) = wanted.iter().find(|k| !parameters.contains_key(*k)) {
        return Err(invalid(format!(
            "job template {template_id} needs {missing:?} ({}; each needs a value)",
            listed()
        )));
    }
    Ok(Some(replace_parameters(&parsed, &mut |key| {
        parameters.get(key).cloned().unwrap_or_default()
    })))
}

/// The keys of the `${aws:iot:parameter:<key>}` placeholders in
/// `document`'s strings, found by the scan that replaces them.
fn placeholders(document: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    replace_parameters(document, &mut |key| {
        keys.insert(key.to_owned());
        String::new()
    });
    keys
}

/// AWS's limits on one `documentParameters` entry.
fn check_parameter(key: &str, value: &str) -> Result<(), String> {
    let key_ok = !key.is_empty()
        && key.len() <= PARAMETER_KEY_MAX_CHARS
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !key_ok {
        return Err(format!(
            "key {key:?} must be 1-{PARAMETER_KEY_MAX_CHARS} characters of [a-zA-Z0-9_-]"
        ));
    }
    let chars = value.chars().count();
    if chars == 0 || chars > PARAMETER_VALUE_MAX_CHARS {
        return Err(format!(
            "{key:?} is {chars} characters long; it must be 1-{PARAMETER_VALUE_MAX_CHARS}"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{key:?} contains a control character (a newline, a tab, ...)"
        ));
    }
    Ok(())
}
