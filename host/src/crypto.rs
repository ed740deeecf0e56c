//! The agent's TLS crypto: rustls on ring.
//!
//! Every TLS connection the agent makes (MQTT, downloads, uploads, the
//! certificate authority) and the key pair of a certificate rotation use
//! ring: TLS 1.3 and 1.2, the X25519, P-256 and P-384 key exchanges, and
//! the ECDSA, Ed25519 and RSA certificates brokers present. aws-lc-rs,
//! rustls's default, was most of the 2.7 MB the agent's dist build lost
//! with it and a regex engine (BENCHMARKS.md, "Footprint"), for one thing
//! a device would use: the post-quantum hybrid key exchange
//! (X25519MLKEM768), which only counts where the broker offers it too
//! (SECURITY.md).

/// Makes ring the process-wide rustls crypto provider unless one is
/// installed already (a process embedding the agent's library may have
/// chosen its own). Idempotent.
///
/// rumqttc builds its TLS configuration with the process default, and
/// reqwest, built without a provider of its own, refuses to build a client
/// without one; a build holding a second provider (the tests link the jobs
/// service's aws-lc-rs) would leave rustls unable to pick.
pub fn install_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
