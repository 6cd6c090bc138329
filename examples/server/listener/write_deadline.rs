//! A deadline for writing responses: a connection whose peer stops reading
//! (or reads a byte now and then) is closed once a response has waited that
//! long for room in the socket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pin_project! {
    /// A connection whose writes fail with [`io::ErrorKind::TimedOut`] once
    /// a response has been blocked for `timeout`.
    ///
    /// hyper hands a response to the socket in `poll_write` calls and ends
    /// with `poll_flush` once all of it is written; the clock starts at the
    /// first write that finds the socket full and stops at that flush. It is
    /// a deadline, not an idle timer: a peer reading a byte now and then
    /// does not restart it.
    pub struct WriteDeadline<T> {
        #[pin]
        inner: T,
        // Armed at the first block; boxed, as hyper needs the connection
        // `Unpin`.
        sleep: Option<Pin<Box<Sleep>>>,
        timeout: Duration,
        blocked: bool,
    }
}

impl<T> WriteDeadline<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            sleep: None,
            timeout,
            blocked: false,
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the peer did not read the response in time",
    )
}

impl<T: AsyncWrite> WriteDeadline<T> {
    /// Called when the socket is full: starts the clock if it is not
    /// running, and fails once it has run out.
    fn blocked<R>(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let this = self.project();
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now())));
        if !*this.blocked {
            *this.blocked = true;
            sleep.as_mut().reset(Instant::now() + *this.timeout);
        }
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Err(timed_out()))
    }
}

impl<T: AsyncRead> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl<T: AsyncWrite> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.as_mut().project().inner.poll_write(cx, buf) {
            Poll::Pending => self.blocked(cx),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.as_mut().project().inner.poll_write_vectored(cx, bufs) {
            Poll::Pending => self.blocked(cx),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().project().inner.poll_flush(cx) {
            Poll::Pending => self.blocked(cx),
            Poll::Ready(result) => {
                // The whole response is in the socket: the clock stops.
                *self.project().blocked = false;
                Poll::Ready(result)
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().project().inner.poll_shutdown(cx) {
            Poll::Pending => self.blocked(cx),
            ready => ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    /// A peer that never reads: the write fails after the deadline instead
    /// of waiting for ever.
    #[tokio::test]
    async fn a_write_the_peer_never_reads_times_out() {
        let (ours, _theirs) = tokio::io::duplex(16);
        let mut io = WriteDeadline::new(ours, Duration::from_millis(300));
        let started = Instant::now();
        let error = io.write_all(&[0; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// A peer that reads a byte now and then does not restart the clock.
    #[tokio::test]
    async fn a_peer_reading_slowly_does_not_restart_the_clock() {
        use tokio::io::AsyncReadExt as _;
        let (ours, mut theirs) = tokio::io::duplex(16);
        tokio::spawn(async move {
            let mut byte = [0u8; 1];
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if theirs.read(&mut byte).await.unwrap_or(0) == 0 {
                    break;
                }
            }
        });
        let mut io = WriteDeadline::new(ours, Duration::from_millis(300));
        let started = Instant::now();
        // 1 kB at a byte per 50 ms would take 50 s.
        let error = io.write_all(&[0; 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// Flushing a fully written response stops the clock: a later response
    /// gets a deadline of its own.
    #[tokio::test]
    async fn each_response_gets_its_own_deadline() {
        use tokio::io::AsyncReadExt as _;
        let (ours, mut theirs) = tokio::io::duplex(16);
        let mut io = WriteDeadline::new(ours, Duration::from_millis(100));
        io.write_all(&[0; 8]).await.unwrap();
        io.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut buf = [0u8; 8];
        theirs.read_exact(&mut buf).await.unwrap();
        io.write_all(&[0; 8]).await.unwrap();
        io.flush().await.unwrap();
    }
}
