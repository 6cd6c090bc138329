//! What operators read: Prometheus metrics on a listener of their own
//! (`--metrics-addr`, off by default), and the OpenAPI description of the
//! registration endpoints at `/openapi.yaml`.

use std::net::SocketAddr;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use http::header;
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio::net::TcpListener;

use crate::Error;
use crate::listener::{self, ConnectionLimits};

/// The OpenAPI 3.1 description of the registration endpoints, as shipped
/// with the crate (and checked against real answers by `tests/openapi.rs`).
const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// `GET /openapi.yaml`.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML)
}

/// Installs the Prometheus recorder for the `metrics` facade (tower-dcr's
/// feature `metrics` records through it) and serves `GET /metrics` on `addr`,
/// apart from the server's own listener so it need not be exposed with it,
/// with the same connection limits as that listener ([`crate::listener`]).
/// Returns the address bound.
pub async fn serve_metrics(
    addr: SocketAddr,
    limits: ConnectionLimits,
) -> Result<SocketAddr, Error> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
    let local = listener.local_addr()?;
    let app = Router::new().route(
        "/metrics",
        get(move || async move {
            handle.run_upkeep();
            handle.render()
        }),
    );
    // Stops with the process.
    tokio::spawn(listener::serve(
        listener,
        app,
        limits,
        std::future::pending(),
    ));
    Ok(local)
}
