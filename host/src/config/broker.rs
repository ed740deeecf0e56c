//! `[broker]` resolved: where and how the agent connects, with the TLS
//! material read from disk.

use super::raw::RawBroker;
use super::ConfigError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Broker connection settings.
#[derive(Debug, Clone)]
pub struct Broker {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Client id.
    pub client_id: String,
    /// Credentials.
    pub credentials: Option<(String, String)>,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// Clean session flag.
    pub clean_session: bool,
    /// TLS material, read from disk.
    pub tls: Option<Tls>,
}

/// TLS material, loaded.
#[derive(Clone)]
pub struct Tls {
    /// CA PEM.
    pub ca: Vec<u8>,
    /// Device certificate and key PEM.
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
    /// Where the device certificate and key were read from: what a
    /// certificate rotation replaces (and reads again to reconnect).
    pub client_files: Option<(PathBuf, PathBuf)>,
    /// ALPN protocols.
    pub alpn: Vec<String>,
}

impl std::fmt::Debug for Tls {
    /// Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca", &format_args!("{} bytes", self.ca.len()))
            .field(
                "client_auth",
                &self.client_auth.as_ref().map(|_| "<redacted>"),
            )
            .field("alpn", &self.alpn)
            .finish()
    }
}

/// Resolves `[broker]`: reads the TLS files (relative paths anchored by
/// `resolve`) and checks the values; the client id defaults to the thing.
pub(super) fn resolve_broker(
    raw: &RawBroker,
    thing_name: &str,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<Broker, ConfigError> {
    let invalid = |m: String| ConfigError::Invalid(m);
    let tls = match &raw.tls {
        None => None,
        Some(t) => {
            let read = |p: &Path| {
                let p = resolve(p);
                std::fs::read(&p).map_err(|source| ConfigError::Read { path: p, source })
            };
            let client_files = match (&t.cert, &t.key) {
                (Some(c), Some(k)) => Some((resolve(c), resolve(k))),
                _ => None,
            };
            let client_auth = match (&t.cert, &t.key) {
                (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
                (None, None) => None,
                _ => {
                    return Err(invalid(
                        "broker.tls.cert and broker.tls.key go together".into(),
                    ))
                }
            };
            Some(Tls {
                ca: read(&t.ca)?,
                client_auth,
                client_files,
                alpn: t.alpn.clone(),
            })
        }
    };
    let credentials = match (&raw.username, &raw.password) {
        (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
        (None, Some(_)) => return Err(invalid("broker.password needs broker.username".into())),
        (None, None) => None,
    };
    let keep_alive = raw.keep_alive_secs.unwrap_or(30);
    if !(5..=1200).contains(&keep_alive) {
        return Err(invalid(format!(
            "broker.keep_alive_secs = {keep_alive}: must be 5-1200 (AWS allows 30-1200)"
        )));
    }
    Ok(Broker {
        host: raw.host.clone(),
        port: raw.port,
        client_id: raw
            .client_id
            .clone()
            .unwrap_or_else(|| thing_name.to_owned()),
        credentials,
        keep_alive: Duration::from_secs(keep_alive),
        clean_session: raw.clean_session.unwrap_or(true),
        tls,
    })
}
