//! `jobhost-fleet`: a self-hosted jobs service that speaks the AWS IoT Jobs
//! device protocol, so that an unmodified AWS IoT Jobs agent (ours or
//! anyone's) can be driven without AWS.
//!
//! This crate holds the durable part: [`store::Store`], the SQLite-backed
//! job and job-execution state machine that the MQTT service and the HTTP
//! control API call into. The store never reads the clock and never does
//! network I/O; every method that depends on time takes `now` (seconds since
//! the Unix epoch), so that the state machine is deterministic under test.

pub mod api;
pub mod artifacts;
pub mod broker;
pub mod certificates;
pub mod cli;
pub mod clock;
pub mod device_api;
pub mod placeholders;
pub mod presign;
pub mod server;
pub mod signed_dir;
pub mod staged;
pub mod store;
pub mod templates;
pub mod uploads;
