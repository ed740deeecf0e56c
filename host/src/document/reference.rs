//! The AWS IoT Jobs reference architecture's sample document, translated
//! into a `download-file` document.
//!
//! ```json
//! { "operation": "download", "version": "1.0", "directory": "/installs",
//!   "files": { "fileName": "sample_file",
//!              "url": "${aws:iot:s3-presigned-url:https://…/sample_file}" } }
//! ```
//!
//! becomes
//!
//! ```json
//! {"operation": "download-file", "url": "…", "destination": "/installs/sample_file",
//!  "allowUnverified": true}
//! ```
//!
//! with `destination` a device path, bound to the download-file plugin's
//! granted directories ([`super::bind`]): the architecture's device writes
//! where the document says, and so does jobhost, inside what the operator
//! granted — or the job is REJECTED saying how to grant it.
//!
//! Decisions, and why:
//!
//! - **No checksum in the document.** The architecture's document carries
//!   none, so, as for the AWS-Download-File template, the download is
//!   marked `allowUnverified` and its integrity rests on the HTTPS
//!   (presigned) URL — unless the file has a `codesign` (beside `url` in
//!   `files`, or at the top of the document, as AWS code-signed documents
//!   put it), which the host verifies before the file is put in place, or
//!   a `sha256` beside `url`, which it checks.
//! - **One file.** `files` is one object in the architecture; an array of
//!   exactly one is taken too. Several files are REJECTED (jobhost runs
//!   one download per job: create one job per file).
//! - **`version`** must be `"1.0"` when present, the only one published.

use super::{check_file_name, check_substituted, DevicePath, Handlers, Routed, Shape};
use serde_json::{json, Map, Value};

/// The operation the architecture's document names.
pub(super) const OPERATION: &str = "download";

/// The version of the architecture's document.
const VERSION: &str = "1.0";

pub(super) fn claims(object: &Map<String, Value>, _: &Handlers) -> bool {
    matches!(object.get("operation"), Some(Value::String(op)) if op == OPERATION)
}

pub(super) fn translate(object: &Map<String, Value>, _: &Handlers) -> Result<Routed, String> {
    match object.get("version") {
        None => {}
        Some(Value::String(v)) if v == VERSION => {}
        Some(other) => {
            return Err(format!(
                "`version` {other} of a `download` document is not supported (only \"{VERSION}\")"
            ))
        }
    }
    let directory = match object.get("directory") {
        Some(Value::String(d)) if !d.trim().is_empty() => d.trim_end_matches('/'),
        Some(Value::String(_)) | None => {
            return Err(
                "a `download` document needs `directory`, the directory on the device \
                        to download into"
                    .into(),
            )
        }
        Some(_) => return Err("`directory` must be a string".into()),
    };
    let file = one_file(object.get("files"))?;
    let name = match file.get("fileName") {
        Some(Value::String(n)) => n.as_str(),
        _ => return Err("`files.fileName` must be a string".into()),
    };
    check_file_name(name, "`files.fileName`")?;
    let url = match file.get("url") {
        Some(Value::String(u)) if !u.is_empty() => u.as_str(),
        _ => return Err("`files.url` must be a non-empty string".into()),
    };
    let destination = if directory.is_empty() {
        format!("/{name}")
    } else {
        format!("{directory}/{name}")
    };
    let mut document = json!({
        "operation": "download-file",
        "url": url,
        "destination": destination,
    });
    match file.get("sha256") {
        Some(Value::String(sha)) => document["sha256"] = Value::from(sha.as_str()),
        Some(_) => return Err("`files.sha256` must be a string of 64 hex digits".into()),
        None => document["allowUnverified"] = Value::Bool(true),
    }
    match (file.get("codesign"), object.get("codesign")) {
        (Some(_), Some(_)) => {
            return Err(
                "the document has a `codesign` both in `files` and at its top: give it once".into(),
            )
        }
        (Some(codesign), None) | (None, Some(codesign)) => {
            document["codesign"] = codesign.clone();
        }
        (None, None) => {}
    }
    check_substituted(&document)?;
    let mut routed = Routed::translated("download-file", document, Shape::ReferenceArchitecture);
    routed.paths.push(DevicePath::new("/destination"));
    Ok(routed)
}

/// `files` as one object, or an array of exactly one.
fn one_file(files: Option<&Value>) -> Result<&Map<String, Value>, String> {
    match files {
        Some(Value::Object(file)) => Ok(file),
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::Object(file)] => Ok(file),
            [_] => Err("`files[0]` must be an object with `fileName` and `url`".into()),
            [] => Err("`files` is empty: the job has nothing to download".into()),
            several => Err(format!(
                "`files` lists {} files: jobhost runs one download per job, so create one \
                 job per file",
                several.len()
            )),
        },
        Some(_) => Err("`files` must be an object with `fileName` and `url`".into()),
        None => Err("a `download` document needs `files` with `fileName` and `url`".into()),
    }
}
