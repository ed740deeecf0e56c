//! `diagnostics = true`: the plugin takes snapshots of the agent (version,
//! uptime, memory, disk, plugins, broker link, recent log lines) through
//! the host's `diagnostics` import. Left out of the embedded JSON when
//! false.

use super::RequestSpec;

/// The `diagnostics` key.
pub struct Spec;

impl RequestSpec for Spec {
    type Request = bool;
}
