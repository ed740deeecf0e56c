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
//! - [`topics`]: the `$aws/things/{thing}/jobs/...` topic map.
//! - [`execution`]: JobExecution, its state and summary.
//! - [`requests`], [`responses`], [`error`]: the payload of every topic.
//! - [`codesign`]: the detached signature over a file jobs download, as
//!   `jobhost artifact sign` writes it and job documents carry it.
//! - [`diagnostics`]: the snapshot a plugin granted `diagnostics` gets,
//!   shared by the agent and the SDK.
#![deny(missing_docs)]

pub mod codesign;
pub mod diagnostics;
pub mod error;
pub mod execution;
pub mod limits;
pub mod requests;
pub mod responses;
pub mod status;
pub mod status_details;
pub mod topics;

pub use error::{ErrorCode, ErrorResponse};
pub use execution::{JobExecution, JobExecutionState, JobExecutionSummary, Timestamp};
pub use status::{JobExecutionStatus, TerminalStatus};
pub use status_details::StatusDetails;
pub use topics::JobsTopic;
