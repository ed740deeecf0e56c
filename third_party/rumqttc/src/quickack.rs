//! jobhost patch: acknowledge every TCP segment read at once (Linux
//! `TCP_QUICKACK`), so a broker that leaves Nagle's algorithm on never holds
//! its next small packet for this client's delayed ACK.
//!
//! The stall this removes: the broker writes a PUBACK, then (a moment later)
//! a small PUBLISH. Nagle keeps the PUBLISH back until the PUBACK is
//! acknowledged, and the client's kernel, in its interactive ("ping-pong")
//! mode, delays that ACK by up to 40 ms hoping to piggyback it on data the
//! client never sends. `TCP_QUICKACK` is not sticky: the kernel leaves quick
//! mode again on its own, so it is re-armed after every read that returned
//! bytes (setting it also sends an ACK that is pending right now).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream that re-arms `TCP_QUICKACK` after each read with data.
pub(crate) struct QuickAck {
    inner: TcpStream,
}

impl QuickAck {
    pub(crate) fn new(inner: TcpStream) -> QuickAck {
        let stream = QuickAck { inner };
        stream.arm();
        stream
    }

    /// Best effort: a kernel without the option keeps delayed ACKs, which
    /// costs latency, never correctness.
    fn arm(&self) {
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        {
            let _ = socket2::SockRef::from(&self.inner).set_tcp_quickack(true);
        }
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.arm();
        }
        poll
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
