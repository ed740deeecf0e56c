//! `install-packages` and `remove-packages`: what the AWS managed templates
//! AWS-Install-Application and AWS-Remove-Application do with the Device
//! Client's `install-packages.sh` / `remove-packages.sh`, through the
//! system package manager.
//!
//! The manager is the first of apt-get, dnf, yum that the operator grants
//! this plugin: the host refuses a program that is not on the allow-list
//! (`not-permitted`), and that refusal is how the plugin learns which one
//! the device uses — it never looks at the file system or `PATH`.

use crate::exec::{self, Ran, GRANT_HINT};
use crate::words::{check_list, check_package, Words};
use jobhost_sdk::{host, log, Failure, HostError, Job, Outcome};
use serde::Deserialize;
use std::time::Duration;

/// How long one package manager run may take (the operator's
/// `command_timeout_secs`, 60 s by default, caps it: raise it for this
/// plugin).
const PACKAGE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Install or remove.
#[derive(Clone, Copy)]
pub enum Action {
    /// `install-packages`
    Install,
    /// `remove-packages`
    Remove,
}

/// The managers in the order they are tried, and the arguments before the
/// package names for each action. `--` ends the options, so even a name
/// that slipped past [`check_package`] could not be read as one.
fn managers(action: Action) -> [(&'static str, &'static [&'static str]); 3] {
    match action {
        Action::Install => [
            (
                "apt-get",
                &["install", "-y", "--no-install-recommends", "--"],
            ),
            ("dnf", &["install", "-y", "--"]),
            ("yum", &["install", "-y", "--"]),
        ],
        Action::Remove => [
            ("apt-get", &["remove", "-y", "--"]),
            ("dnf", &["remove", "-y", "--"]),
            ("yum", &["remove", "-y", "--"]),
        ],
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[allow(dead_code)]
    operation: String,
    packages: Words,
}

/// Runs one attempt at an `install-packages` / `remove-packages` job.
pub fn run(job: &Job, action: Action) -> Result<Outcome, Failure> {
    let doc: Document = job.document()?;
    let packages = doc.packages.into_vec();
    check_list("packages", &packages, check_package)?;
    for (manager, options) in managers(action) {
        let mut args: Vec<&str> = options.to_vec();
        args.extend(packages.iter().map(String::as_str));
        let _ = host::progress(&[("step", options[0]), ("manager", manager)]);
        match exec::run(manager, &args, PACKAGE_TIMEOUT) {
            Ok(_) => {
                log::info(&format!("{manager} {}: done", options[0]));
                return Ok(Outcome::new()
                    .detail("manager", manager)
                    .detail("packages", packages.join(" ")));
            }
            Err(Ran::Refused(HostError::NotPermitted(_))) => {
                log::debug(&format!(
                    "{manager} is not granted; trying the next manager"
                ));
            }
            Err(ran) => {
                return Err(ran
                    .into_failure(&format!("{manager} {}", options[0]))
                    .detail("manager", manager))
            }
        }
    }
    Err(Failure::permanent(format!(
        "no package manager is granted to this plugin ({GRANT_HINT})"
    )))
}
