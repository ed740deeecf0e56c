//! Rotating the device's MQTT client certificate (needs the
//! `certificates` capability read-write: `certificates = "rw"` in the
//! manifest and in the device's `[plugins.<name>]`, plus a `download` grant
//! for the signing endpoint's host).
//!
//! The private key never enters the plugin: the host makes it, keeps it
//! next to the agent's current key, and only hands out the CSR.

use crate::bindings::jobhost::plugin::certificates as wit;
use crate::HostError;

pub use wit::CertificateInfo;

/// Makes a new key pair on the device (kept by the host) and returns a
/// PKCS#10 CSR (PEM) with the thing name as its common name.
pub fn create_csr() -> Result<String, HostError> {
    wit::create_csr()
}

/// Sends the pending CSR to `url` (POST, `application/pkcs10`) and stages
/// the certificate that comes back, once the host has checked that it is
/// for the pending key.
pub fn submit_csr(url: &str) -> Result<CertificateInfo, HostError> {
    wit::submit_csr(url)
}

/// Asks the agent to switch to the staged certificate once `run` returns
/// `Ok`; the execution ends SUCCEEDED only if the broker accepts it.
pub fn install() -> Result<(), HostError> {
    wit::install()
}
