//! The process-wide rustls crypto provider.

/// Makes aws-lc-rs the process-wide rustls crypto provider unless one is
/// installed already. Idempotent.
///
/// rmqtt always pulls in rustls with `ring` (through quinn) while rumqttc
/// and reqwest use `aws-lc-rs`; with both compiled in, rustls cannot pick a
/// default and any client-side TLS config built without an explicit provider
/// panics ("Could not automatically determine the process-level
/// CryptoProvider"). The broker itself passes its provider
/// explicitly, but clients in the same process (the jobs service, tests)
/// need this.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}
