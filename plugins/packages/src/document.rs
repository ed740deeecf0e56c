//! The native documents this plugin takes (the host's router makes them
//! from jobs-agent.js documents), checked whole before anything is
//! touched, each refusal with the error code jobs-agent.js would give.

use crate::checksum::{Checksum, Expected};
use crate::names::{check_package_name, package_name};
use crate::paths::{
    backup_of, check_device_directory, check_file_name, check_working_directory, STATE_DIR,
};
use crate::record::Package;
use crate::report::{codes, JobError};
use jobhost_sdk::Job;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// How long a started package must stay active when the document does not
/// say (jobs-agent.js's `startupTimout`).
pub const DEFAULT_STARTUP_CHECK_SECS: u32 = 20;

/// The longest startup check a document may ask for.
pub const MAX_STARTUP_CHECK_SECS: u32 = 600;

/// jobs-agent.js's message for an install without `packageName`.
pub const INSTALL_UNNAMED: &str = "installed packages must have packageName property";

/// jobs-agent.js's message for start, stop and restart without one.
pub const UNNAMED: &str = "no packageName property specified";

/// jobs-agent.js's message for a missing or empty `files`.
pub const NO_FILES: &str = "files property missing or invalid";

/// `{"operation": …, "packageName": …}`: start, stop, restart.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NamedDocument {
    #[allow(dead_code)]
    operation: String,
    package_name: Option<Value>,
}

/// The package a start, stop or restart document names.
pub fn named(job: &Job) -> Result<String, JobError> {
    let doc: NamedDocument = parse(job)?;
    package_name(doc.package_name.as_ref(), UNNAMED)
}

/// `{"operation": "package-status"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusDocument {
    #[allow(dead_code)]
    operation: String,
}

/// Checks a package-status document (it has nothing but `operation`).
pub fn status(job: &Job) -> Result<(), JobError> {
    parse::<StatusDocument>(job).map(|_| ())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawInstall {
    #[allow(dead_code)]
    operation: String,
    package_name: Option<Value>,
    working_directory: Option<String>,
    device_working_directory: Option<String>,
    files: Option<Value>,
    launch_command: Option<Vec<String>>,
    auto_start: Option<bool>,
    startup_check_secs: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    file_name: Option<String>,
    url: Option<String>,
    #[serde(default)]
    checksum: Option<Checksum>,
    /// Verified by the host's download import; nothing for the plugin.
    #[serde(default)]
    #[allow(dead_code)]
    codesign: Option<Value>,
}

/// One file to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative to the working directory, checked.
    pub file_name: String,
    /// Where it comes from.
    pub url: String,
    /// What it must hash to, if anything.
    pub checksum: Option<Expected>,
}

/// An install-package document, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// The package.
    pub package_name: String,
    /// Where its files go (guest path).
    pub working_directory: String,
    /// The same directory on the device.
    pub device_working_directory: String,
    /// Its files, at least one.
    pub files: Vec<File>,
    /// What to run, if anything.
    pub launch_command: Option<Vec<String>>,
    /// Whether to (re)start it once installed.
    pub auto_start: bool,
    /// How long it must stay active after the start.
    pub startup_check_secs: u32,
}

impl Install {
    /// Parses and checks `job`'s document.
    pub fn parse(job: &Job) -> Result<Install, JobError> {
        let raw: RawInstall = parse(job)?;
        let package_name = package_name(raw.package_name.as_ref(), INSTALL_UNNAMED)?;
        let files = match raw.files {
            Some(Value::Array(files)) if !files.is_empty() => files,
            _ => return Err(JobError::rejected(codes::FILE_COPY_FAILED, NO_FILES)),
        };
        let files = files
            .into_iter()
            .enumerate()
            .map(|(i, f)| file(i, f))
            .collect::<Result<Vec<_>, _>>()?;
        let unexpected = |m: String| JobError::rejected(codes::UNEXPECTED, m);
        let working_directory = raw
            .working_directory
            .ok_or_else(|| unexpected("the document has no workingDirectory".into()))?;
        check_working_directory(&working_directory)
            .map_err(|m| JobError::rejected(codes::FILE_COPY_FAILED, m))?;
        let device_working_directory = raw
            .device_working_directory
            .ok_or_else(|| unexpected("the document has no deviceWorkingDirectory".into()))?;
        check_device_directory(&device_working_directory).map_err(unexpected)?;
        check_collisions(&files)?;
        if let Some(f) = files.iter().find(|f| {
            Path::new(&working_directory)
                .join(&f.file_name)
                .starts_with(STATE_DIR)
        }) {
            return Err(JobError::rejected(
                codes::FILE_COPY_FAILED,
                format!(
                    "fileName {:?} is inside {STATE_DIR}, where this plugin keeps its records",
                    f.file_name
                ),
            ));
        }
        if let Some(argv) = &raw.launch_command {
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(unexpected("launchCommand needs a program".into()));
            }
        }
        let startup_check_secs = raw.startup_check_secs.unwrap_or(DEFAULT_STARTUP_CHECK_SECS);
        if startup_check_secs > MAX_STARTUP_CHECK_SECS {
            return Err(unexpected(format!(
                "startupCheckSecs is {startup_check_secs}: at most {MAX_STARTUP_CHECK_SECS} is allowed"
            )));
        }
        debug_assert!(check_package_name(&package_name).is_ok());
        Ok(Install {
            package_name,
            working_directory,
            device_working_directory,
            files,
            launch_command: raw.launch_command,
            auto_start: raw.auto_start.unwrap_or(false),
            startup_check_secs,
        })
    }

    /// The guest path of `file`.
    pub fn path_of(&self, file: &File) -> PathBuf {
        Path::new(&self.working_directory).join(&file.file_name)
    }

    /// Whether the install starts the package (jobs-agent.js: a
    /// `launchCommand` and a true `autoStart`).
    pub fn starts(&self) -> bool {
        self.auto_start && self.launch_command.is_some()
    }

    /// The record an install writes.
    pub fn record(&self) -> Package {
        Package {
            package_name: self.package_name.clone(),
            working_directory: self.working_directory.clone(),
            device_working_directory: self.device_working_directory.clone(),
            launch_command: self.launch_command.clone(),
            auto_start: self.auto_start,
            startup_check_secs: self.startup_check_secs,
        }
    }
}

fn file(index: usize, value: Value) -> Result<File, JobError> {
    let copy = |m: String| JobError::rejected(codes::FILE_COPY_FAILED, m);
    let raw: RawFile =
        serde_json::from_value(value).map_err(|e| copy(format!("files[{index}]: {e}")))?;
    let file_name = raw
        .file_name
        .ok_or_else(|| copy("fileName missing".into()))?;
    check_file_name(&file_name).map_err(copy)?;
    let Some(url) = raw.url.filter(|u| !u.is_empty()) else {
        return Err(
            JobError::rejected(codes::DOWNLOAD_FAILED, "fileSource url missing")
                .because(format!("file {file_name} has no url (fileSource.url)"))
                .detail("fileName", &file_name),
        );
    };
    let checksum = match raw.checksum {
        Some(c) => c.expected(&file_name)?,
        None => None,
    };
    Ok(File {
        file_name,
        url,
        checksum,
    })
}

/// Two entries for one path, or one that is another's backup, would
/// overwrite each other.
fn check_collisions(files: &[File]) -> Result<(), JobError> {
    let names: HashSet<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
    if names.len() != files.len() {
        return Err(JobError::rejected(
            codes::FILE_COPY_FAILED,
            "files lists the same fileName twice",
        ));
    }
    for f in files {
        let backup = backup_of(Path::new(&f.file_name));
        if let Some(backup) = backup.to_str().filter(|b| names.contains(b)) {
            return Err(JobError::rejected(
                codes::FILE_COPY_FAILED,
                format!(
                    "fileName {backup:?} is where {:?} is backed up",
                    f.file_name
                ),
            ));
        }
    }
    Ok(())
}

/// The document as `T`; a document that is not is REJECTED.
fn parse<T: DeserializeOwned>(job: &Job) -> Result<T, JobError> {
    serde_json::from_str(job.document_text())
        .map_err(|e| JobError::rejected(codes::UNEXPECTED, format!("invalid job document: {e}")))
}

#[cfg(test)]
mod tests;
