//! `[limits]` and `[plugins.<name>.limits]` resolved into
//! [`ExecutionLimits`], each value checked against a sane range.

use super::raw::RawLimits;
use super::ConfigError;
use crate::runtime::ExecutionLimits;
use std::time::Duration;

/// wasmtime's own default, enough for every first-party plugin and the
/// componentize-py interpreter.
pub const DEFAULT_MAX_STACK_BYTES: usize = 512 << 10;

/// `raw` over `base`, key by key, each checked against a sane range; `what`
/// names the table in errors.
pub(super) fn resolve_limits(
    raw: &RawLimits,
    base: &ExecutionLimits,
    what: &str,
) -> Result<ExecutionLimits, ConfigError> {
    fn ranged<T: PartialOrd + std::fmt::Display + Copy>(
        value: Option<T>,
        range: std::ops::RangeInclusive<T>,
        key: String,
    ) -> Result<Option<T>, ConfigError> {
        match value {
            Some(v) if !range.contains(&v) => Err(ConfigError::Invalid(format!(
                "{key} = {v}: must be {}-{}",
                range.start(),
                range.end()
            ))),
            v => Ok(v),
        }
    }
    let key = |k: &str| format!("{what}.{k}");
    let mut limits = base.clone();
    if let Some(t) = ranged(raw.timeout_secs, 1..=7 * 24 * 3600, key("timeout_secs"))? {
        limits.timeout = Duration::from_secs(t);
    }
    if let Some(m) = ranged(raw.memory_mib, 1..=4096, key("memory_mib"))? {
        limits.memory_bytes = m << 20;
    }
    if let Some(k) = ranged(raw.max_log_kib, 1..=1 << 20, key("max_log_kib"))? {
        limits.max_log_bytes = k << 10;
    }
    if let Some(r) = ranged(
        raw.max_log_lines_per_sec,
        1..=100_000,
        key("max_log_lines_per_sec"),
    )? {
        limits.max_log_lines_per_sec = r;
    }
    if let Some(k) = ranged(raw.max_details_kib, 1..=100, key("max_details_kib"))? {
        limits.max_details_bytes = k << 10;
    }
    if let Some(h) = ranged(raw.max_handles, 16..=65_536, key("max_handles"))? {
        limits.max_handles = h;
    }
    Ok(limits)
}
