//! Where packages and this plugin's own records live, and which paths a
//! document may name.
//!
//! ```text
//! /packages/                         the granted directory (guest path)
//! /packages/<workingDirectory>/...   a package's files, each with <file>.old
//!                                    once an install replaced it
//! /packages/.jobhost/                this plugin's records: no document may
//!                                    write here
//!     installedPackages.json         the installed packages (record)
//!     pending-<packageName>.json     an install under way (pending)
//! ```
//!
//! The host maps `workingDirectory` into `/packages` and hands over the
//! device's view of it (`deviceWorkingDirectory`); the checks here only
//! make sure that what the plugin writes stays where it belongs and that a
//! file can never be mistaken for another's backup.

use std::path::{Path, PathBuf};

/// The granted directory, as the plugin sees it.
pub const PACKAGES: &str = "/packages";

/// This plugin's records, inside the granted directory. A package name
/// never starts with `.`, and no `workingDirectory` may be in here.
pub const STATE_DIR: &str = "/packages/.jobhost";

/// The suffix of a backup, as jobs-agent.js names it.
pub const BACKUP_SUFFIX: &str = ".old";

/// Longest path accepted in a document (Linux `PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;

/// Whether `dir` (a guest path) may hold a package's files: `/packages`
/// or a directory below it, written plainly (no `.`, `..` or empty
/// segments), outside [`STATE_DIR`].
pub fn check_working_directory(dir: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("workingDirectory {dir:?} {why}"));
    check_text(dir).or_else(|why| bad(&why))?;
    let Some(rest) = dir.strip_prefix(PACKAGES) else {
        return bad(&format!("is not inside {PACKAGES}"));
    };
    if rest.is_empty() || rest == "/" {
        return Ok(());
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return bad(&format!("is not inside {PACKAGES}"));
    };
    check_segments(rest.strip_suffix('/').unwrap_or(rest)).or_else(|why| bad(&why))?;
    if Path::new(dir).starts_with(STATE_DIR) {
        return bad(&format!(
            "is inside {STATE_DIR}, where this plugin keeps its records"
        ));
    }
    Ok(())
}

/// Whether `name` may be a file of a package: a relative path, written
/// plainly (no `.`, `..` or empty segments).
pub fn check_file_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("fileName {name:?} {why}"));
    check_text(name).or_else(|why| bad(&why))?;
    if name.starts_with('/') {
        return bad("is absolute: it must be relative to workingDirectory");
    }
    check_segments(name).or_else(|why| bad(&why))
}

/// Whether `dir` is a plausible absolute device path, for
/// `systemd-run --working-directory` (the host made it; this is a guard,
/// not a second mapping).
pub fn check_device_directory(dir: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("deviceWorkingDirectory {dir:?} {why}"));
    check_text(dir).or_else(|why| bad(&why))?;
    if !dir.starts_with('/') {
        return bad("is not absolute");
    }
    if dir.split('/').any(|s| s == "..") {
        return bad("contains `..`");
    }
    Ok(())
}

/// `<path>.old`: where an install keeps the file it replaced.
pub fn backup_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(BACKUP_SUFFIX);
    PathBuf::from(name)
}

/// `.<name>.jobhost-tmp` beside `path`: what is written first and renamed
/// over `path`, so that `path` is always whole.
pub fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.jobhost-tmp"))
}

fn check_text(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".into());
    }
    if text.len() > MAX_PATH_BYTES {
        return Err(format!("is longer than {MAX_PATH_BYTES} bytes"));
    }
    if text.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(())
}

fn check_segments(path: &str) -> Result<(), String> {
    for segment in path.split('/') {
        match segment {
            "" => return Err("has an empty segment (`//` or a trailing `/`)".into()),
            "." | ".." => return Err(format!("contains `{segment}`")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_directories_stay_in_packages_and_out_of_the_records() {
        for good in [
            "/packages",
            "/packages/",
            "/packages/web",
            "/packages/a/b/",
            "/packages/.web",
        ] {
            assert_eq!(check_working_directory(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "packages/web",
            "/packagesX",
            "/etc",
            "/packages/../etc",
            "/packages/a/./b",
            "/packages//a",
            "/packages/.jobhost",
            "/packages/.jobhost/x",
            "/packages/a\n",
        ] {
            assert!(check_working_directory(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn file_names_are_plain_relative_paths() {
        for good in ["app.js", "lib/util.js", ".env", "a..b", "bin/start.sh"] {
            assert_eq!(check_file_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/",
            "./a",
            "a\0b",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?} passed");
        }
        assert_eq!(
            check_file_name("../x"),
            Err("fileName \"../x\" contains `..`".into())
        );
    }

    #[test]
    fn device_directories_are_absolute_without_climbing() {
        assert_eq!(
            check_device_directory("/var/lib/jobhost-data/packages/web"),
            Ok(())
        );
        for bad in ["", "var/lib", "/var/../etc", "/a\tb"] {
            assert!(check_device_directory(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn backups_and_temporaries_sit_beside_the_file() {
        let file = Path::new("/packages/web/lib/util.js");
        assert_eq!(backup_of(file), Path::new("/packages/web/lib/util.js.old"));
        assert_eq!(
            temp_beside(file),
            Path::new("/packages/web/lib/.util.js.jobhost-tmp")
        );
    }
}
