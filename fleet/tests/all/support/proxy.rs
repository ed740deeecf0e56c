//! A TCP proxy in front of a broker (or an HTTP server) that holds every
//! connection it accepts until the test opens it: a client behind it has
//! reached the network but cannot hear from the server, for as long as the
//! test wants, without any timing assumption. Never opened, it is a server
//! that never answers.
//!
//! And [`HttpTap`], the same idea one layer up for HTTP/1.1 downloads: it
//! records each request's head and response status, can cut the first
//! response's body short and hold later requests until the test releases
//! them (to change the world between a broken download and its retry).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The proxy; its tasks end when it is dropped (open connections too).
pub struct GatedProxy {
    addr: SocketAddr,
    accepted: watch::Receiver<usize>,
    open: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GatedProxy {
    /// Listens on a free loopback port; connections go to `upstream` once
    /// [`GatedProxy::open`] is called.
    pub async fn start(upstream: SocketAddr) -> GatedProxy {
        GatedProxy::listen().await.forward_to(upstream)
    }

    /// Listens without an upstream yet: for a server that must be told the
    /// proxy's address before it starts (its public URL).
    pub async fn listen() -> Listening {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        Listening { listener }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until a client has connected (and is being held, unless open).
    pub async fn connection_arrived(&self) {
        let mut accepted = self.accepted.clone();
        accepted
            .wait_for(|n| *n > 0)
            .await
            .expect("the proxy is running");
    }

    /// Lets held and future connections through to the upstream.
    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

/// A proxy listening, not yet forwarding (see [`GatedProxy::listen`]).
pub struct Listening {
    listener: TcpListener,
}

impl Listening {
    /// Where clients will connect.
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("proxy address")
    }

    /// Starts an [`HttpTap`] for `upstream` (an HTTP/1.1 server) instead.
    pub fn tap(self, upstream: SocketAddr, tamper: Tamper) -> HttpTap {
        HttpTap::spawn(self.listener, upstream, tamper)
    }

    /// Starts holding connections for `upstream`.
    pub fn forward_to(self, upstream: SocketAddr) -> GatedProxy {
        let listener = self.listener;
        let addr = listener.local_addr().expect("proxy address");
        let (count, accepted) = watch::channel(0usize);
        let (open, gate) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                count.send_modify(|n| *n += 1);
                let mut gate = gate.clone();
                connections.spawn(async move {
                    if gate.wait_for(|open| *open).await.is_err() {
                        return;
                    }
                    forward(client, upstream).await;
                });
            }
        });
        GatedProxy {
            addr,
            accepted,
            open,
            task,
        }
    }
}

impl Drop for GatedProxy {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every
        // connection it forwards.
        self.task.abort();
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// What an [`HttpTap`] does to the traffic besides recording it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tamper {
    /// Close the first response after this many bytes of its body, as a
    /// network that breaks mid-download does.
    pub cut_first_body_after: Option<u64>,
    /// Hold every request after the first (its head read and recorded)
    /// until [`HttpTap::release`].
    pub hold_after_first: bool,
}

/// One request through an [`HttpTap`] and what came back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    pub method: String,
    /// Path and query, as the client sent them.
    pub target: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
    /// The response's status, once its head passed.
    pub status: Option<u16>,
    pub last_modified: Option<String>,
    pub etag: Option<String>,
    pub content_range: Option<String>,
    /// Body bytes passed on to the client.
    pub body_bytes: u64,
    /// The response ended (complete, cut, or the upstream went away).
    pub done: bool,
}

impl Exchange {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The query (presigned credentials), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// An HTTP/1.1 proxy that records every exchange (see the module docs).
///
/// Each request goes upstream with `Connection: close`, so that every
/// connection carries exactly one request and a cut affects only the
/// response it cuts: the proxy needs no HTTP framing beyond the heads.
pub struct HttpTap {
    exchanges: watch::Receiver<Vec<Exchange>>,
    release: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HttpTap {
    fn spawn(listener: TcpListener, upstream: SocketAddr, tamper: Tamper) -> HttpTap {
        let (log, exchanges) = watch::channel(Vec::new());
        let (release, gate) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                connections.spawn(relay(client, upstream, tamper, log.clone(), gate.clone()));
            }
        });
        HttpTap {
            exchanges,
            release,
            task,
        }
    }

    /// Every exchange so far, in the order the requests arrived.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.borrow().clone()
    }

    /// Waits until `n` requests have arrived (held ones included); guarded
    /// by [`super::service::JOB_WAIT`]. Returns the exchanges then.
    pub async fn requests(&self, n: usize) -> Vec<Exchange> {
        let mut exchanges = self.exchanges.clone();
        let waited = tokio::time::timeout(
            super::service::JOB_WAIT,
            exchanges.wait_for(|e| e.len() >= n),
        )
        .await;
        match waited {
            Ok(Ok(e)) => e.clone(),
            Ok(Err(_)) => panic!("the tap stopped"),
            Err(_) => panic!(
                "{n} requests did not arrive within {:?}; seen: {:#?}",
                super::service::JOB_WAIT,
                self.exchanges()
            ),
        }
    }

    /// Lets held and future requests through.
    pub fn release(&self) {
        self.release.send_replace(true);
    }
}

impl Drop for HttpTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays one request and its response (see [`HttpTap`]).
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    tamper: Tamper,
    log: watch::Sender<Vec<Exchange>>,
    mut gate: watch::Receiver<bool>,
) {
    let _ = client.set_nodelay(true);
    let Some((head, body_start)) = read_head(&mut client).await else {
        return;
    };
    let (request_line, headers) = parse_head(&head);
    let mut words = request_line.split(' ');
    let exchange = Exchange {
        method: words.next().unwrap_or_default().to_owned(),
        target: words.next().unwrap_or_default().to_owned(),
        range: header(&headers, "range"),
        if_range: header(&headers, "if-range"),
        ..Exchange::default()
    };
    let mut index = 0;
    log.send_modify(|all| {
        index = all.len();
        all.push(exchange);
    });
    let update = |f: &dyn Fn(&mut Exchange)| log.send_modify(|all| f(&mut all[index]));
    if tamper.hold_after_first && index > 0 && gate.wait_for(|open| *open).await.is_err() {
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        update(&|e| e.done = true);
        return;
    };
    let _ = server.set_nodelay(true);
    let mut forwarded = format!("{request_line}\r\n");
    for (name, value) in &headers {
        if !name.eq_ignore_ascii_case("connection") {
            forwarded.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    if server.write_all(forwarded.as_bytes()).await.is_err()
        || server.write_all(&body_start).await.is_err()
    {
        update(&|e| e.done = true);
        return;
    }
    let Some((head, mut body)) = read_head(&mut server).await else {
        update(&|e| e.done = true);
        return;
    };
    let (status_line, headers) = parse_head(&head);
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok());
    let (last_modified, etag, content_range) = (
        header(&headers, "last-modified"),
        header(&headers, "etag"),
        header(&headers, "content-range"),
    );
    update(&|e| {
        e.status = status;
        e.last_modified = last_modified.clone();
        e.etag = etag.clone();
        e.content_range = content_range.clone();
    });
    let limit = tamper.cut_first_body_after.filter(|_| index == 0);
    let mut sent = 0u64;
    let _ = client.write_all(&head).await;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let mut chunk = &body[..];
        if let Some(limit) = limit {
            let room = usize::try_from(limit - sent).unwrap_or(usize::MAX);
            chunk = &chunk[..chunk.len().min(room)];
        }
        if client.write_all(chunk).await.is_err() {
            break;
        }
        sent += chunk.len() as u64;
        if limit.is_some_and(|limit| sent >= limit) {
            break;
        }
        match server.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body = buf[..n].to_vec(),
        }
    }
    // A FIN, not a reset: the client keeps every byte it was sent and sees
    // the body end early.
    let _ = client.shutdown().await;
    update(&|e| {
        e.body_bytes = sent;
        e.done = true;
    });
}

/// Reads up to the end of an HTTP head; returns the head (with its blank
/// line) and whatever came after it.
async fn read_head(stream: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = data.split_off(end + 4);
            return Some((data, rest));
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// The first line and the header fields of a head.
fn parse_head(head: &[u8]) -> (String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    (first, headers)
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}
