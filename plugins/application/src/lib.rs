//! `application`: application bundles, their services, and system packages
//! (the jobs AWS-Install-Application, AWS-Remove-Application,
//! AWS-Start-Application, AWS-Stop-Application and AWS-Restart-Application
//! do on the AWS IoT Device Client).
//!
//! One plugin, seven operations, routed on the document's `operation`:
//!
//! | operation | does |
//! |---|---|
//! | `install-application` | download a `.tar.gz`, unpack to `/apps/<name>/versions/<version>`, switch `current`, restart the service, health-check, roll back on failure |
//! | `remove-application` | stop the service, delete `/apps/<name>` |
//! | `start-` / `stop-` / `restart-application` | `systemctl <verb>` for each service |
//! | `install-packages` / `remove-packages` | apt-get, dnf or yum, whichever is granted |
//!
//! Nothing here runs a shell: every program gets argv, and every name that
//! reaches argv or a path is checked first ([`words`]).
//!
//! # Layout
//!
//! - [`install`]: the install, switch, health check and rollback;
//! - [`layout`]: `/apps/<name>` and its atomic `current` link;
//! - [`unpack`]: safe `.tar.gz` extraction; [`link`]: symlinks on WASI;
//! - [`services`]: start/stop/restart and remove;
//! - [`packages`]: the package manager;
//! - [`exec`]: running programs and describing their failures;
//! - [`words`]: what names may contain.

pub mod exec;
pub mod install;
pub mod layout;
pub mod link;
pub mod mode;
pub mod packages;
pub mod services;
pub mod unpack;
pub mod words;

use jobhost_sdk::{Failure, Job, Operation, Outcome};
use packages::Action;

struct Application;

impl Operation for Application {
    fn run(job: Job) -> Result<Outcome, Failure> {
        match job.operation.as_str() {
            "install-application" => install::run(&job),
            "remove-application" => services::remove(&job),
            "start-application" => services::control(&job, "start"),
            "stop-application" => services::control(&job, "stop"),
            "restart-application" => services::control(&job, "restart"),
            "install-packages" => packages::run(&job, Action::Install),
            "remove-packages" => packages::run(&job, Action::Remove),
            other => Err(Failure::permanent(format!(
                "operation {other:?} is not one of this plugin's"
            ))),
        }
    }
}

jobhost_sdk::export!(Application);
