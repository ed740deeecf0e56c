//! The process-wide rustls crypto provider.

/// Makes ring the process-wide rustls crypto provider unless one is
/// installed already. Idempotent.
///
/// ring is the agent's provider too (`jobhost::crypto` says why). rmqtt
/// pulls in rustls with `aws-lc-rs` as well, for its own listener, to which
/// it passes that provider explicitly; with both compiled in, rustls cannot
/// pick a default, and reqwest, built without a provider of its own, needs
/// one installed: any client-side TLS config or HTTP client built before
/// this would panic.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
