//! Package names, and the systemd unit each package runs as.
//!
//! A name reaches a unit name (argv of systemd-run and systemctl) and two
//! file names under `/packages/.jobhost`, so it is checked before anything
//! else: 1–64 characters of `[A-Za-z0-9._-]`, not starting with `.` or `-`
//! (never an option, never a hidden or relative path). Every such name
//! makes a valid unit name: systemd allows `[A-Za-z0-9:_.\-@]` and 255
//! characters.

use crate::report::{codes, JobError};
use serde_json::Value;

/// The longest package name.
pub const MAX_PACKAGE_NAME_CHARS: usize = 64;

/// The unit a package runs as: `jobhost-package-<packageName>.service`.
/// The prefix keeps packages apart from the device's own units, so a job
/// can never stop or replace `sshd.service`.
pub fn unit_name(package: &str) -> String {
    format!("jobhost-package-{package}.service")
}

/// Whether `name` is a valid package name; `Err` says why not.
pub fn check_package_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("packageName {name:?} {why}"));
    if name.is_empty() || name.chars().count() > MAX_PACKAGE_NAME_CHARS {
        return bad(&format!(
            "must be 1 to {MAX_PACKAGE_NAME_CHARS} characters long"
        ));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return bad("must not start with `.` or `-`");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(&format!(
            "contains {c:?}: only letters, digits, `.`, `_` and `-` are allowed"
        ));
    }
    Ok(())
}

/// The document's `packageName`, checked. `missing` is the message
/// jobs-agent.js gives when there is none (it differs per operation).
pub fn package_name(value: Option<&Value>, missing: &str) -> Result<String, JobError> {
    match value {
        None | Some(Value::Null) => Err(JobError::rejected(codes::UNNAMED_PACKAGE, missing)),
        Some(Value::String(name)) => match check_package_name(name) {
            Ok(()) => Ok(name.clone()),
            Err(why) => Err(JobError::rejected(codes::INVALID_PACKAGE_NAME, why)),
        },
        Some(other) => Err(JobError::rejected(
            codes::INVALID_PACKAGE_NAME,
            format!("packageName must be a string, not {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_that_are_safe_as_units_and_files_pass() {
        for good in ["a", "web", "my-app_2.0", "A.b-c", &"x".repeat(64)] {
            assert_eq!(check_package_name(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn options_paths_and_odd_characters_are_refused() {
        for bad in [
            "",
            ".hidden",
            "-rf",
            "..",
            "a/b",
            "a b",
            "a@b",
            "a:b",
            "naïve",
            "a\nb",
            &"x".repeat(65),
        ] {
            assert!(check_package_name(bad).is_err(), "{bad:?} passed");
        }
        assert_eq!(
            check_package_name("-rf"),
            Err("packageName \"-rf\" must not start with `.` or `-`".into())
        );
    }

    #[test]
    fn a_missing_name_is_unnamed_and_a_bad_one_invalid() {
        let missing = package_name(None, "no packageName property specified").unwrap_err();
        assert_eq!(missing.code, codes::UNNAMED_PACKAGE);
        assert_eq!(missing.message, "no packageName property specified");
        assert!(!missing.retryable);
        let null = package_name(Some(&Value::Null), "m").unwrap_err();
        assert_eq!(null.code, codes::UNNAMED_PACKAGE);
        for bad in [json!("../etc"), json!(7)] {
            let e = package_name(Some(&bad), "m").unwrap_err();
            assert_eq!(e.code, codes::INVALID_PACKAGE_NAME, "{bad}");
            assert!(!e.retryable);
        }
        assert_eq!(package_name(Some(&json!("web")), "m").unwrap(), "web");
    }

    #[test]
    fn the_unit_is_the_name_with_a_prefix() {
        assert_eq!(unit_name("web"), "jobhost-package-web.service");
        let longest = unit_name(&"x".repeat(MAX_PACKAGE_NAME_CHARS));
        assert!(longest.len() <= 255);
    }
}
