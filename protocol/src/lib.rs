//! The AWS IoT Jobs device protocol, as data: no I/O, no async.
//!
//! Shared by the `jobhost` agent and the `jobhost-fleet` jobs service, so that
//! both sides agree on every field and limit.
//!
//! # Layout
//!
//! - [`status`]: the execution status and which transitions end an execution.
//! - [`status_details`]: the statusDetails map and its AWS limits, with the
//!   sanitiser the agent applies before anything reaches the cloud.
//! - [`limits`]: named limits from the AWS IoT documentation.
#![deny(missing_docs)]

pub mod limits;
pub mod status;
pub mod status_details;

pub use status::{JobExecutionStatus, TerminalStatus};
pub use status_details::StatusDetails;
