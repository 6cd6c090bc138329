//! A stand-in for `examples/server` in `benches/http_load.sh`: the
//! registration endpoints alone (`POST /register`, `GET|PUT|DELETE
//! /register/{client_id}`) on axum with the memory store, taking the same
//! `--addr` and `--store memory` arguments as the example server.
//!
//! cargo run --release --example bench_server -- --addr 127.0.0.1:8091 --store memory

use std::net::SocketAddr;

use axum::Router;
use tower_dcr::{MemoryStore, Registration};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = "127.0.0.1:8080".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs a value")?.parse()?,
            "--store" => {
                let store = args.next().ok_or("--store needs a value")?;
                if store != "memory" {
                    return Err("this stand-in has only --store memory".into());
                }
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let dcr = Registration::builder(format!("http://{local}"))
        .open()
        .store(MemoryStore::new())
        .build()?;
    let app = Router::new().nest_service("/register", dcr);
    println!("registration (memory store) on http://{local}/register");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
