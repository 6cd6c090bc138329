//! tower-dcr composed with tower-http in a production-style stack: a body
//! limit, request tracing with the `Authorization` header marked sensitive,
//! CORS for browser-based registrars, and a rate limit on registration.
//!
//! ```text
//! RUST_LOG=info cargo run --example tower_stack
//! ```

use std::net::SocketAddr;
use std::num::NonZeroU32;

use axum::Router;
use axum::extract::ConnectInfo;
use http::{Method, header};
use tower::ServiceBuilder;
use tower_dcr::rate_limit::RateLimit;
use tower_dcr::{Limits, MemoryStore, Registration};
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

const ISSUER: &str = "http://127.0.0.1:3003";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    let limits = Limits::default();
    let dcr = Registration::builder(ISSUER)
        .open()
        .store(MemoryStore::new())
        .limits(limits.clone())
        // 10 registrations per address, refilled over a minute.
        .rate_limit(RateLimit::per_minute(
            NonZeroU32::new(10).expect("not zero"),
        ))
        // axum puts the peer address in `ConnectInfo`.
        .peer_address(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0))
        .build()?;

    let middleware = ServiceBuilder::new()
        // Before anything logs a request: tokens are bearer credentials.
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        // Method and path only: query strings can carry codes and tokens.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &http::Request<_>| {
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
        }))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        )
        // The crate checks its own limit too, and answers 413 in JSON either way.
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes));

    let app = Router::new()
        .nest_service("/register", dcr)
        .layer(middleware);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3003").await?;
    println!("POST {ISSUER}/register; Ctrl-C to stop");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
