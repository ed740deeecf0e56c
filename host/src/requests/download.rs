//! `download = true`: the plugin downloads through the host's `download`
//! import (from the hosts the operator lists).

use super::RequestSpec;

/// The `download` key.
pub struct Spec;

impl RequestSpec for Spec {
    type Request = bool;
    const ALWAYS_WRITTEN: bool = true;
}
