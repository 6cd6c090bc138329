//! The example server's connection limits against slow and greedy clients,
//! over real sockets: a body or headers sent a byte at a time are cut off at
//! their deadline (not an idle timer), a client that never reads its answers
//! is closed at the write deadline, one address cannot hold more than its
//! share of connections, and the metrics listener has the same limits. See
//! `tests/server_support` for the harness.
#![cfg(unix)]

use crate::server_support;

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use server_support::*;

fn address(server: &Server) -> SocketAddr {
    server
        .issuer
        .trim_start_matches("http://")
        .parse()
        .expect("a socket address")
}

/// The metrics listener's address, from the banner.
fn metrics_address(server: &Server) -> SocketAddr {
    let line = server
        .banner
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("metrics:"))
        .expect("a metrics line in the banner");
    line.trim()
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A connection to `to` from the loopback address `from` (127.0.0.0/8 is
/// all loopback on Linux).
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{from}:0").parse().unwrap())
        .expect("bind a loopback source address");
    let stream = socket.connect(to).await.unwrap().into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// Sends `bytes` one at a time, `gap` apart, reading whatever comes back,
/// until the server closes the connection or `limit` passes. Returns when it
/// was closed (`None`: never) and what was read.
fn trickle(
    stream: &mut TcpStream,
    bytes: &[u8],
    gap: Duration,
    limit: Duration,
) -> (Option<Duration>, String) {
    stream.set_read_timeout(Some(gap)).unwrap();
    let started = Instant::now();
    let mut read = Vec::new();
    let mut next = bytes.iter();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < limit {
        if let Some(byte) = next.next()
            && stream.write_all(&[*byte]).is_err()
        {
            return (
                Some(started.elapsed()),
                String::from_utf8_lossy(&read).into(),
            );
        }
        match stream.read(&mut buffer) {
            Ok(0) => {
                return (
                    Some(started.elapsed()),
                    String::from_utf8_lossy(&read).into(),
                );
            }
            Ok(n) => read.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                return (
                    Some(started.elapsed()),
                    String::from_utf8_lossy(&read).into(),
                );
            }
        }
    }
    (None, String::from_utf8_lossy(&read).into())
}

/// Reads until the server closes (`Some(read)`) or `limit` passes (`None`).
fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut read = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(String::from_utf8_lossy(&read).into()),
            Ok(n) => read.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(String::from_utf8_lossy(&read).into()),
        }
    }
}

/// Attack finding: a `/token` body sent a byte every 8 s stayed open past
/// 72 s with `--read-timeout 10`, the timer restarting at every byte. The
/// body now has a deadline from its headers: a byte every 400 ms is cut off
/// at `--read-timeout` (2 s) with `408` and an RFC 6749 §5.2 error.
#[test]
fn a_body_sent_a_byte_at_a_time_is_cut_off_at_the_read_deadline() {
    let server = Server::start_with(&["--read-timeout", "2"]);
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    write!(
        stream,
        "POST /token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
        address(&server)
    )
    .unwrap();
    let body = [b'a'; 100];
    let (closed, answer) = trickle(
        &mut stream,
        &body,
        Duration::from_millis(400),
        Duration::from_secs(10),
    );
    let closed = closed.expect("the connection was never closed");
    assert!(
        closed < Duration::from_millis(3500),
        "closed after {closed:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"invalid_request\""), "{answer}");
}

/// Headers sent a byte at a time are cut off at the read deadline too
/// (hyper's header timer is a deadline).
#[test]
fn headers_sent_a_byte_at_a_time_are_cut_off_at_the_read_deadline() {
    let server = Server::start_with(&["--read-timeout", "2"]);
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    let headers = format!(
        "GET /jwks HTTP/1.1\r\nHost: {}\r\nX-Padding: {}\r\n\r\n",
        address(&server),
        "p".repeat(100)
    );
    let (closed, answer) = trickle(
        &mut stream,
        headers.as_bytes(),
        Duration::from_millis(300),
        Duration::from_secs(10),
    );
    let closed = closed.expect("the connection was never closed");
    assert!(
        closed < Duration::from_millis(3500),
        "closed after {closed:?}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
}

/// Attack finding: connections that pipeline requests and never read the
/// answers were never closed. Once the answers fill the socket, the
/// connection is closed at `--write-timeout`; the client gets a fraction of
/// what it asked for.
#[tokio::test]
async fn a_client_that_never_reads_is_closed_at_the_write_deadline() {
    let server = Server::start_with(&["--write-timeout", "1", "--read-timeout", "30"]);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(address(&server))
        .await
        .unwrap()
        .into_std()
        .unwrap();
    stream.set_nonblocking(false).unwrap();
    let host = address(&server);
    // 400 answers of about 20 kB: more than the socket buffers hold.
    let requests = format!("GET /openapi.yaml HTTP/1.1\r\nHost: {host}\r\n\r\n").repeat(400);
    stream.write_all(requests.as_bytes()).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    let read = read_to_close(&mut stream, Duration::from_secs(5))
        .expect("the connection is still open after the write deadline");
    assert!(started.elapsed() < Duration::from_secs(5));
    let answers = read.matches("HTTP/1.1 200").count();
    assert!(answers < 400, "{answers} answers");
}

/// Attack finding: 1,030 connections from one address left other clients
/// unanswered. With `--max-connections-per-address 2`, a third connection
/// from 127.0.0.1 is answered `429` with an RFC 6749 error and closed, while
/// 127.0.0.2 is still served.
#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_refused_and_other_addresses_served() {
    let server =
        Server::start_with(&["--max-connections-per-address", "2", "--read-timeout", "30"]);
    assert!(
        server
            .banner
            .contains("2 per address (--max-connections-per-address)"),
        "{}",
        server.banner
    );
    let to = address(&server);
    let _first = connect_from("127.0.0.1", to).await;
    let _second = connect_from("127.0.0.1", to).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect_from("127.0.0.1", to).await;
    let refused = read_to_close(&mut third, Duration::from_secs(5)).expect("closed");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(
        refused.contains("\"error\":\"temporarily_unavailable\""),
        "{refused}"
    );

    let mut other = connect_from("127.0.0.2", to).await;
    write!(
        other,
        "GET /jwks HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let answer = read_to_close(&mut other, Duration::from_secs(5)).expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Once one of the first two closes, 127.0.0.1 is served again.
    drop(_first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect_from("127.0.0.1", to).await;
    write!(
        again,
        "GET /jwks HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let answer = read_to_close(&mut again, Duration::from_secs(5)).expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Attack finding: 1,100 idle connections to the metrics listener used up
/// the descriptors. It has the main listener's limits: idle connections are
/// closed at `--read-timeout`, and one address gets at most its share.
#[tokio::test]
async fn the_metrics_listener_has_the_same_timeouts_and_connection_cap() {
    let server = Server::start_with(&[
        "--metrics-addr",
        "127.0.0.1:0",
        "--max-connections-per-address",
        "2",
        "--read-timeout",
        "1",
    ]);
    let metrics = metrics_address(&server);
    let mut idle = connect_from("127.0.0.1", metrics).await;
    let started = Instant::now();
    read_to_close(&mut idle, Duration::from_secs(5)).expect("an idle connection is closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let _first = connect_from("127.0.0.1", metrics).await;
    let _second = connect_from("127.0.0.1", metrics).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect_from("127.0.0.1", metrics).await;
    let refused = read_to_close(&mut third, Duration::from_secs(5)).expect("closed");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");

    let mut other = connect_from("127.0.0.2", metrics).await;
    write!(
        other,
        "GET /metrics HTTP/1.1\r\nHost: {metrics}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let answer = read_to_close(&mut other, Duration::from_secs(5)).expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
