//! A TCP proxy in front of a broker (or an HTTP server) that holds every
//! connection it accepts until the test opens it: a client behind it has
//! reached the network but cannot hear from the server, for as long as the
//! test wants, without any timing assumption. Never opened, it is a server
//! that never answers.

use std::net::SocketAddr;

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
