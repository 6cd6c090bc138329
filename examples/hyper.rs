//! Dynamic client registration in front of a plain hyper 1 service:
//! `dcr.layer()` answers `/register` and passes every other request through.
//!
//! ```text
//! cargo run --example hyper
//! curl -X POST http://127.0.0.1:3001/register -H 'content-type: application/json' \
//!      -d '{"redirect_uris":["http://127.0.0.1/callback"],"client_name":"Demo"}'
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_dcr::{MemoryStore, Registration};

/// The host's own service: everything that is not registration.
async fn host(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("your existing service\n")))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dcr = Registration::builder("http://127.0.0.1:3001")
        .open()
        .store(MemoryStore::new())
        .build()?;
    let service = ServiceBuilder::new().layer(dcr.layer()).service_fn(host);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("POST http://127.0.0.1:3001/register to register a client; Ctrl-C to stop");
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("connection error: {error}");
            }
        });
    }
}
