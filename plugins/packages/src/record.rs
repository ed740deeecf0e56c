//! The installed packages: jobs-agent.js's `installedPackages` list, kept
//! in `/packages/.jobhost/installedPackages.json` so that start, stop,
//! restart and package-status find what install put there.
//!
//! The file is a JSON array of [`Package`], in install order (a package
//! installed again keeps its place, as in jobs-agent.js), written whole
//! through a temporary file and a rename. A file that does not parse is an
//! error, never an empty list: the plugin will not forget packages that
//! are running because a file was damaged.

use crate::files::write_atomically;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// The record's file name (jobs-agent.js's).
pub const RECORD_FILE: &str = "installedPackages.json";

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    /// The name, checked ([`crate::names::check_package_name`]).
    pub package_name: String,
    /// Its directory, as the plugin sees it.
    pub working_directory: String,
    /// The same directory, as the device sees it (systemd-run's
    /// `--working-directory`).
    pub device_working_directory: String,
    /// The argv to run, if it runs at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_command: Option<Vec<String>>,
    /// Whether an install starts it, and a failed install of a newer
    /// version starts it again.
    #[serde(default)]
    pub auto_start: bool,
    /// How long it must stay active after a start to count as started.
    pub startup_check_secs: u32,
}

impl Package {
    /// Whether an install or a rollback starts it.
    pub fn starts_automatically(&self) -> bool {
        self.auto_start && self.launch_command.is_some()
    }
}

/// The record file in a state directory.
pub struct Records {
    path: PathBuf,
}

impl Records {
    /// The record in `state_dir` (`/packages/.jobhost` on a device).
    pub fn at(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join(RECORD_FILE),
        }
    }

    /// Where it is, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every installed package; none when the file does not exist.
    pub fn load(&self) -> io::Result<Vec<Package>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Replaces the file with `packages`.
    pub fn save(&self, packages: &[Package]) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_vec_pretty(packages).map_err(io::Error::other)?;
        write_atomically(&self.path, &text)
    }

    /// Makes the record of `name` be `package` (`None`: not installed),
    /// writing the file only if that changes it.
    pub fn set(&self, name: &str, package: Option<&Package>) -> io::Result<()> {
        let mut packages = self.load()?;
        let before = packages.clone();
        match (
            packages.iter().position(|p| p.package_name == name),
            package,
        ) {
            (Some(i), Some(package)) => packages[i] = package.clone(),
            (None, Some(package)) => packages.push(package.clone()),
            (Some(i), None) => {
                packages.remove(i);
            }
            (None, None) => {}
        }
        if packages == before {
            return Ok(());
        }
        self.save(&packages)
    }
}

/// The package called `name`.
pub fn find<'a>(packages: &'a [Package], name: &str) -> Option<&'a Package> {
    packages.iter().find(|p| p.package_name == name)
}

/// The names as jobs-agent.js's systemStatus reports them: `[a, b]`.
pub fn names(packages: &[Package]) -> String {
    let names: Vec<&str> = packages.iter().map(|p| p.package_name.as_str()).collect();
    format!("[{}]", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, dir: &str) -> Package {
        Package {
            package_name: name.into(),
            working_directory: format!("/packages/{dir}"),
            device_working_directory: format!("/var/lib/jobhost-data/packages/{dir}"),
            launch_command: Some(vec!["node".into(), "app.js".into()]),
            auto_start: true,
            startup_check_secs: 20,
        }
    }

    #[test]
    fn packages_keep_their_install_order_and_an_update_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::at(&dir.path().join(".jobhost"));
        assert_eq!(records.load().unwrap(), []);
        assert_eq!(names(&records.load().unwrap()), "[]");
        records.set("web", Some(&package("web", "web"))).unwrap();
        records.set("api", Some(&package("api", "api"))).unwrap();
        records.set("web", Some(&package("web", "web2"))).unwrap();
        let packages = records.load().unwrap();
        assert_eq!(names(&packages), "[web, api]");
        assert_eq!(
            find(&packages, "web").unwrap().working_directory,
            "/packages/web2"
        );
        records.set("web", None).unwrap();
        records.set("gone", None).unwrap();
        assert_eq!(names(&records.load().unwrap()), "[api]");
    }

    #[test]
    fn the_file_is_the_record_jobs_agent_keeps_plus_what_systemd_needs() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::at(dir.path());
        records.save(&[package("web", "web")]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(RECORD_FILE)).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "packageName": "web",
                "workingDirectory": "/packages/web",
                "deviceWorkingDirectory": "/var/lib/jobhost-data/packages/web",
                "launchCommand": ["node", "app.js"],
                "autoStart": true,
                "startupCheckSecs": 20,
            }])
        );
    }

    #[test]
    fn a_damaged_record_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RECORD_FILE), "{not json").unwrap();
        let err = Records::at(dir.path()).load().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(Records::at(dir.path()).set("x", None).is_err());
    }

    #[test]
    fn only_a_package_with_a_command_and_auto_start_starts_by_itself() {
        let mut p = package("web", "web");
        assert!(p.starts_automatically());
        p.auto_start = false;
        assert!(!p.starts_automatically());
        p.auto_start = true;
        p.launch_command = None;
        assert!(!p.starts_automatically());
    }
}
