//! Where an application lives under the granted `/apps` directory, and the
//! `current` link that says which version runs:
//!
//! ```text
//! /apps/<name>/versions/<version>/   one directory per unpacked version
//! /apps/<name>/current               symlink -> versions/<version> (relative)
//! /apps/<name>/.staging/             downloads and half-unpacked versions
//! ```
//!
//! `current` is switched atomically: a new link `current.new` is made and
//! renamed over `current`, so a reader (systemd, the health check, a power
//! cut) sees the old version or the new one, never neither. The link is
//! relative so that it means the same on the device as in the sandbox.

use jobhost_sdk::Failure;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The granted directory, as the plugin sees it (guest path).
pub const APPS: &str = "/apps";

/// One application's directory.
pub struct AppDir {
    name: String,
    root: PathBuf,
}

impl AppDir {
    /// The directory of application `name` (already checked by
    /// [`crate::words::check_app_name`]).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            root: Path::new(APPS).join(name),
        }
    }

    /// `/apps/<name>`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `/apps/<name>/versions/<version>`.
    pub fn version_dir(&self, version: &str) -> PathBuf {
        self.root.join("versions").join(version)
    }

    /// `/apps/<name>/.staging`: what an interrupted attempt may leave.
    pub fn staging(&self) -> PathBuf {
        self.root.join(".staging")
    }

    fn current_path(&self) -> PathBuf {
        self.root.join("current")
    }

    fn current_new_path(&self) -> PathBuf {
        self.root.join("current.new")
    }

    /// Creates `/apps/<name>/versions` and an empty staging directory,
    /// removing whatever an interrupted attempt left in staging and a
    /// half-made `current.new`.
    pub fn prepare(&self) -> io::Result<()> {
        fs::create_dir_all(self.root.join("versions"))?;
        remove_any(&self.staging())?;
        remove_any(&self.current_new_path())?;
        fs::create_dir(self.staging())
    }

    /// Removes the staging directory (after an install, success or not).
    pub fn clear_staging(&self) -> io::Result<()> {
        remove_any(&self.staging())
    }

    /// The version `current` points at; `None` when there is no `current`.
    /// Anything but a link this plugin made is a permanent failure: the
    /// plugin will not guess what the operator put there.
    pub fn current(&self) -> Result<Option<String>, Failure> {
        let path = self.current_path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Failure::retryable(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        let foreign = |what: &str| {
            Failure::permanent(format!(
                "{} is {what}, not a link to versions/<version> made by this plugin; move it away",
                path.display()
            ))
        };
        if !meta.file_type().is_symlink() {
            return Err(foreign("not a symbolic link"));
        }
        let target = fs::read_link(&path)
            .map_err(|e| Failure::retryable(format!("cannot read {}: {e}", path.display())))?;
        let version = target
            .to_str()
            .and_then(|t| t.strip_prefix("versions/"))
            .filter(|v| crate::words::check_version(v).is_ok())
            .ok_or_else(|| foreign(&format!("a link to {}", target.display())))?;
        Ok(Some(version.to_owned()))
    }

    /// Points `current` at `versions/<version>` atomically.
    pub fn switch(&self, version: &str) -> Result<(), Failure> {
        let new = self.current_new_path();
        let io = |what: &str, e: io::Error| {
            Failure::retryable(format!(
                "cannot switch {}/current to {version}: {what}: {e}",
                self.name
            ))
        };
        remove_any(&new).map_err(|e| io("removing current.new", e))?;
        crate::link::symlink(&format!("versions/{version}"), &new)
            .map_err(|e| io("creating current.new", e))?;
        fs::rename(&new, self.current_path()).map_err(|e| io("renaming over current", e))
    }

    /// Removes `current` (nothing runs from this application any more).
    pub fn unset_current(&self) -> io::Result<()> {
        remove_any(&self.current_path())
    }

    /// Removes every version directory except `keep`. Returns the versions
    /// removed.
    pub fn prune(&self, keep: &[&str]) -> io::Result<Vec<String>> {
        let mut removed = Vec::new();
        for entry in fs::read_dir(self.root.join("versions"))? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if keep.contains(&name.as_str()) {
                continue;
            }
            remove_any(&entry.path())?;
            removed.push(name);
        }
        removed.sort();
        Ok(removed)
    }
}

/// Removes `path` whatever it is (a directory with its contents, a file, or
/// a symbolic link — never what the link points at); absent is fine.
pub fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
