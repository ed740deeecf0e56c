//! `start-package`, `stop-package`, `restart-package`: jobs-agent.js's
//! `start`, `stop` and `restart`, on the package's systemd unit.
//!
//! - stop: `systemctl stop`; a unit that is not loaded (never started, or
//!   ended) is stopped already, as jobs-agent.js finds no process to kill.
//!   The record is not needed, so a package whose record was lost can
//!   still be stopped.
//! - start: the package must be installed (`no package installed called:
//!   X`, REJECTED) and not running (`package already running`); it is
//!   started and must stay active through its startup check.
//! - restart: stop (`stopping running package`), then start.
//!
//! Start and restart first undo an install of the package that never
//! finished, so that they never start a half-replaced set of files.

use crate::document;
use crate::names::unit_name;
use crate::paths::STATE_DIR;
use crate::record::{find, Records};
use crate::report::{codes, JobError, Op};
use crate::rollback::recover_any;
use crate::systemd;
use jobhost_sdk::{Failure, Job, Outcome};
use std::path::Path;

/// Runs one attempt at a start, stop or restart job (`op`).
pub fn run(job: &Job, op: Op) -> Result<Outcome, Failure> {
    document::named(job)
        .and_then(|name| match op {
            Op::Stop => stop(&name),
            _ => start(op, &name),
        })
        .map_err(|e| e.into_failure(op))
}

fn stop(name: &str) -> Result<Outcome, JobError> {
    systemd::stop(&unit_name(name))
        .map_err(|e| e.into_error(codes::UNABLE_TO_STOP_PACKAGE, None))?;
    Ok(Op::Stop.done("package stopped"))
}

/// Start, or restart when `op` is [`Op::Restart`].
fn start(op: Op, name: &str) -> Result<Outcome, JobError> {
    let state = Path::new(STATE_DIR);
    let records = Records::at(state);
    recover_any(op, name, &records, state)?;
    let packages = records.load().map_err(|e| {
        JobError::failed(
            codes::UNEXPECTED,
            format!("cannot read {}: {e}", records.path().display()),
        )
    })?;
    let Some(package) = find(&packages, name) else {
        return Err(JobError::rejected(
            codes::INVALID_PACKAGE_NAME,
            format!("no package installed called: {name}"),
        ));
    };
    let Some(argv) = &package.launch_command else {
        return Err(JobError::rejected(
            codes::UNABLE_TO_START_PACKAGE,
            format!("package {name} has no launchCommand"),
        ));
    };
    let unit = unit_name(name);
    if op == Op::Restart {
        op.progress("stopping running package", None);
        systemd::stop(&unit).map_err(|e| {
            e.into_error(
                codes::UNABLE_TO_STOP_PACKAGE,
                Some("unable to stop package for restart"),
            )
        })?;
    }
    op.progress("starting package, checking stability", None);
    let running = systemd::inactive(&unit)
        .map_err(|e| e.into_error(codes::UNABLE_TO_START_PACKAGE, None))?
        .is_none();
    if running {
        let message = "package already running";
        return Err(JobError::failed(codes::UNABLE_TO_START_PACKAGE, message)
            .because(format!("{message}: {unit} is active")));
    }
    systemd::start_and_check(
        &unit,
        &package.device_working_directory,
        argv,
        package.startup_check_secs,
    )
    .map_err(|e| e.into_error(codes::UNABLE_TO_START_PACKAGE))?;
    Ok(op.done("package started"))
}
