//! Accepting connections: HTTP/1.1 with what keeps slow or greedy clients
//! from holding the server, the same on every listener (the API and
//! `--metrics-addr`):
//!
//! - a bound on the connections served at once (`--max-connections`; more
//!   wait in the backlog), and on those open at once from one client address
//!   (`--max-connections-per-address`; more are answered `429` and closed);
//! - a deadline for each request's headers, which also closes a keep-alive
//!   connection left idle that long (`--read-timeout`);
//! - a deadline for each request's body, counted from its headers
//!   ([`body_deadline`], applied by [`crate::app::router`]; `--read-timeout`);
//! - a deadline for each response to be taken by the peer
//!   ([`write_deadline`]; `--write-timeout`), so a client that sends
//!   requests and never reads the answers is closed;
//! - a clean shutdown.
//!
//! Each request gets the peer address as a [`SocketAddr`] extension, which
//! the registration rate limit counts by.

pub mod body_deadline;
mod per_address;
mod write_deadline;

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use self::per_address::PerAddress;
use self::write_deadline::WriteDeadline;
use crate::cli::ServeArgs;

/// Limits on connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers, or its body
    /// (each counted from its start), or stay idle between two requests.
    pub header_timeout: Duration,
    /// How long a response may wait for the client to read it.
    pub write_timeout: Duration,
    /// The most connections served at once; others wait in the backlog.
    pub max_connections: usize,
    /// The most connections open at once from one client address (an IPv6
    /// /64); `0` for no cap.
    pub max_connections_per_address: usize,
    /// How long open connections may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

impl ConnectionLimits {
    /// The limits the command line sets.
    pub fn from_args(args: &ServeArgs, shutdown_grace: Duration) -> Self {
        Self {
            header_timeout: Duration::from_secs(args.read_timeout),
            write_timeout: Duration::from_secs(args.write_timeout),
            max_connections: args.max_connections,
            max_connections_per_address: args.max_connections_per_address,
            shutdown_grace,
        }
    }
}

/// The banner's line.
impl fmt::Display for ConnectionLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at once (--max-connections), ", self.max_connections)?;
        match self.max_connections_per_address {
            0 => f.write_str("no cap per address")?,
            n => write!(f, "{n} per address (--max-connections-per-address)")?,
        }
        write!(
            f,
            "; {}s to send headers or a body, or idle (--read-timeout); {}s to read a response (--write-timeout)",
            self.header_timeout.as_secs(),
            self.write_timeout.as_secs()
        )
    }
}

/// The body of the answer to a connection beyond its address's cap (an
/// RFC 6749 §5.2 error code).
const TOO_MANY: &str = r#"{"error":"temporarily_unavailable","error_description":"too many connections open from this address"}"#;

/// Serves `service` on `listener` until `shutdown` completes.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: tower::Service<http::Request<Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<crate::Error>,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = PerAddress::new(limits.max_connections_per_address);
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it was
                    // accepted: wait a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = per_address.admit(peer.ip()) else {
            refuse(stream, peer);
            continue;
        };
        let service = service.clone();
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert::<SocketAddr>(peer);
            service.clone().oneshot(request)
        });
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
            drop((permit, slot));
        });
    }
    drop(listener);
    tracing::info!("shutdown signal received; finishing open requests");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open after {:?}; stopping anyway",
            limits.shutdown_grace
        );
    }
}

/// Answers `429` without waiting (what does not fit in the socket is lost)
/// and closes.
fn refuse(stream: TcpStream, peer: SocketAddr) {
    tracing::debug!(peer = %peer.ip(), "too many connections from one address; refused");
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 5\r\n\
connection: close\r\ncontent-length: {}\r\n\r\n{TOO_MANY}",
        TOO_MANY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}
