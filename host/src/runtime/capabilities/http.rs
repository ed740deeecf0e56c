//! What every HTTP transfer a plugin (or the host on its behalf) makes
//! goes through, shared by `download`, `upload` and `certificates`: the
//! allow-list rule of their grants ([`check_url`]), the one client, and
//! what keeps presigned credentials out of logs.
//!
//! One client for the process: no redirects (they could leave the
//! allow-list) and a resolver that never lets an allowed *name* reach the
//! device itself.

use std::sync::OnceLock;
use std::time::Duration;

/// The rule every network grant shares: https (or http where allowed), and
/// a host (or host:port) on the `list` allow-list.
pub(crate) fn check_url(
    hosts: &[String],
    allow_http: bool,
    url: &reqwest::Url,
    list: &str,
) -> Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err("plain http is not allowed for this plugin (https only)".into()),
        other => return Err(format!("scheme `{other}` is not allowed")),
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or_default();
    let with_port = format!("{host}:{port}");
    // A bare host allows the scheme's default port only (443, or 80 for
    // http; `Url::port` is `None` exactly then): other ports on an allowed
    // host are often admin interfaces, and need `host:port` (review L3).
    let default_port = url.port().is_none();
    if hosts.iter().any(|h| {
        (default_port && h.eq_ignore_ascii_case(host)) || h.eq_ignore_ascii_case(&with_port)
    }) {
        Ok(())
    } else {
        Err(format!(
            "host `{with_port}` is not on this plugin's {list} allow-list"
        ))
    }
}

/// The shared client.
pub(crate) fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        // reqwest is built without a TLS provider of its own.
        crate::crypto::install_provider();
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            // Redirects could leave the allow-list; refuse them.
            .redirect(reqwest::redirect::Policy::none())
            // An allowed NAME must not lead to the device itself, its
            // networks or a metadata service (DNS rebinding); an operator
            // who means such an address lists the address itself, which
            // bypasses DNS.
            .dns_resolver(std::sync::Arc::new(NoLocalResolver))
            // reqwest honours HTTP(S)_PROXY/ALL_PROXY by default, and a
            // proxy resolves the name itself: the resolver above would never
            // see it (security review L3). The agent's transfers go direct.
            .no_proxy()
            .build()
            .unwrap_or_default()
    })
}

/// Resolves names like the system does, then drops every address
/// [`is_local`] names; a name left with none is an error.
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
                    "{host} resolves only to loopback, private, link-local or other \
                     non-public addresses; list the address itself in the allow-list to allow it"
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether `ip` is not a public unicast address: the device itself, "any",
/// private networks (RFC 1918, IPv6 ULA), carrier-grade NAT, link-local
/// (where cloud metadata lives: 169.254.169.254, and AWS's IMDSv6
/// fd00:ec2::254 in the ULA range), multicast, broadcast, documentation and
/// reserved ranges, and IPv6 forms that embed such an IPv4 address
/// (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96).
pub(crate) fn is_local(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => is_local_v4(v4),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = std::net::Ipv4Addr::new(
                (s[6] >> 8) as u8,
                s[6] as u8,
                (s[7] >> 8) as u8,
                s[7] as u8,
            );
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6.to_ipv4_mapped().is_some_and(is_local_v4)
                // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
                || (s[..6] == [0; 6] && is_local_v4(embedded))
                // NAT64 64:ff9b::/96 reaches the embedded IPv4 address
                || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && is_local_v4(embedded))
        }
    }
}

fn is_local_v4(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_unspecified()
        || v4.is_private() // 10/8, 172.16/12, 192.168/16
        || v4.is_link_local() // 169.254/16
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        || a == 0 // "this network" 0/8
        || (a == 100 && (b & 0xc0) == 64) // carrier-grade NAT 100.64/10
        || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments 192.0.0/24
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || a >= 240 // reserved 240/4
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_local() {
        for ip in [
            "127.0.0.1",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "::127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(is_local(ip.parse().unwrap()), "{ip} passed as public");
        }
        for ip in [
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!is_local(ip.parse().unwrap()), "{ip} taken for local");
        }
    }

    /// Set in the child process of [`proxy_variables_are_ignored`]: where
    /// the target server listens.
    const CHILD_TARGET: &str = "JOBHOST_TEST_PROXY_CHILD";

    /// A proxy would resolve an allowed name itself, past
    /// [`NoLocalResolver`]: the client must go direct whatever the
    /// environment says. Run in a child process so that the proxy variables
    /// reach only the client built there.
    #[test]
    fn proxy_variables_are_ignored() {
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target_addr = target.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut socket, _) = target.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).unwrap();
            socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\ndirect",
                )
                .unwrap();
        });
        let out = crate::runtime::test_support::this_test_binary()
            .args([
                "--exact",
                "runtime::capabilities::http::tests::child_fetches_through_the_client",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_TARGET, target_addr.to_string())
            .env("HTTP_PROXY", &proxy_url)
            .env("http_proxy", &proxy_url)
            .env("HTTPS_PROXY", &proxy_url)
            .env("ALL_PROXY", &proxy_url)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("1 passed"),
            "the child test did not run: {text}"
        );
        server.join().unwrap();
        proxy.set_nonblocking(true).unwrap();
        assert!(
            proxy.accept().is_err(),
            "the request went through the proxy"
        );
    }

    /// The child half of [`proxy_variables_are_ignored`].
    #[test]
    #[ignore = "run by proxy_variables_are_ignored in a child process"]
    fn child_fetches_through_the_client() {
        let target = std::env::var(CHILD_TARGET).unwrap();
        // Through the proxy, the request would wait for an answer that
        // never comes (the parent's proxy never accepts): bounded.
        let body = block_on(async {
            let fetch = async {
                let response = client()
                    .get(format!("http://{target}/"))
                    .send()
                    .await
                    .unwrap();
                response.text().await.unwrap()
            };
            tokio::time::timeout(Duration::from_secs(30), fetch).await
        })
        .unwrap()
        .expect("no answer: the request went to the proxy");
        assert_eq!(body, "direct");
    }
}
