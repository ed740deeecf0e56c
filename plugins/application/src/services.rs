//! `start-application`, `stop-application`, `restart-application`
//! (`systemctl <verb>` for each listed service, in order) and
//! `remove-application` (stop its service, delete `/apps/<name>`).

use crate::exec::{self, Ran, GRANT_HINT};
use crate::layout::{remove_any, AppDir};
use crate::words::{check_app_name, check_list, check_service, Words};
use jobhost_sdk::{host, log, Failure, Job, Outcome};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesDocument {
    #[allow(dead_code)]
    operation: String,
    services: Words,
}

/// Runs `systemctl <verb>` for every service of the document, stopping at
/// the first that fails. All names are checked before anything runs.
pub fn control(job: &Job, verb: &str) -> Result<Outcome, Failure> {
    let doc: ServicesDocument = job.document()?;
    let services = doc.services.into_vec();
    check_list("services", &services, check_service)?;
    for (i, service) in services.iter().enumerate() {
        let _ = host::progress(&[("step", verb), ("service", service)]);
        exec::systemctl(verb, service)
            .map_err(|ran| systemctl_failure(ran, verb, service).detail("servicesDone", i))?;
        log::info(&format!("systemctl {verb} {service}: done"));
    }
    Ok(Outcome::new()
        .detail("action", verb)
        .detail("services", services.join(" ")))
}

/// The failure of `systemctl <verb> <service>`: REJECTED when systemctl
/// is not granted, FAILED (naming the service, with the end of its stderr)
/// otherwise.
pub fn systemctl_failure(ran: Ran, verb: &str, service: &str) -> Failure {
    let failure = match &ran {
        Ran::Refused(_) => Failure::permanent(format!(
            "systemctl {verb} {service}: {} (grant systemctl in {GRANT_HINT})",
            ran.message()
        )),
        Ran::Failed { .. } => ran.into_failure(&format!("systemctl {verb} {service} failed")),
    };
    failure.detail("service", service)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveDocument {
    #[allow(dead_code)]
    operation: String,
    name: String,
    service: Option<String>,
}

/// Stops the service (if named), then deletes `/apps/<name>`: `current`
/// first, so that a removal cut short never leaves an app that looks
/// installed. A service that will not stop fails the job and nothing is
/// deleted (files are not pulled from under a running program).
pub fn remove(job: &Job) -> Result<Outcome, Failure> {
    let doc: RemoveDocument = job.document()?;
    check_app_name(&doc.name)?;
    if let Some(service) = &doc.service {
        check_service(service)?;
    }
    let app = AppDir::new(&doc.name);
    if let Some(service) = &doc.service {
        let _ = host::progress(&[("step", "stopping"), ("service", service)]);
        exec::systemctl("stop", service).map_err(|ran| systemctl_failure(ran, "stop", service))?;
    }
    let root = app.root();
    let exists = std::fs::symlink_metadata(root).is_ok();
    if exists {
        let _ = host::progress(&[("step", "removing"), ("name", &doc.name)]);
        app.unset_current()
            .and_then(|()| remove_any(root))
            .map_err(|e| Failure::retryable(format!("cannot remove {}: {e}", root.display())))?;
        log::info(&format!("removed {}", root.display()));
    } else {
        log::info(&format!("{} is not installed: nothing to remove", doc.name));
    }
    Ok(Outcome::new()
        .detail("name", &doc.name)
        .detail("removed", exists))
}
