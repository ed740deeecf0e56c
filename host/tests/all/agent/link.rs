//! A TCP link between the agent and the broker that the test can cut: every
//! open connection is dropped at once and new ones are closed on arrival
//! until the link is restored. To the agent this is the network (or the
//! broker) going away and coming back, at a moment the test chooses.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The link; its tasks (and every connection through it) end when dropped.
pub struct Link {
    addr: SocketAddr,
    /// Whether connections are let through, and how many cuts so far: a
    /// connection lives until the count moves, so a cut followed at once
    /// by a restore still drops it.
    state: watch::Sender<State>,
    /// How many connections have been let through so far.
    forwarded: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl Link {
    /// Listens on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the link");
        let addr = listener.local_addr().expect("link address");
        let (state_tx, state) = watch::channel(State { up: true, cuts: 0 });
        let (count, forwarded) = watch::channel(0usize);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let State { up, cuts } = *state.borrow();
                if !up {
                    drop(client);
                    continue;
                }
                count.send_modify(|n| *n += 1);
                let mut state = state.clone();
                connections.spawn(async move {
                    tokio::select! {
                        () = forward(client, upstream) => {}
                        _ = state.wait_for(|now| now.cuts != cuts) => {}
                    }
                });
            }
        });
        Link {
            addr,
            state: state_tx,
            forwarded,
            task,
        }
    }

    /// Where the agent connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection now; refuses new ones until [`Link::restore`].
    pub fn cut(&self) {
        self.state.send_modify(|s| {
            s.up = false;
            s.cuts += 1;
        });
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.send_modify(|s| s.up = true);
    }

    /// How many connections have been let through so far.
    pub fn connections(&self) -> usize {
        *self.forwarded.borrow()
    }
}

#[derive(Clone, Copy)]
struct State {
    up: bool,
    cuts: u64,
}

impl Drop for Link {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet and every connection.
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
