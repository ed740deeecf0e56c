//! Calls into the agent: progress, checkpoints, cancellation.

use crate::bindings::jobhost::plugin::host as wit;
use crate::HostError;
use serde::Serialize;

/// Reports progress as statusDetails of an IN_PROGRESS update. The agent
/// rate-limits these, keeping the newest, so call it as often as is natural.
pub fn progress(details: &[(&str, &str)]) -> Result<(), HostError> {
    let details: Vec<(String, String)> = details
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wit::progress(&details)
}

/// Saves a resume point (at most 1024 bytes). It is durable when this
/// returns `Ok` (unless the plugin saves them faster than the agent's
/// progress interval: then the newest is written within one interval), and
/// comes back as [`crate::Job::checkpoint_text`] if the execution is
/// interrupted and run again.
pub fn checkpoint(state: &str) -> Result<(), HostError> {
    wit::checkpoint(state)
}

/// Saves `state` serialised as JSON; read it back with
/// [`crate::Job::checkpoint`].
pub fn checkpoint_json<T: Serialize>(state: &T) -> Result<(), HostError> {
    let text = serde_json::to_string(state)
        .map_err(|e| HostError::InvalidArgument(format!("checkpoint is not serialisable: {e}")))?;
    checkpoint(&text)
}

/// Whether the job was cancelled or timed out. Poll it between steps of long
/// work and return promptly (any `Err` will do: nothing more is reported).
pub fn cancelled() -> bool {
    wit::cancelled()
}

/// A one-line, human-readable description of a refused host call (the
/// generated `Display` prints the Rust debug form instead).
pub fn describe(error: &HostError) -> String {
    match error {
        HostError::NotPermitted(m) => format!("not permitted: {m}"),
        HostError::InvalidArgument(m) => format!("invalid argument: {m}"),
        HostError::LimitExceeded(m) => format!("limit exceeded: {m}"),
        HostError::Cancelled => "the job was cancelled".to_owned(),
        HostError::Failed(m) => format!("failed: {m}"),
    }
}
