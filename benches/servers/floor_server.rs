//! The floor for `benches/http_load.sh`: a minimal hyper server that does only
//! what any registration endpoint must do, so the registration server's CPU
//! per request reads as a ratio to it.
//!
//! `POST /register`: parse the JSON body into a `serde_json::Value`, mint two
//! 256-bit tokens from the OS CSPRNG (base64url), answer `201` with the
//! members plus credentials (a body of the registration response's size).
//! `GET /register/{id}` with a Bearer token: answer `200` with a stored client
//! information document of the same size. Nothing is validated or stored.
//!
//! cargo run --release --example floor_server -- --addr 127.0.0.1:8090

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

fn token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("OS CSPRNG");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    headers.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    response
}

async fn handle(
    request: Request<Incoming>,
    addr: Arc<String>,
    stored: Arc<Value>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    if request.method() == Method::POST && path == "/register" {
        let Ok(body) = request.into_body().collect().await else {
            return Ok(json(StatusCode::BAD_REQUEST, Vec::new()));
        };
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body.to_bytes())
        else {
            return Ok(json(StatusCode::BAD_REQUEST, Vec::new()));
        };
        let client_id = "Ew0QkMLhMPWxlpThSIKRAg";
        object.insert("client_id".into(), client_id.into());
        object.insert("client_secret".into(), token().into());
        object.insert("client_id_issued_at".into(), 1_767_225_600u64.into());
        object.insert("client_secret_expires_at".into(), 0u64.into());
        object.insert("registration_access_token".into(), token().into());
        object.insert(
            "registration_client_uri".into(),
            format!("http://{addr}/register/{client_id}").into(),
        );
        object.insert("application_type".into(), "web".into());
        let body = serde_json::to_vec(&Value::Object(object)).unwrap();
        return Ok(json(StatusCode::CREATED, body));
    }
    if request.method() == Method::GET && path.starts_with("/register/") {
        if !request.headers().contains_key(header::AUTHORIZATION) {
            return Ok(json(StatusCode::UNAUTHORIZED, Vec::new()));
        }
        let body = serde_json::to_vec(&*stored).unwrap();
        return Ok(json(StatusCode::OK, body));
    }
    Ok(json(StatusCode::NOT_FOUND, Vec::new()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = "127.0.0.1:8090".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let listener = TcpListener::bind(addr).await?;
    let local = Arc::new(listener.local_addr()?.to_string());
    // A client information document as the registration server returns it.
    let stored = Arc::new(serde_json::json!({
        "client_id": "Ew0QkMLhMPWxlpThSIKRAg",
        "client_id_issued_at": 1_767_225_600u64,
        "client_secret_expires_at": 0,
        "registration_access_token": token(),
        "registration_client_uri": format!("http://{local}/register/Ew0QkMLhMPWxlpThSIKRAg"),
        "redirect_uris": [
            "https://printing.example.com/oauth/callback",
            "https://printing.example.com/oauth/callback-alt"
        ],
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "Example Photo Printing Service",
        "client_name#fr-CA": "Service d'impression de photos exemple",
        "scope": "openid profile email offline_access",
        "contacts": ["ops@printing.example.com", "security@printing.example.com"],
        "application_type": "web"
    }));
    println!("floor server listening on http://{local}");
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut shutdown => return Ok(()),
        };
        let (local, stored) = (Arc::clone(&local), Arc::clone(&stored));
        tokio::spawn(async move {
            let service =
                service_fn(move |request| handle(request, Arc::clone(&local), Arc::clone(&stored)));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
