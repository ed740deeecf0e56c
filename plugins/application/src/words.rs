//! What a document may name: applications, versions, systemd units and
//! packages. Every name ends up either in a path under `/apps` or in a
//! program's argv, so each is checked against a small character set before
//! anything runs; a bad name is REJECTED (no retry can fix it).

use jobhost_sdk::Failure;
use serde::Deserialize;

/// Longest application name or version (a path component).
pub const MAX_NAME_CHARS: usize = 64;

/// Longest systemd unit name (systemd's own limit, `UNIT_NAME_MAX`).
pub const MAX_SERVICE_CHARS: usize = 256;

/// Longest package name, with a version or architecture qualifier.
pub const MAX_PACKAGE_CHARS: usize = 128;

/// Most services or packages in one document.
pub const MAX_ITEMS: usize = 256;

/// A list given as a JSON array, or — as the AWS IoT Device Client's
/// `install-packages.sh` and `start-services.sh` handlers take it — as one
/// string of space-separated words.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Words {
    /// `["a", "b"]`
    List(Vec<String>),
    /// `"a b"`
    Text(String),
}

impl Words {
    /// The items, with a space-separated string split on whitespace.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Words::List(items) => items,
            Words::Text(text) => text.split_whitespace().map(str::to_owned).collect(),
        }
    }
}

/// Checks an application name: 1–64 characters of `[a-zA-Z0-9._-]`, not
/// starting with `.` (so never `.` or `..`, and never the plugin's own
/// hidden staging names) nor `-`.
pub fn check_app_name(name: &str) -> Result<(), Failure> {
    check_component("application name", name, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
    })
}

/// Checks a version: 1–64 characters of `[a-zA-Z0-9.+_-]` (semver with
/// pre-release and build metadata fits), starting with a letter or digit.
/// It names a directory under `/apps/<name>/versions/`.
pub fn check_version(version: &str) -> Result<(), Failure> {
    check_component("version", version, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '_' | '-')
    })
}

fn check_component(what: &str, value: &str, allowed: impl Fn(char) -> bool) -> Result<(), Failure> {
    let bad = |why: &str| Err(Failure::permanent(format!("{what} {value:?} {why}")));
    if value.is_empty() || value.chars().count() > MAX_NAME_CHARS {
        return bad(&format!("must be 1-{MAX_NAME_CHARS} characters"));
    }
    if value.starts_with(['.', '-']) {
        return bad("must not start with `.` or `-`");
    }
    match value.chars().find(|c| !allowed(*c)) {
        Some(c) => bad(&format!("contains {c:?}, which is not allowed")),
        None => Ok(()),
    }
}

/// Checks a systemd unit name: 1–256 characters of `[a-zA-Z0-9@._:-]`,
/// not starting with `-` (which systemctl would read as an option).
pub fn check_service(service: &str) -> Result<(), Failure> {
    check_argument("service name", service, MAX_SERVICE_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | ':' | '-')
    })
}

/// Checks a package name as apt-get, dnf and yum take it: 1–128 characters
/// of `[a-zA-Z0-9.+_:=~-]` (Debian and RPM name characters, plus `:` for an
/// architecture or epoch, `=` and `~` for a pinned version), starting with a
/// letter or digit, so never an option.
pub fn check_package(package: &str) -> Result<(), Failure> {
    check_argument("package name", package, MAX_PACKAGE_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '_' | ':' | '=' | '~' | '-')
    })?;
    if !package.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Failure::permanent(format!(
            "package name {package:?} must start with a letter or digit"
        )));
    }
    Ok(())
}

fn check_argument(
    what: &str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), Failure> {
    let bad = |why: &str| Err(Failure::permanent(format!("{what} {value:?} {why}")));
    if value.is_empty() || value.chars().count() > max {
        return bad(&format!("must be 1-{max} characters"));
    }
    if value.starts_with('-') {
        return bad("must not start with `-`");
    }
    match value.chars().find(|c| !allowed(*c)) {
        Some(c) => bad(&format!("contains {c:?}, which is not allowed")),
        None => Ok(()),
    }
}

/// A non-empty list of at most [`MAX_ITEMS`] items, each passing `check`.
pub fn check_list(
    what: &str,
    items: &[String],
    check: impl Fn(&str) -> Result<(), Failure>,
) -> Result<(), Failure> {
    if items.is_empty() {
        return Err(Failure::permanent(format!("`{what}` is empty")));
    }
    if items.len() > MAX_ITEMS {
        return Err(Failure::permanent(format!(
            "`{what}` has {} items: at most {MAX_ITEMS} are allowed",
            items.len()
        )));
    }
    items.iter().try_for_each(|item| check(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_are_safe_path_components() {
        for ok in ["myapp", "my-app_2.x", "A1"] {
            assert!(check_app_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".staging",
            "-x",
            "a/b",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(check_app_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["1.2.0", "1.2.0-rc.1+build.5", "2024_01"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", ".1", "1/2", "1\\2", "-1"] {
            assert!(check_version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn services_and_packages_can_never_be_options() {
        assert!(check_service("getty@tty1.service").is_ok());
        assert!(check_service("a:b-c_d.socket").is_ok());
        for bad in ["", "-H", "--host=x", "a b", "a;b", "a/b"] {
            assert!(check_service(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "lftp",
            "libc6:amd64",
            "nginx=1.22-1~deb12u1",
            "g++",
            "python3.11",
        ] {
            assert!(check_package(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-o", "--force-yes", "+x", "a b", "a/b", "*", "$(id)"] {
            assert!(check_package(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn words_split_a_space_separated_string() {
        let w: Words = serde_json::from_str(r#"" lftp  dos2unix ""#).unwrap();
        assert_eq!(w.into_vec(), ["lftp", "dos2unix"]);
        let w: Words = serde_json::from_str(r#"["lftp"]"#).unwrap();
        assert_eq!(w.into_vec(), ["lftp"]);
        assert!(check_list("packages", &[], check_package).is_err());
    }
}
