//! The HTTP client every transfer a plugin (or the host on its behalf)
//! makes goes through, and what keeps presigned credentials out of logs.
//!
//! One client for the process: no redirects (they could leave the
//! allow-list) and a resolver that never lets an allowed *name* reach the
//! device itself.

use std::sync::OnceLock;
use std::time::Duration;

/// The shared client.
pub(crate) fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            // Redirects could leave the allow-list; refuse them.
            .redirect(reqwest::redirect::Policy::none())
            // An allowed NAME must not lead to the device itself or to a
            // link-local metadata service (DNS rebinding); an operator who
            // means loopback lists the address itself, which bypasses DNS.
            .dns_resolver(std::sync::Arc::new(NoLocalResolver))
            .build()
            .unwrap_or_default()
    })
}

/// Resolves names like the system does, then drops loopback, unspecified
/// and link-local addresses; a name left with none is an error.
struct NoLocalResolver;

impl reqwest::dns::Resolve for NoLocalResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<std::net::SocketAddr> =
                all.iter().copied().filter(|a| !is_local(a.ip())).collect();
            if public.is_empty() && !all.is_empty() {
                return Err(format!(
                    "{host} resolves only to loopback or link-local addresses; \
                     list the address itself in the allow-list to allow it"
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// The device itself, "any", or link-local (where cloud metadata lives).
pub(crate) fn is_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified() || v4.is_link_local())
        }
    }
}

/// Host calls run on a blocking thread: inside the agent that thread
/// belongs to its tokio runtime; under `jobhost run` there is none, so a
/// small one is made once.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Option<F::Output> {
    static FALLBACK: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Some(handle.block_on(future)),
        Err(_) => FALLBACK
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()
            })
            .as_ref()
            .map(|rt| rt.block_on(future)),
    }
}

/// Presigned URLs carry credentials in the query: never log them.
pub(crate) fn redact(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

/// A reqwest error with its causes, never its URL's query.
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    e.without_url_ref().to_string()
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    /// The error and its causes ("connection refused", a DNS refusal…):
    /// reqwest's own message alone says only "error sending request".
    fn without_url_ref(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), &redact(url));
        }
        text
    }
}
