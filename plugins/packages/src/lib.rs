//! `packages`: the packages of the AWS IoT Device SDK for JavaScript's
//! example agent (`examples/jobs-agent.js`) under jobhost's rules. The
//! host's router turns that agent's `install`, `start`, `stop`, `restart`
//! and `systemStatus` documents into the native documents here; this
//! plugin does what that agent does, step by step, and reports it with
//! the same statusDetails fields (`operation`, `step`, `fileName`,
//! `state`, `errorCode`, `errorMessage`, `rollbackError`, …).
//!
//! | operation | jobs-agent.js | does |
//! |---|---|---|
//! | `install-package` | `install` | back up, download and check files; (re)start; roll back on failure |
//! | `start-package` | `start` | start the installed package; it must stay active |
//! | `stop-package` | `stop` | stop it |
//! | `restart-package` | `restart` | stop, then start |
//! | `package-status` | `systemStatus` | the installed packages |
//!
//! There is no shell, and the agent supervises no child process: a
//! package runs as a transient systemd service ([`systemd`]).
//!
//! # Layout
//!
//! - [`install`]: the install, its checkpoints and its rollback;
//!   [`control`]: start, stop, restart; [`status`]: package-status;
//! - [`document`]: the native documents, checked; [`names`], [`paths`],
//!   [`checksum`]: what they may contain;
//! - [`record`]: the installed packages; [`pending`]: an install under
//!   way; [`rollback`]: undoing one; [`files`]: backups and atomic writes;
//! - [`systemd`]: units; [`report`]: statusDetails as jobs-agent.js
//!   reports them.

pub mod checksum;
pub mod control;
pub mod document;
pub mod files;
pub mod install;
pub mod names;
pub mod paths;
pub mod pending;
pub mod record;
pub mod report;
pub mod rollback;
pub mod status;
pub mod systemd;

use jobhost_sdk::{Failure, Job, Operation, Outcome};
use report::{codes, JobError, Op};

struct Packages;

impl Operation for Packages {
    fn run(job: Job) -> Result<Outcome, Failure> {
        match Op::from_operation(&job.operation) {
            Some(Op::Install) => install::run(&job),
            Some(op @ (Op::Start | Op::Stop | Op::Restart)) => control::run(&job, op),
            Some(Op::Status) => status::run(&job),
            None => Err(JobError::rejected(
                codes::UNEXPECTED,
                format!("operation {:?} is not one of this plugin's", job.operation),
            )
            .into_failure_of(&job.operation)),
        }
    }
}

jobhost_sdk::export!(Packages);
