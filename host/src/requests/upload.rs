//! `upload = true`: the plugin sends files by HTTP PUT through the host's
//! `upload` import (to the hosts the operator lists). Left out of the
//! embedded JSON when false.

use super::RequestSpec;

/// The `upload` key.
pub struct Spec;

impl RequestSpec for Spec {
    type Request = bool;
}
