//! Dynamic client registration in an existing axum app: build the service,
//! nest it, merge its discovery members.
//!
//! ```text
//! cargo run --example axum
//! curl -X POST http://127.0.0.1:3000/register -H 'content-type: application/json' \
//!      -d '{"redirect_uris":["http://127.0.0.1/callback"],"client_name":"Demo"}'
//! ```

use axum::routing::get;
use axum::{Json, Router};
use tower_dcr::{MemoryStore, Registration};

const ISSUER: &str = "http://127.0.0.1:3000";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dcr = Registration::builder(ISSUER)
        .open()
        .store(MemoryStore::new())
        .build()?;

    let mut metadata = serde_json::Map::new();
    metadata.insert("issuer".into(), ISSUER.into());
    metadata.extend(dcr.discovery_metadata());

    let app = Router::new()
        .route("/", get(|| async { "your existing app" }))
        .route(
            "/.well-known/oauth-authorization-server",
            get(|| async move { Json(metadata) }),
        )
        .nest_service("/register", dcr);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("POST {ISSUER}/register to register a client; Ctrl-C to stop");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
