//! An install under way, recorded on the device beside the packages:
//! `/packages/.jobhost/pending-<packageName>.json`.
//!
//! It is written once every backup is made and before the first file is
//! replaced, and removed when the install succeeded or was rolled back. It
//! says which files the install replaces and which of them existed (so
//! have a `.old` made by this install), whether the new version's unit
//! may have been started, and the package's record before the install.
//! That is everything needed to undo the install — by the same execution
//! resumed after an agent restart, or by the next job on the package when
//! the install was cut short for good: a cancelled job's plugin is stopped
//! at once and cannot roll back itself, nor can one that ran out of time.

use crate::files::write_atomically;
use crate::record::Package;
use jobhost_sdk::Job;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// One file of the install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingFile {
    /// As the document names it, relative to `workingDirectory`.
    pub file_name: String,
    /// Whether it existed before (and was backed up to `.old`); if not, a
    /// rollback removes it.
    pub existed: bool,
}

/// An install that has started replacing files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// The job that started it.
    pub job_id: String,
    /// Its execution number: a retry of the same job is another execution.
    pub execution_number: u64,
    /// The package.
    pub package_name: String,
    /// Where its files are (guest path).
    pub working_directory: String,
    /// The files it replaces, in the document's order.
    pub files: Vec<PendingFile>,
    /// The package's record before the install (`None`: a new package).
    pub previous: Option<Package>,
    /// Whether the new version's unit may have been started.
    pub unit_started: bool,
}

impl Pending {
    /// Whether this is the install `job` itself started (then `job` is a
    /// resumed attempt at it).
    pub fn is_for(&self, job: &Job) -> bool {
        self.job_id == job.job_id && self.execution_number == job.execution_number
    }

    /// The guest path of file `name`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        Path::new(&self.working_directory).join(name)
    }

    /// Saves it (over an earlier state of the same install).
    pub fn save(&self, state_dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let text = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        write_atomically(&file(state_dir, &self.package_name), &text)
    }

    /// The install of `package` under way, if any.
    pub fn load(state_dir: &Path, package: &str) -> io::Result<Option<Pending>> {
        let text = match std::fs::read_to_string(file(state_dir, package)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Removes it: the install is over, one way or the other.
    pub fn remove(&self, state_dir: &Path) -> io::Result<()> {
        crate::files::remove(&file(state_dir, &self.package_name))
    }
}

fn file(state_dir: &Path, package: &str) -> PathBuf {
    state_dir.join(format!("pending-{package}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending {
            job_id: "j1".into(),
            execution_number: 2,
            package_name: "web".into(),
            working_directory: "/packages/web".into(),
            files: vec![
                PendingFile {
                    file_name: "app.js".into(),
                    existed: true,
                },
                PendingFile {
                    file_name: "lib/util.js".into(),
                    existed: false,
                },
            ],
            previous: None,
            unit_started: false,
        }
    }

    #[test]
    fn it_round_trips_and_is_gone_once_removed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".jobhost");
        assert_eq!(Pending::load(&state, "web").unwrap(), None);
        let mut p = pending();
        p.save(&state).unwrap();
        p.unit_started = true;
        p.save(&state).unwrap();
        assert_eq!(Pending::load(&state, "web").unwrap(), Some(p.clone()));
        assert_eq!(Pending::load(&state, "api").unwrap(), None);
        p.remove(&state).unwrap();
        assert_eq!(Pending::load(&state, "web").unwrap(), None);
    }

    #[test]
    fn it_belongs_to_one_execution_of_one_job() {
        let p = pending();
        assert!(p.is_for(&Job::new("j1", 2, "install-package", "{}")));
        assert!(!p.is_for(&Job::new("j1", 3, "install-package", "{}")));
        assert!(!p.is_for(&Job::new("j2", 2, "install-package", "{}")));
        assert_eq!(
            p.path_of("lib/util.js"),
            Path::new("/packages/web/lib/util.js")
        );
    }
}
