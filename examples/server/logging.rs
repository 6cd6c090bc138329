//! Logs: one line per request with method, path, status, latency and the
//! client_id once known, never a header value, query string, form body, code,
//! token or secret. `RUST_LOG` picks the levels (default `info`).
//!
//! Lines are written to standard error by a background thread
//! (tracing-appender's non-blocking writer, buffered: a burst of lines is one
//! write): a request formats its line and moves on, it never waits on the
//! terminal or pipe. If the queue is full, lines are dropped rather than
//! slowing requests down.

use std::io::IsTerminal as _;

use axum::Router;
use axum::body::Body;
use http::{Request, header};
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::{Level, Span};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Sends logs to standard error, filtered by `RUST_LOG`, from a background
/// thread. Keep the guard until exit: dropping it flushes what is buffered.
pub fn init() -> WorkerGuard {
    // `RUST_LOG` is a level, or `target=level` pairs (`warn,server=debug`).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO));
    // The writer thread drains every queued line into the buffer, then
    // flushes: one write for a burst of lines, at once when traffic is low.
    let (writer, guard) =
        tracing_appender::non_blocking(std::io::BufWriter::new(std::io::stderr()));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_target(false)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
    guard
}

/// The request span: the path without its query (which carries `state` and
/// PKCE values), and a `client_id` slot the handlers fill in.
fn request_span(request: &Request<Body>) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        client_id = tracing::field::Empty,
    )
}

/// Adds request logging. Credentials-bearing headers are also marked sensitive,
/// so no layer that prints headers would show them.
pub fn add_http_layers(router: Router) -> Router {
    router
        .layer(SetSensitiveResponseHeadersLayer::new([
            header::LOCATION,
            header::SET_COOKIE,
        ]))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
        ]))
}
