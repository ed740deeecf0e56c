//! `certificates`: access to the device's certificate store, mounted at
//! `/certificates`: `"ro"` to read it, `"rw"` to rotate the device's MQTT
//! client certificate. Left out of the embedded JSON when not requested.

use super::files::Access;
use super::RequestSpec;

/// The `certificates` key.
pub struct Spec;

impl RequestSpec for Spec {
    type Request = Option<Access>;
}
