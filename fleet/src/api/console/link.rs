//! One-time login links: `jobhost-fleet demo` prints one so that a
//! newcomer opens the console without copying a token.
//!
//! A link is `/console/login/link?n=<nonce>&e=<expiry>&s=<mac>`, the MAC an
//! HMAC-SHA256 of nonce and expiry under a key derived from the service's
//! credential (its bearer token, else its AWS secret key): whoever can make
//! a link could log in anyway, and nobody else can. The service remembers
//! used nonces until they expire, so a link opens one session only; a
//! restart forgets them, but a link made for the old credential is as good
//! as the credential itself.

use super::super::ApiState;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How long a link stays valid (seconds).
pub const LINK_TTL_SECS: i64 = 60 * 60;

/// A one-time login link into the console at `base_url` (the API's URL,
/// e.g. `http://127.0.0.1:8080`), for a service whose credential is
/// `credential` (its bearer token or AWS secret access key), valid for an
/// hour (`LINK_TTL_SECS`) from `now`.
pub fn login_link(base_url: &str, credential: &str, now: i64) -> Result<String, getrandom::Error> {
    let nonce = &super::session::random_hex()?[..32];
    let expires = now + LINK_TTL_SECS;
    Ok(format!(
        "{}/console/login/link?n={nonce}&e={expires}&s={}",
        base_url.trim_end_matches('/'),
        mac(credential, nonce, expires)
    ))
}

/// Why a link was refused, as the login page says it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LinkRefusal {
    NoCredential,
    Expired,
    BadSignature,
}

/// Checks a link's parts against `state`'s credential and clock.
pub(super) fn verify(
    state: &ApiState,
    nonce: &str,
    expires: i64,
    mac_hex: &str,
) -> Result<(), LinkRefusal> {
    let credential = match (&state.token, &state.aws_credentials) {
        (Some(token), _) => token.as_str(),
        (None, Some(keys)) => keys.secret_access_key(),
        (None, None) => return Err(LinkRefusal::NoCredential),
    };
    if state.now() >= expires {
        return Err(LinkRefusal::Expired);
    }
    let expected = mac(credential, nonce, expires);
    if super::super::auth::same_secret(mac_hex, &expected) {
        Ok(())
    } else {
        Err(LinkRefusal::BadSignature)
    }
}

fn mac(credential: &str, nonce: &str, expires: i64) -> String {
    let key = Sha256::new()
        .chain_update(b"jobhost-fleet console login link\n")
        .chain_update(credential.as_bytes())
        .finalize();
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{nonce}.{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
