//! Logging through the agent, which tags each line with the plugin, job id
//! and execution number. Logging never fails; past the per-execution budget
//! the agent drops lines.

use crate::bindings::jobhost::plugin::host::{self as wit, Level};

/// Logs at trace level.
pub fn trace(message: &str) {
    wit::log(Level::Trace, message);
}

/// Logs at debug level.
pub fn debug(message: &str) {
    wit::log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    wit::log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    wit::log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    wit::log(Level::Error, message);
}
